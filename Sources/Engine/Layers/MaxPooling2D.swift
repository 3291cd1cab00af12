/// Max pooling over NHWC input; keeps its input and output, which tell backward where each maximum came from.
/// x is (N, H, W, C), y is (N, OH, OW, C). Strides default to the pool size, as in Keras.
public struct MaxPooling2D: Layer {
    public let poolSize: (height: Int, width: Int)
    public let strides: (height: Int, width: Int)
    public let padding: Padding
    public let inputShape: [Int]
    public let outputShape: [Int]

    /// Set by the model when the layer before is a ReLU convolution: backward then returns the gradient before
    /// that ReLU (`maxPoolBackward(throughReLU:)`), in the same pass, and the convolution leaves its own out.
    public internal(set) var appliesInputReLUGradient = false

    private var input = Tensor.empty
    private var output = Tensor.empty
    private var outputs = ReusedTensors(count: 2)
    private var inputGradients = ReusedTensors(count: 1)

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
        let y = outputs.next(batch: x.batchSize, sampleShape: outputShape) { yp in x.withPointer { maxPool($0, g, into: yp) } }
        input = x
        output = y
        return y
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        let g = Self.geometry(batch: input.batchSize, inputShape, poolSize, strides, padding)
        let (input, output, throughReLU) = (input, output, appliesInputReLUGradient)
        return inputGradients.next(batch: input.batchSize, sampleShape: inputShape) { dxp in
            input.withPointer { xp in
                output.withPointer { yp in
                    dy.withPointer { maxPoolBackward($0, input: xp, output: yp, g, throughReLU: throughReLU, into: dxp) }
                }
            }
        }
    }
}
