#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Weight initializers with Keras semantics. Fan-in and fan-out follow Keras: for a kernel of shape
/// [kh, kw, in, out] (or [in, out]) the receptive field kh*kw multiplies both.
public enum Initializer: String, Codable, Sendable, CaseIterable {
    case glorotUniform = "glorot_uniform"
    case lecunNormal = "lecun_normal"
    case heNormal = "he_normal"
    case zeros
    case ones

    /// Fills `values` for a weight of `shape`, drawing from `rng`.
    public func fill(_ values: UnsafeMutableBufferPointer<Float>, shape: [Int], rng: inout SplitMix64) {
        let (fanIn, fanOut) = Initializer.fans(shape)
        switch self {
        case .zeros: values.update(repeating: 0)
        case .ones: values.update(repeating: 1)
        case .glorotUniform:
            let limit = (6 / Float(fanIn + fanOut)).squareRoot()
            for i in values.indices { values[i] = rng.nextFloat(in: -limit, limit) }
        case .lecunNormal:
            fillTruncatedNormal(values, variance: 1 / Float(fanIn), rng: &rng)
        case .heNormal:
            fillTruncatedNormal(values, variance: 2 / Float(fanIn), rng: &rng)
        }
    }

    /// (fan_in, fan_out) as Keras computes them.
    static func fans(_ shape: [Int]) -> (Int, Int) {
        switch shape.count {
        case 0: return (1, 1)
        case 1: return (shape[0], shape[0])
        case 2: return (shape[0], shape[1])
        default:
            let receptiveField = shape.dropLast(2).reduce(1, *)
            return (shape[shape.count - 2] * receptiveField, shape[shape.count - 1] * receptiveField)
        }
    }

    /// Keras' variance-scaling normal: a normal truncated at two standard deviations, its standard deviation
    /// divided by 0.8796 (the std of a unit normal truncated at ±2) so the result has the requested variance.
    private func fillTruncatedNormal(_ values: UnsafeMutableBufferPointer<Float>, variance: Float,
                                     rng: inout SplitMix64) {
        let stddev = variance.squareRoot() / 0.879_625_661_034_239_78
        for i in values.indices {
            var z: Float
            repeat { z = rng.nextNormal() } while abs(z) > 2
            values[i] = z * stddev
        }
    }
}
