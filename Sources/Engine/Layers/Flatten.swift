/// Flattens each sample to one axis: (N, d1, d2, ...) -> (N, d1*d2*...). Row-major, as Keras channels_last.
public struct Flatten: Layer {
    public let inputShape: [Int]
    public let outputShape: [Int]

    public init(inputShape: [Int]) {
        self.inputShape = inputShape
        outputShape = [inputShape.reduce(1, *)]
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        x.reshaped([x.batchSize] + outputShape)
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        dy.reshaped([dy.batchSize] + inputShape)
    }
}
