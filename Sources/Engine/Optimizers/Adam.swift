#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Adam, as Keras: m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
/// w -= α·m / (√v + ε) with α = lr·√(1-β2ᵗ) / (1-β1ᵗ). ε is Keras' "epsilon hat", added to √v without
/// bias correction (PyTorch adds it to the corrected √v̂: the two differ while v is tiny).
public struct Adam: Optimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var slots: [Float] = []
    public var iterations = 0

    public init(learningRate: Float = 0.001, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }

    public var slotNames: [String] { ["m", "v"] }

    public func update(parameters w: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                       slots: UnsafeMutablePointer<Float>, count: Int, range: Range<Int>) {
        let t = Float(iterations)
        let alpha = learningRate * (1 - powf(beta2, t)).squareRoot() / (1 - powf(beta1, t))
        let (i, m, v) = (range.lowerBound, slots + range.lowerBound, slots + count + range.lowerBound)
        forEachChunkOf8(count: range.count, weights: w + i, gradients: g + i, slot: m, slot: v,
                        Formula(alpha: alpha, b1: beta1, b2: beta2, eps: epsilon))
    }

    private struct Formula: ChunkFormula {
        let alpha, b1, b2, eps: Float
        @inline(__always)
        func update(_ w: inout SIMD8<Float>, _ g: SIMD8<Float>, _ m: inout SIMD8<Float>, _ v: inout SIMD8<Float>) {
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            w -= alpha * m / (squareRoot(v) + eps)
        }
    }
}
