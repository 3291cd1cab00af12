import Engine
import Foundation
import InputChecks

/// JSON as it is written: JSONSerialization's numbers and booleans are one type on Linux, so Keras' `true` and
/// `1` could not be told apart through it.
public enum JSONValue: Decodable, Equatable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null } else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public subscript(key: String) -> JSONValue? { if case .object(let object) = self { object[key] } else { nil } }
    public var string: String? { if case .string(let text) = self { text } else { nil } }
    public var array: [JSONValue]? { if case .array(let list) = self { list } else { nil } }
    public var object: [String: JSONValue]? { if case .object(let object) = self { object } else { nil } }
    public var integer: Int? { if case .number(let value) = self, value == value.rounded() { Int(exactly: value) } else { nil } }
    public var isNull: Bool { self == .null }

    /// Compact text of the value, for messages.
    var text: String {
        switch self {
        case .null: "null"
        case .bool(let value): String(value)
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .string(let text): text
        case .array(let list): "[" + list.map(\.text).joined(separator: ", ") + "]"
        case .object(let object): "{" + object.keys.sorted().joined(separator: ", ") + "}"
        }
    }
}

/// A Keras Sequential model's JSON, as `model.to_json()` writes it, read into a `ModelDefinition`.
///
/// Three dialects are read: Keras 2 (the first layer carries `batch_input_shape`; `config` is the layer list or
/// holds it), tf.keras 2.x (an `InputLayer` first, with `batch_input_shape`) and Keras 3 (`module` keys, an
/// `InputLayer` with `batch_shape`, `build_config`). Every argument is read or checked: one the engine has no
/// form for (a regularizer, a constraint, dilation, groups, a frozen layer, another initializer) ends the read
/// with one line naming the layer and the argument. Nothing is silently dropped.
public enum KerasJSON {
    /// True when `json` looks like Keras' JSON (a `class_name` at the top) rather than this tool's own.
    public static func isKeras(_ json: JSONValue) -> Bool { json["class_name"] != nil }

    public static func definition(_ json: Data) throws -> ModelDefinition {
        try definition(try JSONDecoder().decode(JSONValue.self, from: json))
    }

    /// The Keras names of the model's layers (not its InputLayer), in order: their weights' groups in
    /// `model.weights.h5`. A layer Keras wrote without a name gets the engine's.
    public static func layerNames(_ top: JSONValue) -> [String] {
        let config = top["config"]
        let layers = (config?["layers"]?.array ?? config?.array ?? []).filter { $0["class_name"]?.string != "InputLayer" }
        return layers.map { $0["config"]?["name"]?.string ?? "" }
    }

    public static func definition(_ top: JSONValue) throws -> ModelDefinition {
        guard let className = top["class_name"]?.string else {
            throw InteropError("not a Keras model: no \"class_name\" at the top")
        }
        guard className == "Sequential" else {
            throw InteropError("a Keras \(shown(className)) model; only Sequential models are read")
        }
        // Keras 2 before 2.2.3 wrote the layer list as `config` itself.
        let config = top["config"]
        guard let layers = config?["layers"]?.array ?? config?.array else {
            throw InteropError("the Keras model's config has no layer list")
        }
        var inputShape: [Int]?
        var specs: [LayerSpec] = []
        // BatchNormalization axes to check once the shapes are known: (layer, axis, name).
        var axes: [(layer: Int, axis: Int, name: String)] = []
        for (index, entry) in layers.enumerated() {
            guard let kind = entry["class_name"]?.string, let arguments = entry["config"]?.object else {
                throw InteropError("layer \(index) is not a Keras layer (class_name and config)")
            }
            var reader = LayerReader(kind: kind, index: index, arguments: arguments)
            if let shape = try reader.batchShape() {
                guard inputShape == nil || inputShape == shape else {
                    throw InteropError("\(reader.name): a second input shape \(shape); a Sequential model has one input")
                }
                inputShape = shape
            }
            if kind == "InputLayer" {
                try reader.finish(known: ["sparse", "ragged", "optional", "batch_size", "input_tensor"])
                continue
            }
            specs.append(try reader.spec())
            if let axis = reader.normalizedAxis { axes.append((specs.count - 1, axis, reader.name)) }
        }
        // A model built without an input shape (Keras 3 knows it from build_config).
        if inputShape == nil, let shape = top["build_config"]?["input_shape"] {
            inputShape = try LayerReader.shape(shape, "build_config.input_shape")
        }
        guard let inputShape else {
            throw InteropError("the Keras model has no input shape: give its first layer input_shape, or an Input")
        }
        let definition = ModelDefinition(inputShape: inputShape, layers: specs)
        if !axes.isEmpty {
            let shapes = try [inputShape] + definition.makeModel().outputShapes
            for (layer, axis, name) in axes where axis != shapes[layer].count {
                throw InteropError("\(name): axis \(axis) is not supported: the engine normalizes the last axis, "
                                   + "\(shapes[layer].count) here")
            }
        }
        return definition
    }
}

/// One layer's config, read argument by argument: every key must be read, or known to be harmless, by the end.
private struct LayerReader {
    let kind: String
    var arguments: [String: JSONValue]
    /// For messages: the layer's own name, else its place, and its kind.
    let name: String
    /// BatchNormalization's axis as Keras 2 writes it, counting the batch axis: it must be the input's last.
    var normalizedAxis: Int?

    init(kind: String, index: Int, arguments: [String: JSONValue]) {
        (self.kind, self.arguments) = (kind, arguments)
        name = arguments["name"]?.string.map { "layer \(shown($0)) (\(kind))" } ?? "layer \(index) (\(kind))"
    }

    /// The argument, taken out of those left to read; null counts as absent.
    mutating func take(_ key: String) -> JSONValue? {
        arguments.removeValue(forKey: key).flatMap { $0.isNull ? nil : $0 }
    }

    func refuse(_ key: String, _ what: String) -> InteropError {
        InteropError("\(name): \(key) \(what)")
    }

    mutating func int(_ key: String) throws -> Int? {
        guard let raw = take(key) else { return nil }
        guard let value = raw.integer else { throw refuse(key, "must be an integer") }
        return value
    }

    mutating func pair(_ key: String) throws -> [Int]? {
        guard let raw = take(key) else { return nil }
        if let value = raw.integer { return [value, value] }
        guard let list = raw.array?.compactMap(\.integer), list.count == 2, raw.array?.count == 2 else {
            throw refuse(key, "must be an integer or a pair of integers")
        }
        return list
    }

    mutating func float(_ key: String) throws -> Float? {
        guard let raw = take(key) else { return nil }
        guard case .number(let value) = raw else { throw refuse(key, "must be a number") }
        return Float(value)
    }

    mutating func bool(_ key: String) throws -> Bool? {
        guard let raw = take(key) else { return nil }
        guard case .bool(let value) = raw else { throw refuse(key, "must be true or false") }
        return value
    }

    mutating func string(_ key: String) throws -> String? {
        guard let raw = take(key) else { return nil }
        guard let text = raw.string else { throw refuse(key, "must be a string") }
        return text
    }

    /// `key` must be absent, null, or `expected`.
    mutating func require(_ key: String, _ expected: JSONValue, _ advice: String) throws {
        guard let raw = take(key), raw != expected else { return }
        throw refuse(key, "\(shown(raw.text)) is not supported: \(advice)")
    }

    /// The batch shape (`batch_shape` of Keras 3, `batch_input_shape` of Keras 2) without its batch axis, or a bare
    /// `input_shape`, if the layer gives one.
    mutating func batchShape() throws -> [Int]? {
        for key in ["batch_shape", "batch_input_shape"] {
            if let raw = take(key) {
                let shape = try Self.shape(raw, "\(name): \(key)", batch: true)
                return shape
            }
        }
        if let raw = take("input_shape") { return try Self.shape(raw, "\(name): input_shape") }
        if kind == "InputLayer", let raw = take("shape") { return try Self.shape(raw, "\(name): shape") }
        return nil
    }

    /// A shape list; with `batch`, its first entry (null) is the batch axis and goes.
    static func shape(_ raw: JSONValue, _ what: String, batch: Bool = false) throws -> [Int] {
        guard var list = raw.array else { throw InteropError("\(what) must be a list of sizes") }
        if batch {
            guard let first = list.first, first.isNull || first.integer != nil else {
                throw InteropError("\(what) must start with the batch size or null")
            }
            list.removeFirst()
        }
        let sizes = list.compactMap(\.integer)
        guard sizes.count == list.count, sizes.allSatisfy({ $0 >= 1 }) else {
            throw InteropError("\(what) must give every size but the batch's as a positive integer")
        }
        return sizes
    }

    /// The layer as the engine's `LayerSpec`; every argument read or refused.
    mutating func spec() throws -> LayerSpec {
        let spec: LayerSpec
        switch kind {
        case "Conv2D", "Convolution2D":
            guard let filters = try int("filters"), let kernel = try pair("kernel_size") else {
                throw InteropError("\(name): needs filters and kernel_size")
            }
            try require("dilation_rate", .array([.number(1), .number(1)]), "dilation is not supported")
            try require("groups", .number(1), "grouped convolution is not supported")
            try channelsLast()
            spec = LayerSpec(type: .conv2D, filters: filters, kernelSize: kernel, strides: try pair("strides"),
                             padding: try padding(), activation: try activation(), kernelInitializer: try initializer("kernel_initializer"),
                             useBias: try bool("use_bias"))
            try defaultInitializer("bias_initializer", "Zeros")
            try noRegularizers(["kernel", "bias"])
        case "Dense":
            guard let units = try int("units") else { throw InteropError("\(name): needs units") }
            spec = LayerSpec(type: .dense, units: units, activation: try activation(),
                             kernelInitializer: try initializer("kernel_initializer"), useBias: try bool("use_bias"))
            try defaultInitializer("bias_initializer", "Zeros")
            try noRegularizers(["kernel", "bias"])
        case "MaxPooling2D", "MaxPool2D":
            try channelsLast()
            spec = LayerSpec(type: .maxPooling2D, poolSize: try pair("pool_size"), strides: try pair("strides"), padding: try padding())
        case "Flatten":
            try channelsLast()
            spec = .flatten
        case "Dropout":
            guard let rate = try float("rate") else { throw InteropError("\(name): needs rate") }
            if take("noise_shape") != nil { throw refuse("noise_shape", "is not supported: drop it") }
            if take("seed") != nil { throw refuse("seed", "is not used here: dropout is seeded by fit's --seed; drop it") }
            spec = .dropout(rate)
        case "BatchNormalization":
            // -1, or (Keras 2) the last axis's index, in a one-element list or not.
            if let raw = take("axis"), raw != .number(-1), raw != .array([.number(-1)]) {
                guard let axis = raw.integer ?? (raw.array?.count == 1 ? raw.array?[0].integer : nil), axis >= 1 else {
                    throw refuse("axis", "\(shown(raw.text)) is not supported: the engine normalizes the last axis (-1)")
                }
                normalizedAxis = axis
            }
            try require("center", .bool(true), "a BatchNormalization without beta is not supported")
            try require("scale", .bool(true), "a BatchNormalization without gamma is not supported")
            try require("synchronized", .bool(false), "normalization is per rank here")
            try require("renorm", .bool(false), "batch renormalization is not supported")
            try require("fused", .bool(true), "this option is not supported")
            if take("virtual_batch_size") != nil { throw refuse("virtual_batch_size", "is not supported: drop it") }
            // Renormalization's settings, read only when renorm is on (refused above).
            _ = take("renorm_clipping"); _ = take("renorm_momentum")
            for (key, value) in [("beta_initializer", "Zeros"), ("gamma_initializer", "Ones"),
                                 ("moving_mean_initializer", "Zeros"), ("moving_variance_initializer", "Ones")] {
                try defaultInitializer(key, value)
            }
            try noRegularizers(["beta", "gamma"])
            spec = LayerSpec(type: .batchNormalization, momentum: try float("momentum"), epsilon: try float("epsilon"))
        case "Activation":
            spec = .activation(try activation() ?? .linear)
        default:
            throw InteropError("\(name): Keras layer \(shown(kind)) is not supported; the engine has Conv2D, MaxPooling2D, "
                               + "Dense, Flatten, Dropout, BatchNormalization, Activation and InputLayer")
        }
        try finish(known: [])
        return spec
    }

    /// Every key left must be one that changes nothing here.
    mutating func finish(known: Set<String>) throws {
        _ = take("name")
        if let trainable = try bool("trainable"), !trainable {
            throw refuse("trainable", "false (a frozen layer) is not supported: every layer trains here")
        }
        try dtype()
        for key in ["module", "registered_name", "build_config", "batch_size"] + known { _ = take(key) }
        // A null argument is Keras' default for it (no quantization, no LoRA, ...): it changes nothing.
        if let key = arguments.filter({ !$0.value.isNull }).keys.sorted().first {
            throw refuse(key, "is not supported here (it has no form in the engine)")
        }
    }

    mutating func dtype() throws {
        guard let raw = take("dtype") else { return }
        // Keras 3 writes a DTypePolicy object.
        let name = raw.string ?? raw["config"]?["name"]?.string
        guard name == "float32" else {
            throw refuse("dtype", "\(shown(name ?? raw.text)) is not supported: the engine computes in float32")
        }
    }

    mutating func channelsLast() throws {
        try require("data_format", .string("channels_last"), "the engine works channels last")
    }

    mutating func padding() throws -> Padding? {
        guard let text = try string("padding") else { return nil }
        guard let padding = Padding(rawValue: text.lowercased()) else { throw refuse("padding", "\(shown(text)) is not supported: use valid or same") }
        return padding
    }

    mutating func activation() throws -> Activation? {
        guard let raw = take("activation") else { return nil }
        // Keras 3 may write a function as a registered object.
        guard let text = raw.string ?? raw["config"]?.string, let activation = Activation(rawValue: text) else {
            throw refuse("activation", "\(shown(raw.string ?? raw.text)) is not supported: use linear, relu, tanh, sigmoid, selu "
                         + "or softmax")
        }
        return activation
    }

    /// A kernel initializer the engine has, by Keras class or by its VarianceScaling arguments.
    mutating func initializer(_ key: String) throws -> Initializer? {
        guard let raw = take(key) else { return nil }
        let (className, config) = try Self.initializerClass(raw, refuse(key, "must be a Keras initializer"))
        let named: [String: Initializer] = ["GlorotUniform": .glorotUniform, "glorot_uniform": .glorotUniform,
                                            "LecunNormal": .lecunNormal, "lecun_normal": .lecunNormal,
                                            "HeNormal": .heNormal, "he_normal": .heNormal, "Zeros": .zeros, "zeros": .zeros,
                                            "Ones": .ones, "ones": .ones]
        if let initializer = named[className] { return initializer }
        if className == "VarianceScaling" {
            let scale: Double? = if case .number(let value) = config["scale"] ?? .null { value } else { nil }
            switch (scale, config["mode"]?.string, config["distribution"]?.string) {
            case (1, "fan_avg", "uniform"): return .glorotUniform
            case (1, "fan_in", "truncated_normal"): return .lecunNormal
            case (2, "fan_in", "truncated_normal"): return .heNormal
            default: break
            }
        }
        throw refuse(key, "\(shown(className)) is not supported: use glorot_uniform, lecun_normal, he_normal, zeros or ones")
    }

    /// `key` must be absent or the initializer `expected` (Zeros, Ones): the engine starts those weights so.
    mutating func defaultInitializer(_ key: String, _ expected: String) throws {
        guard let raw = take(key) else { return }
        let (className, _) = try Self.initializerClass(raw, refuse(key, "must be a Keras initializer"))
        guard className.lowercased() == expected.lowercased() else {
            throw refuse(key, "\(shown(className)) is not supported: the engine starts it at \(expected)")
        }
    }

    static func initializerClass(_ raw: JSONValue, _ error: InteropError) throws -> (String, [String: JSONValue]) {
        if let text = raw.string { return (text, [:]) }
        guard let name = raw["class_name"]?.string else { throw error }
        return (name, raw["config"]?.object ?? [:])
    }

    mutating func noRegularizers(_ weights: [String]) throws {
        for weight in weights {
            for kind in ["regularizer", "constraint"] where take("\(weight)_\(kind)") != nil {
                throw refuse("\(weight)_\(kind)", "is not supported: the engine has no \(kind)s")
            }
        }
        if take("activity_regularizer") != nil { throw refuse("activity_regularizer", "is not supported: the engine has no regularizers") }
    }
}
