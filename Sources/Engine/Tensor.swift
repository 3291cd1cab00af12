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

    /// A tensor of shape [batch] + sampleShape, every scalar of which `write` sets: no zeroing first.
    public init(batch: Int, sampleShape: [Int], writing write: (UnsafeMutablePointer<Float>) -> Void) {
        let count = batch * sampleShape.reduce(1, *)
        self.init(shape: [batch] + sampleShape, scalars: [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { write(buffer.baseAddress!) }
            initialized = count
        })
    }

    /// No samples: what a layer returns for a gradient nobody asked for. Shared, so returning it allocates nothing.
    public static let empty = Tensor(shape: [0], scalars: [])

    public var count: Int { scalars.count }

    /// Makes this the shape [batch] + sampleShape, keeping the storage when it is large enough and the shape array
    /// when it is the same, so that a buffer reused from pass to pass allocates nothing. The scalars are
    /// unspecified: the caller writes every one.
    public mutating func reshape(batch: Int, sampleShape: [Int]) {
        if shape.count != sampleShape.count + 1 || !shape.dropFirst().elementsEqual(sampleShape) {
            shape = [batch] + sampleShape
        } else if shape[0] != batch {
            // In place: the array is this tensor's alone by now, unless a caller kept an old tensor.
            shape[0] = batch
        }
        resizeScalars(to: batch * sampleShape.reduce(1, *))
    }

    /// Makes this the shape of `other` (sharing its shape array), keeping the storage when it is large enough.
    public mutating func reshape(like other: Tensor) {
        if shape != other.shape { shape = other.shape }
        resizeScalars(to: other.count)
    }

    private mutating func resizeScalars(to count: Int) {
        if count <= scalars.capacity {
            if count < scalars.count { scalars.removeLast(scalars.count - count) }
            if count > scalars.count { scalars.append(contentsOf: repeatElement(0, count: count - scalars.count)) }
        } else {
            scalars = [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
        }
    }

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

/// Tensors a layer writes its outputs or gradients into, kept from pass to pass so that training allocates nothing
/// once every shape has been seen. A tensor handed out may still be read after the layer's next call (the next
/// layer keeps its input for backward until its own next forward pass), so `count` buffers take turns: two for
/// outputs, one for gradients, which nothing keeps. A buffer that someone still holds is not overwritten:
/// copy-on-write gives the writer a new one.
public struct ReusedTensors {
    private var slots: [Tensor]
    private var turn = 0

    public init(count: Int) {
        slots = Array(repeating: .empty, count: count)
    }

    /// A tensor of shape [batch] + sampleShape, every scalar of which `write` sets.
    public mutating func next(batch: Int, sampleShape: [Int], _ write: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        turn = (turn + 1) % slots.count
        var tensor = slots[turn]
        // The slot lets go first, so that the storage is unique unless a caller still holds it.
        slots[turn] = .empty
        tensor.reshape(batch: batch, sampleShape: sampleShape)
        tensor.withMutablePointer(write)
        slots[turn] = tensor
        return tensor
    }
}
