/// Stochastic gradient descent, as Keras: without momentum w -= lr·g; with momentum
/// v = momentum·v - lr·g, then w += v (or, Nesterov, w += momentum·v - lr·g).
public struct SGD: Optimizer {
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool
    public var slots: [Float] = []
    public var iterations = 0

    public init(learningRate: Float = 0.01, momentum: Float = 0, nesterov: Bool = false) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
    }

    public var slotNames: [String] { momentum > 0 ? ["momentum"] : [] }

    public func update(parameters w: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
                       slots: UnsafeMutablePointer<Float>, count: Int, range: Range<Int>) {
        let i = range.lowerBound
        // Without momentum both slots are the weights again, as forEachChunkOf8 allows.
        forEachChunkOf8(count: range.count, weights: w + i, gradients: g + i, slot: momentum > 0 ? slots + i : w + i, slot: w + i,
                        Formula(lr: learningRate, mu: momentum, nesterov: nesterov))
    }

    private struct Formula: ChunkFormula {
        let lr, mu: Float
        let nesterov: Bool
        @inline(__always)
        func update(_ w: inout SIMD8<Float>, _ g: SIMD8<Float>, _ v: inout SIMD8<Float>, _: inout SIMD8<Float>) {
            guard mu > 0 else { return w = w.addingProduct(-lr, g) }
            v = mu * v - lr * g
            w += nesterov ? mu * v - lr * g : v
        }
    }
}
