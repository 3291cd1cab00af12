/// Keras' `Activation` layer: an activation on its own, with no weights.
public struct ActivationLayer: Layer {
    public let activation: Activation
    public let outputShape: [Int]
    private var output = Tensor(zeros: [0])

    public init(_ activation: Activation, inputShape: [Int]) {
        self.activation = activation
        outputShape = inputShape
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        var y = x
        let columns = outputShape.last ?? 1
        y.withMutablePointer { activation.forward($0, rows: x.count / columns, columns: columns) }
        output = y
        return y
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        var dx = dy
        let columns = outputShape.last ?? 1
        output.withPointer { yp in
            dy.withPointer { dyp in
                dx.withMutablePointer { activation.backward(output: yp, outputGradient: dyp, into: $0,
                                                            rows: dy.count / columns, columns: columns) }
            }
        }
        return dx
    }
}
