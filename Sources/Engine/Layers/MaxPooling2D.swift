/// Max pooling over NHWC input; remembers where each maximum came from for backward.
/// x is (N, H, W, C), y is (N, OH, OW, C). Strides default to the pool size, as in Keras.
public struct MaxPooling2D: Layer {
    public let poolSize: (height: Int, width: Int)
    public let strides: (height: Int, width: Int)
    public let padding: Padding
    public let inputShape: [Int]
    public let outputShape: [Int]

    private var argmax: [Int32] = []
    private var batch = 0

    public init(poolSize: (Int, Int) = (2, 2), strides: (Int, Int)? = nil, padding: Padding = .valid,
                inputShape: [Int]) throws {
        guard inputShape.count == 3 else {
            throw ModelDefinitionError("MaxPooling2D: needs (height, width, channels) input, got shape \(inputShape)")
        }
        let strides = strides ?? poolSize
        guard poolSize.0 > 0, poolSize.1 > 0, strides.0 > 0, strides.1 > 0 else {
            throw ModelDefinitionError("MaxPooling2D: pool size and strides must be positive")
        }
        self.poolSize = poolSize
        self.strides = strides
        self.padding = padding
        self.inputShape = inputShape
        let g = Self.geometry(batch: 1, inputShape, poolSize, strides, padding)
        guard g.outputHeight > 0, g.outputWidth > 0 else {
            throw ModelDefinitionError(
                "MaxPooling2D: a \(poolSize.0)x\(poolSize.1) pool does not fit a \(inputShape[0])x\(inputShape[1]) "
                    + "input with '\(padding.rawValue)' padding; use padding 'same' or a smaller pool")
        }
        outputShape = [g.outputHeight, g.outputWidth, inputShape[2]]
    }

    private static func geometry(batch: Int, _ inputShape: [Int], _ pool: (Int, Int), _ strides: (Int, Int),
                                 _ padding: Padding) -> WindowGeometry {
        WindowGeometry(batch: batch, inputHeight: inputShape[0], inputWidth: inputShape[1], channels: inputShape[2],
                       windowHeight: pool.0, windowWidth: pool.1, strideHeight: strides.0, strideWidth: strides.1,
                       padding: padding)
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        let g = Self.geometry(batch: x.batchSize, inputShape, poolSize, strides, padding)
        var y = Tensor(uninitialized: [x.batchSize] + outputShape)
        if argmax.count < y.count { argmax = [Int32](repeating: 0, count: y.count) }
        argmax.withUnsafeMutableBufferPointer { arg in
            x.withPointer { xp in y.withMutablePointer { maxPool(xp, g, into: $0, argmax: arg.baseAddress!) } }
        }
        batch = x.batchSize
        return y
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        let g = Self.geometry(batch: batch, inputShape, poolSize, strides, padding)
        var dx = Tensor(uninitialized: [batch] + inputShape)
        argmax.withUnsafeBufferPointer { arg in
            dy.withPointer { dyp in dx.withMutablePointer { maxPoolBackward(dyp, argmax: arg.baseAddress!, g, into: $0) } }
        }
        return dx
    }
}
