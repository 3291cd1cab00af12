import Engine
import Foundation

/// A model in a checkpoint file (`CheckpointFile`): every weight under its Keras name and layout
/// ("conv2d/kernel" [kh, kw, in, out], "dense/kernel" [in, out], "batch_normalization/moving_mean"...) and the
/// model definition as JSON in `__metadata__["model"]`. Training checkpoints add optimizer state and training
/// position to the same file; any of them loads as a model.
public enum ModelFile {
    /// The model's weights as named tensors.
    public static func tensors(of model: Sequential) -> [SafeTensors.Entry] {
        model.store.views.map { SafeTensors.Entry(name: $0.name, shape: $0.shape, values: model.store.values(of: $0)) }
    }

    /// Saves `model` and `metadata` atomically.
    public static func save(_ model: Sequential, definition: ModelDefinition, metadata: [String: String] = [:],
                            to path: String, level: Int32 = CheckpointFile.defaultCompressionLevel) throws {
        var meta = metadata
        meta["model"] = try encodedDefinition(definition)
        try CheckpointFile.write(SafeTensors(tensors: tensors(of: model), metadata: meta), to: path, level: level)
    }

    public static func encodedDefinition(_ definition: ModelDefinition) throws -> String {
        try SafeTensors.metadataJSON(definition)
    }

    /// Reads the model a file holds, rebuilt from its definition, and the file's metadata.
    public static func load(_ path: String) throws -> (model: Sequential, definition: ModelDefinition, metadata: [String: String]) {
        let contents = try CheckpointFile.read(path)
        let (model, definition) = try model(in: contents, path: path)
        return (model, definition, contents.metadata)
    }

    /// The model in already-read contents; `path` names the file in errors.
    public static func model(in contents: SafeTensors, path: String) throws -> (Sequential, ModelDefinition) {
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
            guard tensor.values.allSatisfy(\.isFinite) else {
                throw CheckpointError("\(path): \(view.name) holds a value that is not finite (NaN or infinity); the file is "
                                          + "damaged or its run diverged")
            }
            model.store.setValues(tensor.values, of: view)
        }
        return (model, definition)
    }
}
