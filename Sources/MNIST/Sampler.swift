import Engine

/// The order of the samples in each epoch: a Fisher-Yates shuffle from a generator seeded by (seed, epoch),
/// so every epoch has a new order, every process computes the same one, and a run can resume at any epoch.
public struct Sampler: Sendable {
    public let count: Int
    public let seed: UInt64
    public let shuffle: Bool

    public init(count: Int, seed: UInt64, shuffle: Bool = true) {
        self.count = count
        self.seed = seed
        self.shuffle = shuffle
    }

    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<count)
        guard shuffle else { return order }
        // One SplitMix64 output of (seed, epoch) seeds the epoch's stream: unrelated streams for consecutive epochs.
        var mixer = SplitMix64(seed: seed ^ UInt64(epoch) &* 0xD1B5_4A32_D192_ED03)
        var rng = SplitMix64(seed: mixer.next())
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            order.swapAt(i, j)
        }
        return order
    }
}
