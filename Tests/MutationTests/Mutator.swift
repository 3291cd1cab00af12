import Engine

/// Seeded mutations of a valid file, the kinds fuzzers find bugs with: bit flips, bytes set to boundary
/// values, integers of every width overwritten with boundary values in both byte orders, truncation, insertion,
/// a chunk duplicated or deleted; and for text, numbers replaced with huge, negative or fractional ones.
/// The same seed gives the same mutations, so a failure names its seed and reproduces.
struct Mutator {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(rng.next() % UInt64(bound)) }

    static let boundaryIntegers: [UInt64] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000,
                                             0xFFFF_FFFF, 1 << 32, 1 << 62, UInt64(Int64.max), UInt64.max, 0x8000_0000_0000_0000]

    /// One to three mutations of `bytes`.
    mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for _ in 0...below(3) { out = mutateOnce(out) }
        return out
    }

    private mutating func mutateOnce(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        guard !out.isEmpty else { return [UInt8(truncatingIfNeeded: rng.next())] }
        switch below(8) {
        case 0:  // flip a few bits
            for _ in 0...below(8) { out[below(out.count)] ^= 1 << UInt8(below(8)) }
        case 1:  // a byte set to a boundary value
            out[below(out.count)] = [0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x22, 0x7B][below(8)]
        case 2:  // an integer of 2, 4 or 8 bytes overwritten with a boundary value, either byte order
            let width = [2, 4, 8][below(3)]
            guard out.count >= width else { return out }
            let at = below(out.count - width + 1)
            let value = Self.boundaryIntegers[below(Self.boundaryIntegers.count)]
            let bigEndian = below(2) == 0
            for k in 0..<width {
                let shift = UInt64(8 * (bigEndian ? width - 1 - k : k))
                out[at + k] = UInt8(truncatingIfNeeded: value >> shift)
            }
        case 3:  // truncated
            out = Array(out.prefix(below(out.count)))
        case 4:  // random bytes inserted
            let inserted = (0...below(16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            out.insert(contentsOf: inserted, at: below(out.count + 1))
        case 5:  // a chunk duplicated
            let start = below(out.count), length = 1 + below(min(64, out.count - start))
            out.insert(contentsOf: out[start..<start + length], at: below(out.count + 1))
        case 6:  // a chunk deleted
            let start = below(out.count), length = 1 + below(min(64, out.count - start))
            out.removeSubrange(start..<start + length)
        default:  // text: a number replaced by an extreme one
            out = replacingANumber(out)
        }
        return out
    }

    private mutating func replacingANumber(_ bytes: [UInt8]) -> [UInt8] {
        let digits = bytes.indices.filter { (0x30...0x39).contains(bytes[$0]) }
        guard !digits.isEmpty else { return bytes }
        var start = digits[below(digits.count)], end = start
        while start > 0, (0x30...0x39).contains(bytes[start - 1]) { start -= 1 }
        while end < bytes.count, (0x30...0x39).contains(bytes[end]) { end += 1 }
        let replacement = ["0", "-1", "-5", "4294967296", "9223372036854775807", "18446744073709551616", "1e308",
                           "0.5", "1e-45", "65536", "100000000"][below(11)]
        var out = bytes
        out.replaceSubrange(start..<end, with: Array(replacement.utf8))
        return out
    }
}
