import InputChecks
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// 2-D convolution over NHWC input: y = activation(conv(x, kernel) + bias). Stride-1 3x3 and 5x5 kernels over
/// channels and filters in whole panels of 16 run Winograd F(4x4, 3x3) and F(2x2, 5x5), all three products in its
/// transformed space (`winogradApplies`), with 4x and 2.8x fewer multiplications. Other convolutions run as GEMM:
/// the forward pass and the
/// weight gradient read the windows in place (`convolve`, `convolutionKernelGradient`). The input gradient is a
/// convolution of the output gradient under 'same' padding at stride 1; otherwise it multiplies into im2col
/// columns and adds them back with col2im, a slice of samples at a time.
/// x is (N, H, W, C), kernel is [kh, kw, C, filters] (Keras layout), bias [filters], y (N, OH, OW, filters).
public struct Conv2D: Layer {
    public let filters: Int
    public let kernelSize: (height: Int, width: Int)
    public let strides: (height: Int, width: Int)
    public let padding: Padding
    public let activation: Activation
    public let kernelInitializer: Initializer
    public let useBias: Bool
    public let inputShape: [Int]
    public let outputShape: [Int]
    public var parameters: [ParameterView] = []
    /// Set by the model when a max pool that applies ReLU's gradient follows (`MaxPooling2D`): backward then takes
    /// its output gradient as the gradient before the activation.
    public internal(set) var nextLayerAppliesActivationGradient = false

    // Buffers kept from step to step, reallocated only when a pass needs more room than any before.
    private var dz: [Float] = []
    private var dColumns: [Float] = []
    private var turned: [Float] = []
    private var input = Tensor.empty
    private var output = Tensor.empty
    private var outputs = ReusedTensors(count: 2)
    private var inputGradients = ReusedTensors(count: 1)
    private var geometry: WindowGeometry?
    // Winograd: the kernel in the transformed space, shared with the replicas; and the kernel gradient summed in
    // the transformed space over the passes until `completeGradients`.
    private let transformed = TransformedKernel()
    private var transformedKernelGradient: [Float] = []
    private var kernelGradientPending = false

    public init(filters: Int, kernelSize: (Int, Int), strides: (Int, Int) = (1, 1), padding: Padding = .valid,
                activation: Activation = .linear, kernelInitializer: Initializer = .glorotUniform,
                useBias: Bool = true, inputShape: [Int]) throws {
        guard inputShape.count == 3 else {
            throw ModelDefinitionError("Conv2D: needs (height, width, channels) input, got shape \(inputShape)")
        }
        guard filters > 0, kernelSize.0 > 0, kernelSize.1 > 0, strides.0 > 0, strides.1 > 0 else {
            throw ModelDefinitionError("Conv2D: filters, kernel size and strides must be positive")
        }
        self.filters = filters
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.activation = activation
        self.kernelInitializer = kernelInitializer
        self.useBias = useBias
        self.inputShape = inputShape
        let g = WindowGeometry(batch: 1, inputHeight: inputShape[0], inputWidth: inputShape[1],
                               channels: inputShape[2], windowHeight: kernelSize.0, windowWidth: kernelSize.1,
                               strideHeight: strides.0, strideWidth: strides.1, padding: padding)
        guard g.outputHeight > 0, g.outputWidth > 0 else {
            throw ModelDefinitionError(
                "Conv2D: a \(kernelSize.0)x\(kernelSize.1) kernel does not fit a \(inputShape[0])x\(inputShape[1]) "
                    + "input with '\(padding.rawValue)' padding; use padding 'same' or a smaller kernel")
        }
        guard checkedProduct([g.outputHeight, g.outputWidth, kernelSize.0, kernelSize.1, inputShape[2]],
                             limit: InputLimits.convolutionColumnsPerSample) != nil else {
            throw ModelDefinitionError("Conv2D: a \(kernelSize.0)x\(kernelSize.1) kernel over \(inputShape) needs more than "
                                           + "\(InputLimits.convolutionColumnsPerSample) im2col values per sample; use a smaller kernel")
        }
        outputShape = [g.outputHeight, g.outputWidth, filters]
        runsWinograd = winogradApplies(g, filters: filters)
    }

    /// Whether this convolution runs Winograd (`winogradApplies`) rather than GEMM.
    public let runsWinograd: Bool

    /// Multiply-adds of one sample's forward pass as the layer runs it (each gradient does as many): a direct
    /// convolution's, output pixels x kernel values, or under Winograd its GEMMs', tiles x tile points x channels
    /// x filters.
    public var multiplyAddsPerSample: Int {
        let g = windows(batch: 1)
        guard runsWinograd else { return g.outputPixels * g.patchSize * filters }
        return winogradTileCount(g) * winogradKernelCount(g, filters: filters)
    }

    /// Floats the layer keeps for Winograd besides its pass buffers: the kernel last transformed, its transformed
    /// values (U and Uᵀ) and the transformed kernel gradient.
    public var winogradFloats: Int {
        guard runsWinograd else { return 0 }
        let g = windows(batch: 1)
        return g.patchSize * filters + 3 * winogradKernelCount(g, filters: filters)
    }

    /// Where this layer's windows fall on a batch of `batch` samples.
    private func windows(batch: Int) -> WindowGeometry {
        WindowGeometry(batch: batch, inputHeight: inputShape[0], inputWidth: inputShape[1], channels: inputShape[2],
                       windowHeight: kernelSize.height, windowWidth: kernelSize.width, strideHeight: strides.height,
                       strideWidth: strides.width, padding: padding)
    }

    public var parameterSpecs: [ParameterSpec] {
        [ParameterSpec(name: "kernel", shape: [kernelSize.height, kernelSize.width, inputShape[2], filters],
                       initializer: kernelInitializer)]
            + (useBias ? [ParameterSpec(name: "bias", shape: [filters], initializer: .zeros)] : [])
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        let g = windows(batch: x.batchSize)
        let kernel = store.pointer(parameters[0])
        let bias = useBias ? UnsafePointer(store.pointer(parameters[1])) : nil
        let (filters, activation) = (filters, activation)
        let winograd = runsWinograd
        if winograd { transformed.update(from: kernel, count: parameters[0].count, g, filters: filters) }
        let y = outputs.next(batch: x.batchSize, sampleShape: outputShape) { yp in
            x.withPointer { xp in
                if winograd {
                    transformed.values.withUnsafeBufferPointer {
                        convolveWinograd(xp, g, transformedKernel: $0.baseAddress!, filters: filters, bias: bias,
                                         activation: activation, into: yp)
                    }
                } else {
                    convolve(xp, g, kernel: kernel, filters: filters, bias: bias, activation: activation, into: yp)
                }
            }
        }
        geometry = g
        input = x
        output = y
        return y
    }

    public mutating func prepareSharedState(store: ParameterStore, workers: WorkerThreads) {
        guard runsWinograd else { return }
        transformed.update(from: store.pointer(parameters[0]), count: parameters[0].count, windows(batch: 1),
                           filters: filters, workers: workers)
    }

    public mutating func completeGradients(store: ParameterStore) {
        guard kernelGradientPending, let g = geometry else { return }
        let filters = filters
        transformedKernelGradient.withUnsafeBufferPointer {
            addWinogradKernelGradient($0.baseAddress!, g, filters: filters, into: store.gradient(parameters[0]))
        }
        kernelGradientPending = false
    }

    /// Samples whose im2col column gradients take about 2 MiB, so that a slice's are written, multiplied and read
    /// back from cache rather than streamed through memory: the whole batch's reach 10 MB (cnn-small's second
    /// layer at 50 samples a rank). Of slices of 1, 2 and 4 MiB and the whole batch, 2 MiB measured fastest
    /// (`mpirun -np 2 mnist-train bench`; figures in deploy/benchmarks/README.md). Smaller slices repack B more
    /// often.
    public static func samplesPerSlice(columnsPerSample: Int, batch: Int) -> Int {
        max(1, min(batch, (2 << 20) / (columnsPerSample * MemoryLayout<Float>.size)))
    }

    private func samplesPerSlice(_ g: WindowGeometry) -> Int {
        Self.samplesPerSlice(columnsPerSample: g.withBatch(1).outputPixels * g.patchSize, batch: g.batch)
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        backward(dy, store: store, inputGradient: true)
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore, inputGradient: Bool) -> Tensor {
        guard let g = geometry else { preconditionFailure("Conv2D.backward before forward") }
        // In the forward pass this was: z = col·W + b, y = act(z); so now: dz = act'(y) ⊙ dy,
        // dW += colᵀ·dz, db += Σ_rows dz, dcol = dz·Wᵀ, and dx = col2im(dcol), slice by slice of samples. Under
        // 'same' padding at stride 1, dx is rather the convolution of dz by the turned kernel: as many
        // multiplications as dz·Wᵀ, without the column matrix and col2im.
        let gradientByConvolution = strides == (1, 1) && g.outputHeight * g.outputWidth >= g.inputHeight * g.inputWidth
        let slice = samplesPerSlice(g)
        let pixelsPerSample = g.withBatch(1).outputPixels
        let columnsNeeded = inputGradient && !runsWinograd && !gradientByConvolution
        resize(&dColumns, to: columnsNeeded ? g.withBatch(slice).outputPixels * g.patchSize : 0)
        var dx = Tensor.empty
        let kernel = store.pointer(parameters[0])
        let kernelGradient = store.gradient(parameters[0])
        if !nextLayerAppliesActivationGradient {
            resize(&dz, to: g.outputPixels * filters)
            dz.withUnsafeMutableBufferPointer { dzBuffer in
                output.withPointer { yp in
                    dy.withPointer { activation.backward(output: yp, outputGradient: $0, into: dzBuffer.baseAddress!,
                                                         rows: g.outputPixels, columns: filters) }
                }
            }
        }
        let preActivation = nextLayerAppliesActivationGradient ? dy.scalars : dz
        preActivation.withUnsafeBufferPointer { dzBuffer in
            let dzp = dzBuffer.baseAddress!
            if useBias {
                addColumnSums(of: dzp, rows: g.outputPixels, columns: filters, into: store.gradient(parameters[1]))
            }
            if runsWinograd {
                let count = winogradKernelCount(g, filters: filters)
                resize(&transformedKernelGradient, to: count)
                if !kernelGradientPending {
                    transformedKernelGradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
                    kernelGradientPending = true
                }
                input.withPointer { xp in
                    transformed.values.withUnsafeBufferPointer { u in
                        transformedKernelGradient.withUnsafeMutableBufferPointer { du in
                            func gradients(into dxp: UnsafeMutablePointer<Float>?) {
                                convolutionGradientsWinograd(
                                    xp, g, outputGradient: dzp, transformedKernel: u.baseAddress!, filters: filters,
                                    transformedKernelGradient: du.baseAddress!, inputGradient: dxp)
                            }
                            if inputGradient {
                                dx = inputGradients.next(batch: g.batch, sampleShape: inputShape, gradients)
                            } else {
                                gradients(into: nil)
                            }
                        }
                    }
                }
                return
            }
            input.withPointer { xp in
                convolutionKernelGradient(xp, g, outputGradient: dzp, filters: filters, into: kernelGradient)
            }
            guard inputGradient else { return }
            if gradientByConvolution {
                resize(&turned, to: g.patchSize * filters)
                turned.withUnsafeMutableBufferPointer { turnedKernel(kernel, g, filters: filters, into: $0.baseAddress!) }
                dx = inputGradients.next(batch: g.batch, sampleShape: inputShape) {
                    convolve(dzp, g.inputGradientWindows(filters: filters), kernel: turned, filters: inputShape[2], into: $0)
                }
                return
            }
            dColumns.withUnsafeMutableBufferPointer { dcol in
                dx = inputGradients.next(batch: g.batch, sampleShape: inputShape) { dxp in
                    // col2im adds into dx.
                    dxp.update(repeating: 0, count: g.batch * g.inputSize)
                    for first in stride(from: 0, to: g.batch, by: slice) {
                        let part = g.withBatch(min(slice, g.batch - first))
                        sgemm(transposeA: false, transposeB: true, m: part.outputPixels, n: g.patchSize, k: filters,
                              a: dzp + first * pixelsPerSample * filters, lda: filters, b: kernel, ldb: filters,
                              c: dcol.baseAddress!, ldc: g.patchSize, accumulate: false)
                        col2im(dcol.baseAddress!, part, into: dxp + first * g.inputSize)
                    }
                }
            }
        }
        return dx
    }
}

/// A convolution's kernel in Winograd's space (U, then Uᵀ) and the kernel bits it came from, kept while they are
/// unchanged (a step's passes). One for a model and its replicas, which share the weights: a replica copies the
/// layer and with it this reference. Replicas running side by side find it up to date (`prepareSharedState`) and
/// only read it.
private final class TransformedKernel {
    private var source: [Float] = []
    private(set) var values: [Float] = []

    /// Transforms `kernel` unless its bits are those last transformed, the input channels split among `workers`.
    func update(from kernel: UnsafePointer<Float>, count: Int, _ g: WindowGeometry, filters: Int,
                workers: WorkerThreads? = nil) {
        let unchanged = source.count == count
            && source.withUnsafeBytes { memcmp($0.baseAddress!, kernel, count * MemoryLayout<Float>.size) == 0 }
        guard !unchanged else { return }
        // Copied into the buffer it already has: the kernel changes every step.
        resize(&source, to: count)
        source.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: kernel, count: count) }
        resize(&values, to: 2 * winogradKernelCount(g, filters: filters))
        values.withUnsafeMutableBufferPointer { buffer in
            let u = buffer.baseAddress!
            guard let workers, workers.count > 1 else {
                return transformKernelWinograd(kernel, g, filters: filters, into: u)
            }
            workers.run { worker in
                transformKernelWinograd(kernel, g, filters: filters,
                                        channels: workers.share(of: g.channels, worker: worker, granule: 8), into: u)
            }
        }
    }
}
