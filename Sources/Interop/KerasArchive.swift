import Engine
import Foundation
import InputChecks
import ZIPFoundation

/// A `.keras` file, Keras 3's saving format: a zip of `config.json` (the model and its `compile_config`),
/// `metadata.json` and `model.weights.h5`. Read as untrusted input: the archive and each entry are size-capped
/// before anything is inflated, and inflating stops at the cap whatever size an entry declares.
public struct KerasArchive {
    public let path: String
    /// `config.json`: the model's JSON as `to_json()` writes it, with `compile_config` beside it.
    public let config: JSONValue
    /// Open for `weights()`: the weights are inflated only by what needs them, not by reading the model alone.
    private let archive: Archive

    /// The most a `config.json` may hold: room for a thousand layers many times over.
    static let configLimit = 16 << 20

    /// True when the file is a regular file that starts as a zip archive does: a `.keras` rather than JSON. Only a
    /// regular file is opened (without blocking): a FIFO named as a model must not hold the command.
    public static func isArchive(_ path: String) -> Bool {
        guard let (descriptor, _) = try? RegularFile.opened(path) else { return false }
        defer { close(descriptor) }
        var magic = [UInt8](repeating: 0, count: 4)
        return pread(descriptor, &magic, 4, 0) == 4 && magic == [0x50, 0x4B, 0x03, 0x04]
    }

    public init(_ path: String) throws {
        self.path = path
        // A regular file within the cap; read through ZIPFoundation's file reader, not its in-memory one, which
        // traps on some damaged archives (the fuzzer found one).
        let (descriptor, size) = try RegularFile.opened(path)
        close(descriptor)
        guard size <= InputLimits.checkpointBytes else {
            throw InteropError("\(path) is \(size) bytes, more than the \(InputLimits.checkpointBytes) a Keras file may hold")
        }
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read) } catch {
            throw InteropError("\(path) is not a valid .keras archive (a zip): \(error); save it again with model.save")
        }
        guard let configEntry = archive["config.json"] else {
            throw InteropError("\(path) is a zip without config.json: not a .keras file; save it with model.save(\"x.keras\")")
        }
        let configBytes = try Self.contents(of: configEntry, in: archive, limit: Self.configLimit, path: path)
        do { config = try JSONDecoder().decode(JSONValue.self, from: Data(configBytes)) } catch {
            throw InteropError("\(path): config.json is not valid JSON; save the model again")
        }
        self.archive = archive
    }

    /// `model.weights.h5`'s bytes, still to be read as HDF5; nil when the archive holds none.
    public func weights() throws -> [UInt8]? {
        try archive["model.weights.h5"].map {
            try Self.contents(of: $0, in: archive, limit: InputLimits.checkpointBytes, path: path)
        }
    }

    /// The model it holds.
    public func definition() throws -> ModelDefinition {
        do { return try KerasJSON.definition(config) } catch let error as InteropError {
            throw InteropError("\(path): \(error.description)")
        }
    }

    /// An entry's bytes, refused past `limit` as declared and as inflated.
    static func contents(of entry: Entry, in archive: Archive, limit: Int, path: String) throws -> [UInt8] {
        guard entry.type == .file, entry.uncompressedSize <= UInt64(limit) else {
            throw InteropError("\(path): \(shown(entry.path)) declares \(entry.uncompressedSize) bytes, more than the \(limit) "
                               + "it may hold")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(entry.uncompressedSize))
        do {
            _ = try archive.extract(entry) { chunk in
                guard bytes.count + chunk.count <= limit else { throw ArchiveTooLarge() }
                bytes += chunk
            }
        } catch is ArchiveTooLarge {
            throw InteropError("\(path): \(shown(entry.path)) inflates past the \(limit) bytes it may hold; not read")
        } catch {
            throw InteropError("\(path): \(shown(entry.path)) is damaged (\(error)); save the model again")
        }
        return bytes
    }

    private struct ArchiveTooLarge: Error {}
}

/// What `compile_config` sets that `fit` takes as defaults (its flags override them): the optimizer with its
/// learning rate and momentum, and the loss.
public struct KerasCompileSettings: Equatable, Sendable {
    /// sgd, adam or rmsprop.
    public var optimizer: String
    public var learningRate: Float?
    public var momentum: Float?
    public var nesterov: Bool?
    public var loss: Loss

    public init(optimizer: String, learningRate: Float?, momentum: Float?, nesterov: Bool?, loss: Loss) {
        (self.optimizer, self.learningRate, self.momentum, self.nesterov, self.loss) = (optimizer, learningRate, momentum, nesterov, loss)
    }

    /// The settings in `config`'s `compile_config`, nil when the model was saved uncompiled. An optimizer or loss
    /// the engine has no form for, or an argument of it that differs from the engine's, is refused in one line.
    public static func read(_ config: JSONValue, path: String) throws -> KerasCompileSettings? {
        guard let compile = config["compile_config"], !compile.isNull else { return nil }
        guard let optimizer = compile["optimizer"], let className = optimizer["class_name"]?.string ?? optimizer.string else {
            throw InteropError("\(path): compile_config has no optimizer")
        }
        let names = ["SGD": "sgd", "Adam": "adam", "RMSprop": "rmsprop", "sgd": "sgd", "adam": "adam", "rmsprop": "rmsprop"]
        guard let name = names[className] else {
            throw InteropError("\(path): optimizer \(shown(className)) is not supported: the engine has SGD, Adam and RMSprop; "
                               + "give --optimizer")
        }
        let arguments = optimizer["config"]?.object ?? [:]
        func number(_ key: String) -> Float? { if case .number(let value) = arguments[key] ?? .null { Float(value) } else { nil } }
        // The engine's fixed constants, which Keras' defaults equal: another value would train another model.
        let fixed: [String: Double] = name == "adam" ? ["beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7]
            : name == "rmsprop" ? ["rho": 0.9, "epsilon": 1e-7] : [:]
        for (key, value) in fixed.sorted(by: { $0.key < $1.key }) {
            if let given = number(key), abs(Double(given) - value) > value * 1e-6 {
                throw InteropError("\(path): \(className) \(key) \(given) is not supported: the engine's is \(value)")
            }
        }
        for key in ["weight_decay", "clipnorm", "global_clipnorm", "clipvalue"] where !(arguments[key]?.isNull ?? true) {
            throw InteropError("\(path): \(className) \(key) is not supported: the engine has none")
        }
        if arguments["amsgrad"] == .bool(true) || arguments["centered"] == .bool(true) || arguments["use_ema"] == .bool(true) {
            throw InteropError("\(path): \(className)'s amsgrad, centered and use_ema are not supported")
        }
        let lossName = compile["loss"]?.string ?? compile["loss"]?["class_name"]?.string ?? ""
        let losses: [String: Loss] = [
            "sparse_categorical_crossentropy": .sparseCategoricalCrossentropy, "SparseCategoricalCrossentropy": .sparseCategoricalCrossentropy,
            "categorical_crossentropy": .categoricalCrossentropy, "CategoricalCrossentropy": .categoricalCrossentropy,
            "mean_squared_error": .meanSquaredError, "mse": .meanSquaredError, "MeanSquaredError": .meanSquaredError,
        ]
        guard let loss = losses[lossName] else {
            throw InteropError("\(path): loss \(shown(lossName)) is not supported: use sparse_categorical_crossentropy, "
                               + "categorical_crossentropy or mean_squared_error, or give --loss")
        }
        if let rate = arguments["learning_rate"], number("learning_rate") == nil, !rate.isNull {
            throw InteropError("\(path): \(className)'s learning rate is a schedule, which is not supported: give --lr")
        }
        let momentum = number("momentum")
        let nesterov: Bool? = if case .bool(let value) = arguments["nesterov"] ?? .null { value } else { nil }
        return KerasCompileSettings(optimizer: name, learningRate: number("learning_rate"), momentum: momentum,
                                    nesterov: nesterov, loss: loss)
    }
}
