/// Keras' `Activation` layer: an activation on its own, with no weights.
public struct ActivationLayer: Layer {
    public let activation: Activation
    public let outputShape: [Int]
    private var output = Tensor.empty
    private var outputs = ReusedTensors(count: 2)
    private var inputGradients = ReusedTensors(count: 1)

    public init(_ activation: Activation, inputShape: [Int]) {
        self.activation = activation
        outputShape = inputShape
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        let (activation, columns) = (activation, outputShape.last ?? 1)
        output = outputs.next(batch: x.batchSize, sampleShape: outputShape) { yp in
            x.withPointer { yp.update(from: $0, count: x.count) }
            activation.forward(yp, rows: x.count / columns, columns: columns)
        }
        return output
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        let (activation, columns, output) = (activation, outputShape.last ?? 1, output)
        return inputGradients.next(batch: dy.batchSize, sampleShape: outputShape) { dxp in
            output.withPointer { yp in
                dy.withPointer { activation.backward(output: yp, outputGradient: $0, into: dxp, rows: dy.count / columns,
                                                     columns: columns) }
            }
        }
    }
}
