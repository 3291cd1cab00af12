/// Flattens each sample to one axis: (N, d1, d2, ...) -> (N, d1*d2*...). Row-major, as Keras channels_last.
public struct Flatten: Layer {
    public let inputShape: [Int]
    public let outputShape: [Int]
    private var flattenedShape: [Int] = []
    private var unflattenedShape: [Int] = []

    public init(inputShape: [Int]) {
        self.inputShape = inputShape
        outputShape = [inputShape.reduce(1, *)]
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        Self.reshaped(x, to: outputShape, reusing: &flattenedShape)
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        Self.reshaped(dy, to: inputShape, reusing: &unflattenedShape)
    }

    /// The same scalars as [batch] + sampleShape, with the shape array of the call before when the batch is the
    /// same: a pass allocates nothing.
    private static func reshaped(_ x: Tensor, to sampleShape: [Int], reusing shape: inout [Int]) -> Tensor {
        if shape.isEmpty { shape = [x.batchSize] + sampleShape }
        shape[0] = x.batchSize
        return Tensor(shape: shape, scalars: x.scalars)
    }
}
