/// A model as a file describes it: input shape and layer list, in Keras-like JSON.
///
///     {"input_shape": [28, 28, 1],
///      "layers": [{"type": "Conv2D", "filters": 32, "kernel_size": 3, "activation": "relu"},
///                 {"type": "MaxPooling2D"}, {"type": "Flatten"},
///                 {"type": "Dense", "units": 10, "activation": "softmax"}]}
///
/// `input_shape` defaults to MNIST's [28, 28, 1]. Sizes and strides take one integer or a pair.
public struct ModelDefinition: Codable, Equatable, Sendable {
    public var inputShape: [Int]
    public var layers: [LayerSpec]

    public init(inputShape: [Int], layers: [LayerSpec]) {
        self.inputShape = inputShape
        self.layers = layers
    }

    enum CodingKeys: String, CodingKey {
        case inputShape = "input_shape", layers
    }

    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: LayerSpec.AnyKey.self).allKeys.map(\.stringValue)
        if let unknown = keys.first(where: { CodingKeys(rawValue: $0) == nil }) {
            throw ModelDefinitionError("unknown key \"\(unknown)\" at the top; known keys are input_shape, layers")
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputShape = try container.decodeIfPresent([Int].self, forKey: .inputShape) ?? [28, 28, 1]
        layers = try container.decode([LayerSpec].self, forKey: .layers)
    }

    public func makeModel(seed: UInt64 = 0) throws -> Sequential {
        try Sequential(layers, inputShape: inputShape, seed: seed)
    }
}

extension LayerSpec {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Decodes Keras-like JSON: unknown keys are errors (a misspelt "activaton" must not pass silently), and
    /// sizes and strides take one integer or a pair.
    public init(from decoder: any Decoder) throws {
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        // Where in the file, for messages: "layers[2]".
        let place = decoder.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ($0.stringValue) }.joined()
        if let unknown = keys.first(where: { !known.contains($0) }) {
            throw ModelDefinitionError("\(place): unknown key \"\(unknown)\"; known keys are \(known.sorted().joined(separator: ", "))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        /// A name from a fixed list (layer type, activation, padding, initializer); an unknown one lists the valid ones.
        func named<T: RawRepresentable & CaseIterable>(_ key: CodingKeys) throws -> T? where T.RawValue == String {
            guard let text = try c.decodeIfPresent(String.self, forKey: key) else { return nil }
            guard let value = T(rawValue: text) else {
                throw ModelDefinitionError("\(place): unknown \(key.stringValue) \"\(text)\"; use one of "
                                               + T.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return value
        }
        func sizes(_ key: CodingKeys) throws -> [Int]? {
            if let single = try? c.decodeIfPresent(Int.self, forKey: key) { return [single] }
            return try c.decodeIfPresent([Int].self, forKey: key)
        }
        guard let type: Kind = try named(.type) else {
            throw ModelDefinitionError("\(place): needs a \"type\" (one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.init(type: type)
        filters = try c.decodeIfPresent(Int.self, forKey: .filters)
        units = try c.decodeIfPresent(Int.self, forKey: .units)
        kernelSize = try sizes(.kernelSize)
        poolSize = try sizes(.poolSize)
        strides = try sizes(.strides)
        padding = try named(.padding)
        activation = try named(.activation)
        kernelInitializer = try named(.kernelInitializer)
        useBias = try c.decodeIfPresent(Bool.self, forKey: .useBias)
        rate = try c.decodeIfPresent(Float.self, forKey: .rate)
        momentum = try c.decodeIfPresent(Float.self, forKey: .momentum)
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon)
    }
}
