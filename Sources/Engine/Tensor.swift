/// A dense Float32 tensor: a shape and its scalars in row-major (C) order.
/// Image batches are NHWC, as Keras `channels_last`.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.reduce(1, *) == scalars.count,
                     "Tensor: shape \(shape) needs \(shape.reduce(1, *)) scalars, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// A tensor for a kernel that writes every scalar before anything reads one: a layer's output, which zeroing
    /// first would cost one more pass over memory for nothing.
    public init(uninitialized shape: [Int]) {
        let count = shape.reduce(1, *)
        self.init(shape: shape, scalars: [Float](unsafeUninitializedCapacity: count) { _, initialized in
            initialized = count
        })
    }

    public var count: Int { scalars.count }

    /// The leading (batch) dimension.
    public var batchSize: Int { shape[0] }

    /// Scalars per sample: the product of every dimension after the first.
    public var sampleSize: Int { shape.dropFirst().reduce(1, *) }

    /// The same scalars under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, scalars: scalars)
    }
}

extension Tensor {
    /// Read access to the scalars for kernels.
    @inlinable
    public func withPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// Write access to the scalars for kernels.
    @inlinable
    public mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try scalars.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
    }
}
