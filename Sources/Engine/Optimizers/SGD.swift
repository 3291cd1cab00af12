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
        let lr = learningRate, mu = momentum, nesterov = nesterov, i = range.lowerBound
        guard mu > 0 else {
            forEachChunkOf8(count: range.count, weights: w + i, gradients: g + i, slot: w + i, slot: w + i) { w, g, _, _ in
                w = w.addingProduct(-lr, g)
            }
            return
        }
        forEachChunkOf8(count: range.count, weights: w + i, gradients: g + i, slot: slots + i, slot: w + i) { w, g, v, _ in
            v = mu * v - lr * g
            w += nesterov ? mu * v - lr * g : v
        }
    }
}
