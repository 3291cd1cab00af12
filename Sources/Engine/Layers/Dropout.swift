/// Inverted dropout: while training, each value is kept with probability 1 - rate and scaled by 1 / (1 - rate),
/// so inference is the identity. The mask comes from the model's seeded generator: same seed, same masks.
public struct Dropout: Layer {
    public let rate: Float
    public let outputShape: [Int]

    /// The scaled mask of the last training forward pass: 0 or 1 / (1 - rate).
    private var mask: [Float] = []

    public init(rate: Float, inputShape: [Int]) throws {
        guard rate >= 0, rate < 1 else { throw ModelDefinitionError("Dropout: rate must be in [0, 1), got \(rate)") }
        self.rate = rate
        outputShape = inputShape
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        guard training, rate > 0 else {
            mask = []
            return x
        }
        let scale = 1 / (1 - rate)
        mask = (0..<x.count).map { _ in rng.nextUnitFloat() >= rate ? scale : 0 }
        var y = x
        for i in y.scalars.indices { y.scalars[i] *= mask[i] }
        return y
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        // In the forward pass this was: y = x ⊙ mask; so now: dx = dy ⊙ mask (identity outside training).
        guard !mask.isEmpty else { return dy }
        var dx = dy
        for i in dx.scalars.indices { dx.scalars[i] *= mask[i] }
        return dx
    }
}
