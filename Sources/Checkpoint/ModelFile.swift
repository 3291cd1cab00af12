import Engine
import Foundation

/// A trained model on disk: `<name>.safetensors.zst`, one zstd frame (content checksum on) holding a safetensors
/// file with every weight under its Keras name and layout ("conv2d/kernel" [kh, kw, in, out], "dense/kernel"
/// [in, out], "batch_normalization/moving_mean"...) and, in `__metadata__`, the format name and version and the
/// model definition as JSON. Any safetensors reader opens it after `zstd -d`.
public enum ModelFile {
    public static let formatName = "mnist-train"
    public static let formatVersion = "1"
    public static let defaultCompressionLevel: Int32 = 3

    /// Saves `model` and `metadata` (merged into `__metadata__`) atomically.
    public static func save(_ model: Sequential, definition: ModelDefinition, metadata: [String: String] = [:],
                            to path: String, level: Int32 = defaultCompressionLevel) throws {
        var meta = metadata
        meta["format"] = formatName
        meta["format_version"] = formatVersion
        meta["model"] = String(decoding: try JSONEncoder().encode(definition), as: UTF8.self)
        let tensors = model.store.views.map {
            SafeTensors.Entry(name: $0.name, shape: $0.shape, values: model.store.values(of: $0))
        }
        let file = try SafeTensors(tensors: tensors, metadata: meta).encoded()
        try AtomicFile.write(try Zstd.compress(file, level: level), to: path)
    }

    /// Reads the model a file holds, rebuilt from its definition, and the file's metadata.
    public static func load(_ path: String) throws -> (model: Sequential, definition: ModelDefinition, metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError("\(path) does not exist or cannot be read; train one with `mnist-train fit`")
        }
        guard !data.isEmpty else { throw CheckpointError("\(path) is empty") }
        let contents = try SafeTensors(decoding: try Zstd.decompress([UInt8](data), path: path), path: path)
        guard contents.metadata["format"] == formatName else {
            throw CheckpointError("\(path) is not an mnist-train model file (no format \"\(formatName)\" in its metadata)")
        }
        guard contents.metadata["format_version"] == formatVersion else {
            throw CheckpointError("\(path) has format version \(contents.metadata["format_version"] ?? "none"); "
                                      + "this mnist-train reads version \(formatVersion)")
        }
        guard let json = contents.metadata["model"],
              let definition = try? JSONDecoder().decode(ModelDefinition.self, from: Data(json.utf8)) else {
            throw CheckpointError("\(path) has no readable model definition in its metadata")
        }
        let model: Sequential
        do { model = try definition.makeModel() } catch { throw CheckpointError("\(path): its model cannot be built: \(error)") }
        for view in model.store.views {
            guard let tensor = contents[view.name], tensor.shape == view.shape else {
                throw CheckpointError("\(path) lacks \(view.name) of shape \(view.shape) that its model needs")
            }
            model.store.setValues(tensor.values, of: view)
        }
        return (model, definition, contents.metadata)
    }
}
