import InputChecks

/// A layer as the user defines it, in Keras terms: the type plus the arguments that type takes.
/// Encodes to Keras-like JSON, e.g. {"type": "Conv2D", "filters": 32, "kernel_size": [3, 3], "activation": "relu"}.
public struct LayerSpec: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case conv2D = "Conv2D"
        case maxPooling2D = "MaxPooling2D"
        case dense = "Dense"
        case flatten = "Flatten"
        case dropout = "Dropout"
        case batchNormalization = "BatchNormalization"
        case activation = "Activation"

        /// Keras' automatic layer name stem: "conv2d", "conv2d_1", ...
        public var kerasName: String {
            switch self {
            case .conv2D: "conv2d"
            case .maxPooling2D: "max_pooling2d"
            case .dense: "dense"
            case .flatten: "flatten"
            case .dropout: "dropout"
            case .batchNormalization: "batch_normalization"
            case .activation: "activation"
            }
        }
    }

    public var type: Kind
    public var filters: Int? = nil
    public var units: Int? = nil
    public var kernelSize: [Int]? = nil
    public var poolSize: [Int]? = nil
    public var strides: [Int]? = nil
    public var padding: Padding? = nil
    public var activation: Activation? = nil
    public var kernelInitializer: Initializer? = nil
    public var useBias: Bool? = nil
    public var rate: Float? = nil
    public var momentum: Float? = nil
    public var epsilon: Float? = nil

    /// Any combination; `makeLayer` checks that the type's arguments are there and in range.
    public init(type: Kind, filters: Int? = nil, units: Int? = nil, kernelSize: [Int]? = nil, poolSize: [Int]? = nil,
                strides: [Int]? = nil, padding: Padding? = nil, activation: Activation? = nil,
                kernelInitializer: Initializer? = nil, useBias: Bool? = nil, rate: Float? = nil, momentum: Float? = nil,
                epsilon: Float? = nil) {
        self.type = type
        (self.filters, self.units, self.kernelSize, self.poolSize, self.strides) = (filters, units, kernelSize, poolSize, strides)
        (self.padding, self.activation, self.kernelInitializer, self.useBias) = (padding, activation, kernelInitializer, useBias)
        (self.rate, self.momentum, self.epsilon) = (rate, momentum, epsilon)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type, filters, units, padding, activation, rate, momentum, epsilon, strides
        case kernelSize = "kernel_size", poolSize = "pool_size"
        case kernelInitializer = "kernel_initializer", useBias = "use_bias"
    }

    // MARK: Keras-style constructors

    public static func conv2D(_ filters: Int, kernelSize: Int, strides: Int = 1, padding: Padding = .valid,
                              activation: Activation = .linear,
                              kernelInitializer: Initializer = .glorotUniform) -> LayerSpec {
        LayerSpec(type: .conv2D, filters: filters, kernelSize: [kernelSize, kernelSize], strides: [strides, strides],
                  padding: padding, activation: activation, kernelInitializer: kernelInitializer)
    }

    public static func maxPooling2D(_ poolSize: Int = 2, strides: Int? = nil, padding: Padding = .valid) -> LayerSpec {
        LayerSpec(type: .maxPooling2D, poolSize: [poolSize, poolSize], strides: strides.map { [$0, $0] },
                  padding: padding)
    }

    public static func dense(_ units: Int, activation: Activation = .linear,
                             kernelInitializer: Initializer = .glorotUniform) -> LayerSpec {
        LayerSpec(type: .dense, units: units, activation: activation, kernelInitializer: kernelInitializer)
    }

    public static let flatten = LayerSpec(type: .flatten)

    public static func dropout(_ rate: Float) -> LayerSpec { LayerSpec(type: .dropout, rate: rate) }

    public static func batchNormalization(momentum: Float = 0.99, epsilon: Float = 1e-3) -> LayerSpec {
        LayerSpec(type: .batchNormalization, momentum: momentum, epsilon: epsilon)
    }

    public static func activation(_ activation: Activation) -> LayerSpec {
        LayerSpec(type: .activation, activation: activation)
    }

    // MARK: Building

    /// The largest `units` or `filters` a layer may have; the model's parameter cap applies as well.
    public static let maximumWidth = 1_000_000

    /// Every number a definition gives, checked against a stated range before any size is computed from it, so
    /// that no product of them can wrap around.
    func checkArguments() throws {
        func check(_ value: Int?, _ name: String, _ range: ClosedRange<Int>) throws {
            guard let value, !range.contains(value) else { return }
            throw ModelDefinitionError("\(type.rawValue): \(name) \(value) is outside \(range.lowerBound)-\(range.upperBound)")
        }
        try check(filters, "filters", 1...Self.maximumWidth)
        try check(units, "units", 1...Self.maximumWidth)
        for (values, name) in [(kernelSize, "kernel_size"), (poolSize, "pool_size"), (strides, "strides")] {
            for value in values ?? [] { try check(value, name, 1...InputLimits.imageSide) }
        }
        if let rate, !(rate >= 0 && rate < 1) { throw ModelDefinitionError("Dropout: rate must be in [0, 1), got \(rate)") }
        if let momentum, !(momentum >= 0 && momentum <= 1) {
            throw ModelDefinitionError("BatchNormalization: momentum must be in [0, 1], got \(momentum)")
        }
        if let epsilon, !(epsilon > 0 && epsilon.isFinite) {
            throw ModelDefinitionError("BatchNormalization: epsilon must be positive, got \(epsilon)")
        }
    }

    /// Builds the layer for a per-sample input shape; throws when the arguments or the shape do not fit.
    public func makeLayer(inputShape: [Int]) throws -> any Layer {
        try checkArguments()
        switch type {
        case .conv2D:
            guard let filters, let kernel = try pair(kernelSize, "kernel_size") else {
                throw ModelDefinitionError("Conv2D: needs filters and kernel_size")
            }
            return try Conv2D(filters: filters, kernelSize: kernel, strides: try pair(strides, "strides") ?? (1, 1),
                              padding: padding ?? .valid, activation: activation ?? .linear,
                              kernelInitializer: kernelInitializer ?? .glorotUniform, useBias: useBias ?? true,
                              inputShape: inputShape)
        case .maxPooling2D:
            return try MaxPooling2D(poolSize: try pair(poolSize, "pool_size") ?? (2, 2),
                                    strides: try pair(strides, "strides"), padding: padding ?? .valid,
                                    inputShape: inputShape)
        case .dense:
            guard let units else { throw ModelDefinitionError("Dense: needs units") }
            return try Dense(units: units, activation: activation ?? .linear,
                             kernelInitializer: kernelInitializer ?? .glorotUniform, useBias: useBias ?? true,
                             inputShape: inputShape)
        case .flatten:
            return Flatten(inputShape: inputShape)
        case .dropout:
            guard let rate else { throw ModelDefinitionError("Dropout: needs rate") }
            return try Dropout(rate: rate, inputShape: inputShape)
        case .batchNormalization:
            return try BatchNormalization(momentum: momentum ?? 0.99, epsilon: epsilon ?? 1e-3, inputShape: inputShape)
        case .activation:
            guard let activation else { throw ModelDefinitionError("Activation: needs activation") }
            return ActivationLayer(activation, inputShape: inputShape)
        }
    }

    /// Keras accepts one integer or a pair for sizes and strides.
    private func pair(_ values: [Int]?, _ name: String) throws -> (Int, Int)? {
        guard let values else { return nil }
        switch values.count {
        case 1: return (values[0], values[0])
        case 2: return (values[0], values[1])
        default: throw ModelDefinitionError("\(type.rawValue): \(name) takes one or two integers, got \(values)")
        }
    }
}
