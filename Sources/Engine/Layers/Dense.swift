/// Fully connected layer: y = activation(x · kernel + bias) over the last axis.
/// x is (N, ..., in), kernel is [in, units] (Keras layout), bias [units], y (N, ..., units).
public struct Dense: Layer {
    public let units: Int
    public let activation: Activation
    public let kernelInitializer: Initializer
    public let useBias: Bool
    public let inputFeatures: Int
    public let inputShape: [Int]
    public let outputShape: [Int]
    public var parameters: [ParameterView] = []

    private var input = Tensor.empty
    private var output = Tensor.empty
    private var outputs = ReusedTensors(count: 2)
    private var inputGradients = ReusedTensors(count: 1)
    private var dz: [Float] = []  // kept from step to step

    public init(units: Int, activation: Activation = .linear, kernelInitializer: Initializer = .glorotUniform,
                useBias: Bool = true, inputShape: [Int]) throws {
        guard units > 0 else { throw ModelDefinitionError("Dense: units must be positive, got \(units)") }
        guard let features = inputShape.last, features > 0 else {
            throw ModelDefinitionError("Dense: needs an input with a feature axis, got shape \(inputShape)")
        }
        self.units = units
        self.activation = activation
        self.kernelInitializer = kernelInitializer
        self.useBias = useBias
        inputFeatures = features
        self.inputShape = inputShape
        outputShape = inputShape.dropLast() + [units]
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "kernel", shape: [inputFeatures, units], initializer: kernelInitializer)]
            + (useBias ? [ParameterSpec(name: "bias", shape: [units], initializer: .zeros)] : [])
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        let rows = x.count / inputFeatures
        let kernel = store.pointer(parameters[0])
        let bias = useBias ? UnsafePointer(store.pointer(parameters[1])) : nil
        let (units, inputFeatures, activation) = (units, inputFeatures, activation)
        let y = outputs.next(batch: x.batchSize, sampleShape: outputShape) { yp in
            x.withPointer { xp in
                sgemm(transposeA: false, transposeB: false, m: rows, n: units, k: inputFeatures,
                      a: xp, lda: inputFeatures, b: kernel, ldb: units, c: yp, ldc: units, accumulate: false)
            }
            addBiasAndActivate(yp, bias: bias, rows: rows, columns: units, activation: activation)
        }
        input = x
        output = y
        return y
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        backward(dy, store: store, inputGradient: true)
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore, inputGradient: Bool) -> Tensor {
        let rows = input.count / inputFeatures
        // In the forward pass this was: z = x·W + b, y = act(z); so now: dz = act'(y) ⊙ dy,
        // dW += xᵀ·dz, db += Σ_rows dz, dx = dz·Wᵀ.
        resize(&dz, to: rows * units)
        var dx = Tensor.empty
        let kernel = store.pointer(parameters[0])
        dz.withUnsafeMutableBufferPointer { dzBuffer in
            let dzp = dzBuffer.baseAddress!
            output.withPointer { yp in
                dy.withPointer { activation.backward(output: yp, outputGradient: $0, into: dzp,
                                                     rows: rows, columns: units) }
            }
            input.withPointer { xp in
                sgemm(transposeA: true, transposeB: false, m: inputFeatures, n: units, k: rows, a: xp,
                      lda: inputFeatures, b: dzp, ldb: units, c: store.gradient(parameters[0]), ldc: units,
                      accumulate: true)
            }
            if useBias { addColumnSums(of: dzp, rows: rows, columns: units, into: store.gradient(parameters[1])) }
            guard inputGradient else { return }
            dx = inputGradients.next(batch: input.batchSize, sampleShape: inputShape) { dxp in
                sgemm(transposeA: false, transposeB: true, m: rows, n: inputFeatures, k: units, a: dzp, lda: units,
                      b: kernel, ldb: units, c: dxp, ldc: inputFeatures, accumulate: false)
            }
        }
        return dx
    }
}
