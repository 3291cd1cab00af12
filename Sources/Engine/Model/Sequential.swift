import InputChecks

/// A Keras-style Sequential model: layers applied in order to a batch, parameters in one `ParameterStore`.
///
/// When the last layer ends in softmax, the model keeps that softmax out of the layer and reports it as
/// `outputActivation`: `forward` returns logits, and the loss fuses softmax with cross-entropy, which stays
/// finite for any logits. `predict` applies it and returns probabilities.
///
/// A class: it owns the parameter buffers and the layers' forward caches, shared by every step.
public final class Sequential {
    public let layerSpecs: [LayerSpec]
    public let inputShape: [Int]
    /// Keras names: "conv2d", "conv2d_1", "dense", ...
    public let layerNames: [String]
    /// Per-sample output shape of each layer.
    public let outputShapes: [[Int]]
    public let store: ParameterStore
    public let outputActivation: Activation
    /// Draws dropout masks; seeded from the model seed, so a run is reproducible bit for bit.
    public var rng: SplitMix64
    public private(set) var layers: [any Layer]

    /// Builds the layers in order, inferring each input shape, and initializes every weight from `seed`.
    /// Sizes are checked against `InputLimits` (layers, parameters, one sample's activations in any layer) with
    /// overflow-checked arithmetic before anything is allocated: a definition may come from a hostile file.
    public init(_ specs: [LayerSpec], inputShape: [Int], seed: UInt64 = 0) throws {
        guard !specs.isEmpty else { throw ModelDefinitionError("the model has no layers") }
        guard specs.count <= InputLimits.layers else {
            throw ModelDefinitionError("the model has \(specs.count) layers, more than \(InputLimits.layers)")
        }
        guard (1...3).contains(inputShape.count), inputShape.allSatisfy({ $0 >= 1 }),
              checkedProduct(inputShape, limit: InputLimits.activationsPerSample) != nil else {
            throw ModelDefinitionError("input_shape \(inputShape) must have 1 to 3 positive sizes, at most "
                                           + "\(InputLimits.activationsPerSample) values in all")
        }
        var computeSpecs = specs
        let last = specs[specs.count - 1]
        if last.activation == .softmax, last.type == .dense || last.type == .conv2D || last.type == .activation {
            outputActivation = .softmax
            computeSpecs[specs.count - 1].activation = .linear
        } else {
            outputActivation = .linear
        }

        var names: [String] = []
        var counters: [LayerSpec.Kind: Int] = [:]
        var layers: [any Layer] = []
        var shapes: [[Int]] = []
        var shape = inputShape
        var parameters = 0
        for (index, spec) in computeSpecs.enumerated() {
            let seen = counters[spec.type, default: 0]
            counters[spec.type] = seen + 1
            let name = seen == 0 ? spec.type.kerasName : "\(spec.type.kerasName)_\(seen)"
            do {
                let layer = try spec.makeLayer(inputShape: shape)
                guard checkedProduct(layer.outputShape, limit: InputLimits.activationsPerSample) != nil else {
                    throw ModelDefinitionError("its output \(layer.outputShape) holds more than "
                                                   + "\(InputLimits.activationsPerSample) values per sample")
                }
                parameters += try layer.parameterSpecs.reduce(0) { total, spec in
                    guard let count = checkedProduct(spec.shape, limit: InputLimits.modelParameters),
                          total + count <= InputLimits.modelParameters else {
                        throw ModelDefinitionError("its \(spec.name) of shape \(spec.shape) takes the model over "
                                                       + "\(InputLimits.modelParameters) parameters")
                    }
                    return total + count
                }
                guard parameters <= InputLimits.modelParameters else {
                    throw ModelDefinitionError("it takes the model over \(InputLimits.modelParameters) parameters")
                }
                shape = layer.outputShape
                layers.append(layer)
            } catch let error as ModelDefinitionError {
                throw ModelDefinitionError("layers[\(index)] (\(name)): \(error.description)")
            }
            names.append(name)
            shapes.append(shape)
        }

        var namedSpecs: [(fullName: String, spec: ParameterSpec)] = []
        for (name, layer) in zip(names, layers) {
            namedSpecs += layer.parameterSpecs.map { ("\(name)/\($0.name)", $0) }
        }
        store = ParameterStore(namedSpecs)
        var offset = 0
        for i in layers.indices {
            let count = layers[i].parameterSpecs.count
            layers[i].parameters = Array(store.views[offset..<offset + count])
            offset += count
        }

        var initRNG = SplitMix64(seed: seed)
        for (view, (_, spec)) in zip(store.views, namedSpecs) {
            spec.initializer.fill(UnsafeMutableBufferPointer(start: store.pointer(view), count: view.count),
                                  shape: view.shape, rng: &initRNG)
        }
        rng = initRNG.split()
        layerSpecs = specs
        self.inputShape = inputShape
        layerNames = names
        outputShapes = shapes
        self.layers = Self.fusingReLUGradientIntoPooling(layers)
    }

    /// Another thread's copy of the model: the same layers, whose buffers become its own as it works, over a
    /// store with the same values and gradients of its own (`ParameterStore(replicating:)`), drawing dropout
    /// masks from `rng`.
    public func replica(rng: SplitMix64) -> Sequential {
        Sequential(layerSpecs: layerSpecs, inputShape: inputShape, layerNames: layerNames, outputShapes: outputShapes,
                   store: ParameterStore(replicating: store), outputActivation: outputActivation, rng: rng,
                   layers: layers)
    }

    private init(layerSpecs: [LayerSpec], inputShape: [Int], layerNames: [String], outputShapes: [[Int]],
                 store: ParameterStore, outputActivation: Activation, rng: SplitMix64, layers: [any Layer]) {
        (self.layerSpecs, self.inputShape, self.layerNames, self.outputShapes) = (layerSpecs, inputShape, layerNames, outputShapes)
        (self.store, self.outputActivation, self.rng, self.layers) = (store, outputActivation, rng, layers)
    }

    /// A ReLU convolution followed by a max pool: the pool's backward pass applies ReLU's gradient as it routes
    /// the gradient to the maxima, and the convolution skips its own pass over the output for it. The gradient
    /// is the same, bit for bit; one pass over the convolution's output is saved.
    private static func fusingReLUGradientIntoPooling(_ layers: [any Layer]) -> [any Layer] {
        var layers = layers
        for i in layers.indices.dropLast() {
            guard var convolution = layers[i] as? Conv2D, convolution.activation == .relu,
                  var pool = layers[i + 1] as? MaxPooling2D else { continue }
            convolution.nextLayerAppliesActivationGradient = true
            pool.appliesInputReLUGradient = true
            layers[i] = convolution
            layers[i + 1] = pool
        }
        return layers
    }

    /// Runs every layer on a batch (N, inputShape...). Returns logits when `outputActivation` is softmax.
    public func forward(_ input: Tensor, training: Bool) -> Tensor {
        precondition(input.shape.dropFirst().elementsEqual(inputShape),
                     "Sequential: input samples have shape \(Array(input.shape.dropFirst())), model expects \(inputShape)")
        var x = input
        for i in layers.indices { x = layers[i].forward(x, store: store, training: training, rng: &rng) }
        return x
    }

    /// Brings up to date what the layers derive from the weights and share with the replicas (Conv2D's kernel
    /// under Winograd), the work split among `workers`: call it before replicas run passes side by side.
    public func prepareSharedState(workers: WorkerThreads) {
        for i in layers.indices { layers[i].prepareSharedState(store: store, workers: workers) }
    }

    /// Backpropagates the gradient of the loss with respect to `forward`'s output through every layer,
    /// adding into `store.gradients`. Returns the gradient with respect to the input; with `inputGradient`
    /// false (training) it stops at the first layer with weights, skips that layer's input gradient and
    /// returns an empty tensor. A step of several passes sets `completesGradients` only on its last: layers may
    /// keep a share of their gradients pending until then (`Layer.completeGradients`).
    @discardableResult
    public func backward(_ outputGradient: Tensor, inputGradient: Bool = true, completesGradients: Bool = true) -> Tensor {
        let lowest = inputGradient ? 0 : firstLayerWithWeights
        var gradient = outputGradient
        for i in layers.indices.reversed() where i >= lowest {
            gradient = layers[i].backward(gradient, store: store, inputGradient: inputGradient || i > lowest)
        }
        if completesGradients {
            for i in layers.indices where i >= lowest { layers[i].completeGradients(store: store) }
        }
        return inputGradient ? gradient : .empty
    }

    /// One training step's forward and backward as `forward` and `backward(_:inputGradient: false)` run them,
    /// timing each layer: seconds per layer in each direction (zero backward for the layers training skips).
    /// `lossGradient` turns the output into the gradient of the loss. For `mnist-train bench`.
    public func timedTrainingStep(_ input: Tensor, lossGradient: (Tensor) -> Tensor)
        -> (forward: [Double], backward: [Double]) {
        let clock = ContinuousClock()
        var forwardTimes = [Double](repeating: 0, count: layers.count), backwardTimes = forwardTimes
        var x = input
        for i in layers.indices {
            forwardTimes[i] = clock.measure { x = layers[i].forward(x, store: store, training: true, rng: &rng) }.inSeconds
        }
        var gradient = lossGradient(x)
        let lowest = firstLayerWithWeights
        for i in layers.indices.reversed() where i >= lowest {
            backwardTimes[i] = clock.measure {
                gradient = layers[i].backward(gradient, store: store, inputGradient: i > lowest)
                layers[i].completeGradients(store: store)
            }.inSeconds
        }
        return (forwardTimes, backwardTimes)
    }

    /// The most samples to put through forward and backward at once when a rank's batch is larger, so that the
    /// largest layer output of one pass (convnet's first convolution: 86 KiB a sample) stays within 512 KiB of
    /// L2 cache through the passes that read it again (activation, pooling and their gradients). Gradients add
    /// up over the passes, so a step is the same sum in another order. Dropout layers draw their masks pass by
    /// pass from the model's one generator: with two or more of them, a seed gives other (equally random) masks
    /// than whole batches would. nil when the whole batch must go at once: BatchNormalization normalizes over
    /// the batch. Measured on convnet and cnn-small, in the benchmark notes.
    public private(set) lazy var samplesPerPass: Int? = {
        guard !layers.contains(where: { $0 is BatchNormalization }) else { return nil }
        let largest = ([inputShape] + outputShapes).map { $0.reduce(1, *) }.max()!
        return max(1, (512 << 10) / (largest * MemoryLayout<Float>.size))
    }()

    /// Where training's backward pass stops: layers before it have no weights, so no gradient is needed there.
    public var firstLayerWithWeights: Int { layers.firstIndex { !$0.parameters.isEmpty } ?? 0 }

    /// The GEMM a layer with a kernel (Conv2D over its im2col columns, Dense) runs for one sample: `positions`
    /// rows (output pixels, or 1), each of `depth` inputs (the kernel's patch, or the input features), times
    /// `outputs` columns. nil for layers without a kernel.
    public func gemmShape(ofLayer index: Int) -> (positions: Int, depth: Int, outputs: Int)? {
        guard let kernel = store.view(named: "\(layerNames[index])/kernel") else { return nil }
        let outputs = outputShapes[index].last!
        return (outputShapes[index].dropLast().reduce(1, *), kernel.count / outputs, outputs)
    }

    /// Class probabilities (or raw outputs when the model does not end in softmax), in inference mode.
    public func predict(_ input: Tensor) -> Tensor {
        var y = forward(input, training: false)
        let columns = y.sampleSize
        y.withMutablePointer { outputActivation.forward($0, rows: input.batchSize, columns: columns) }
        return y
    }

    /// Outputs per sample: a classifier's class count.
    public var classCount: Int { outputShapes.last!.reduce(1, *) }

    public var parameterCount: Int { store.values.count + store.state.count }
    public var trainableParameterCount: Int { store.values.count }
}

extension Duration {
    /// The duration as a number of seconds, for timings.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
