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
        guard let keyed = try? decoder.container(keyedBy: LayerSpec.AnyKey.self) else {
            throw ModelDefinitionError("the model must be a JSON object with \"layers\" (and \"input_shape\")")
        }
        if let unknown = keyed.allKeys.map(\.stringValue).first(where: { CodingKeys(rawValue: $0) == nil }) {
            throw ModelDefinitionError("unknown key \"\(unknown)\" at the top; known keys are input_shape, layers")
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if container.contains(.inputShape) {
            guard let shape = try? container.decode([Int].self, forKey: .inputShape) else {
                throw ModelDefinitionError("input_shape must be a list of integers, such as [28, 28, 1]")
            }
            inputShape = shape
        } else {
            inputShape = [28, 28, 1]
        }
        guard container.contains(.layers) else { throw ModelDefinitionError("the model needs \"layers\", a list of layers") }
        var list: any UnkeyedDecodingContainer
        do { list = try container.nestedUnkeyedContainer(forKey: .layers) } catch {
            throw ModelDefinitionError("layers must be a list of layers")
        }
        var layers: [LayerSpec] = []
        while !list.isAtEnd { layers.append(try list.decode(LayerSpec.self)) }
        self.layers = layers
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

    /// The keys each layer type takes besides "type": a key of another type's (Dense's "rate") is refused, not
    /// ignored.
    static let keysByKind: [Kind: [CodingKeys]] = [
        .conv2D: [.filters, .kernelSize, .strides, .padding, .activation, .kernelInitializer, .useBias],
        .maxPooling2D: [.poolSize, .strides, .padding],
        .dense: [.units, .activation, .kernelInitializer, .useBias],
        .flatten: [],
        .dropout: [.rate],
        .batchNormalization: [.momentum, .epsilon],
        .activation: [.activation],
    ]

    /// Decodes Keras-like JSON: unknown keys, and keys the layer type does not take, are errors (a misspelt
    /// "activaton" must not pass silently); sizes and strides take one integer or a pair. Each error names its
    /// place: "layers[2].units must be an integer".
    public init(from decoder: any Decoder) throws {
        let known = Set(CodingKeys.allCases.map(\.stringValue))
        guard let keyed = try? decoder.container(keyedBy: AnyKey.self) else {
            throw ModelDefinitionError("\(Self.place(decoder.codingPath)) must be an object such as {\"type\": \"Dense\", \"units\": 10}")
        }
        let keys = keyed.allKeys.map(\.stringValue)
        let place = Self.place(decoder.codingPath)
        if let unknown = keys.first(where: { !known.contains($0) }) {
            throw ModelDefinitionError("\(place): unknown key \"\(unknown)\"; known keys are \(known.sorted().joined(separator: ", "))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func fail(_ key: CodingKeys, _ problem: String) -> ModelDefinitionError {
            ModelDefinitionError("\(place).\(key.stringValue) \(problem)")
        }
        /// A name from a fixed list (layer type, activation, padding, initializer); an unknown one lists the valid ones.
        func named<T: RawRepresentable & CaseIterable>(_ key: CodingKeys) throws -> T? where T.RawValue == String {
            guard c.contains(key) else { return nil }
            guard let text = try? c.decode(String.self, forKey: key) else { throw fail(key, "must be a name in quotes") }
            guard let value = T(rawValue: text) else {
                throw ModelDefinitionError("\(place): unknown \(key.stringValue) \"\(text)\"; use one of "
                                               + T.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return value
        }
        func integer(_ key: CodingKeys) throws -> Int? {
            guard c.contains(key) else { return nil }
            if let value = try? c.decode(Int.self, forKey: key) { return value }
            throw fail(key, "must be an integer")
        }
        func sizes(_ key: CodingKeys) throws -> [Int]? {
            guard c.contains(key) else { return nil }
            if let single = try? c.decode(Int.self, forKey: key) { return [single] }
            if let pair = try? c.decode([Int].self, forKey: key) { return pair }
            throw fail(key, "must be an integer or a pair of integers")
        }
        func number(_ key: CodingKeys) throws -> Float? {
            guard c.contains(key) else { return nil }
            if let value = try? c.decode(Float.self, forKey: key) { return value }
            throw fail(key, "must be a number")
        }
        guard let type: Kind = try named(.type) else {
            throw ModelDefinitionError("\(place): needs a \"type\" (one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let takes = Set((Self.keysByKind[type] ?? []).map(\.stringValue) + ["type"])
        if let foreign = keys.sorted().first(where: { !takes.contains($0) }) {
            throw ModelDefinitionError("\(place): \(type.rawValue) does not take \"\(foreign)\"; it takes "
                                           + takes.subtracting(["type"]).sorted().joined(separator: ", "))
        }
        self.init(type: type)
        filters = try integer(.filters)
        units = try integer(.units)
        kernelSize = try sizes(.kernelSize)
        poolSize = try sizes(.poolSize)
        strides = try sizes(.strides)
        padding = try named(.padding)
        activation = try named(.activation)
        kernelInitializer = try named(.kernelInitializer)
        if c.contains(.useBias) {
            guard let flag = try? c.decode(Bool.self, forKey: .useBias) else { throw fail(.useBias, "must be true or false") }
            useBias = flag
        }
        rate = try number(.rate)
        momentum = try number(.momentum)
        epsilon = try number(.epsilon)
    }

    /// "layers[2]" for a coding path; "the model" at the top.
    static func place(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "the model" : path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined()
    }
}
