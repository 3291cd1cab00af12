#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seedable generator whose whole state is one UInt64,
/// so the same seed gives bit-identical weights and dropout masks, and the state can be saved and restored.
public struct SplitMix64: RandomNumberGenerator, Sendable, Equatable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits: every value is exactly representable as Float.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * 0x1p-24
    }

    /// Uniform in [low, high).
    public mutating func nextFloat(in low: Float, _ high: Float) -> Float {
        low + (high - low) * nextUnitFloat()
    }

    /// Standard normal by Box-Muller, computed in Double so the tails are right.
    public mutating func nextNormal() -> Float {
        let u1 = Double(next() >> 11 | 1) * 0x1p-53  // (0, 1): never log(0)
        let u2 = Double(next() >> 11) * 0x1p-53
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// A seed for an independent stream, e.g. one per layer, drawn from this one.
    public mutating func split() -> SplitMix64 { SplitMix64(seed: next()) }
}
