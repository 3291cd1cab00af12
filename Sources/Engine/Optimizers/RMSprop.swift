/// RMSprop, as Keras 3: v = ρ·v + (1-ρ)·g²; w -= lr·g / √(v + ε); with momentum,
/// mom = momentum·mom + lr·g / √(v + ε) and w -= mom.
public struct RMSprop: Optimizer {
    public var learningRate: Float
    public var rho: Float
    public var momentum: Float
    public var epsilon: Float
    public var slots: [Float] = []
    public var iterations = 0

    public init(learningRate: Float = 0.001, rho: Float = 0.9, momentum: Float = 0, epsilon: Float = 1e-7) {
        self.learningRate = learningRate
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
    }

    public var slotNames: [String] { momentum > 0 ? ["velocity", "momentum"] : ["velocity"] }

    public func update(parameters w: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                       slots: UnsafeMutablePointer<Float>, count: Int, range: Range<Int>) {
        let (i, v, mom) = (range.lowerBound, slots + range.lowerBound, slots + count + range.lowerBound)
        let formula = Formula(lr: learningRate, rho: rho, mu: momentum, eps: epsilon)
        // Without momentum the second slot is the weights again, as forEachChunkOf8 allows.
        forEachChunkOf8(count: range.count, weights: w + i, gradients: g + i, slot: v, slot: momentum > 0 ? mom : w + i,
                        formula)
    }

    private struct Formula: ChunkFormula {
        let lr, rho, mu, eps: Float
        @inline(__always)
        func update(_ w: inout SIMD8<Float>, _ g: SIMD8<Float>, _ v: inout SIMD8<Float>, _ mom: inout SIMD8<Float>) {
            v = rho * v + (1 - rho) * g * g
            if mu > 0 {
                mom = mu * mom + lr * g / squareRoot(v + eps)
                w -= mom
            } else {
                w -= lr * g / squareRoot(v + eps)
            }
        }
    }
}
