/// Flattens each sample to one axis: (N, d1, d2, ...) -> (N, d1*d2*...). Row-major, as Keras channels_last.
public struct Flatten: Layer {
    public let inputShape: [Int]
    public let outputShape: [Int]
    private var flattenedShapes: [Int: [Int]] = [:]
    private var unflattenedShapes: [Int: [Int]] = [:]

    public init(inputShape: [Int]) {
        self.inputShape = inputShape
        outputShape = [inputShape.reduce(1, *)]
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        Tensor(shape: Self.shape(batch: x.batchSize, outputShape, in: &flattenedShapes), scalars: x.scalars)
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        Tensor(shape: Self.shape(batch: dy.batchSize, inputShape, in: &unflattenedShapes), scalars: dy.scalars)
    }

    /// [batch] + sampleShape, made once for each batch size (a step's passes have one or two): a pass allocates
    /// nothing.
    private static func shape(batch: Int, _ sampleShape: [Int], in shapes: inout [Int: [Int]]) -> [Int] {
        if let shape = shapes[batch] { return shape }
        let shape = [batch] + sampleShape
        shapes[batch] = shape
        return shape
    }
}
