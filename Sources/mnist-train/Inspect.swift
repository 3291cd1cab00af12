import ArgumentParser
import Checkpoint
import Foundation
import Interop
import InputChecks
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a checkpoint's or saved model's metadata and tensors.")

    @Argument(help: ArgumentHelp("A .safetensors.zst file, a checkpoint directory (its newest checkpoint), or a .keras file.",
                                 valueName: "file"))
    var file: String
    @Flag(help: "Print JSON: the whole metadata and every tensor's name, dtype and shape.") var json = false

    func run() throws {
        let path = try modelFilePath(file)
        // A .keras file is shown as the model it loads as: the same names and shapes as the engine's own files.
        let contents = KerasArchive.isArchive(path) ? try kerasContents(path) : try CheckpointFile.read(path)
        if json {
            let object: [String: Any] = [
                "file": path, "metadata": contents.metadata,
                "tensors": contents.tensors.map { ["name": $0.name, "dtype": "F32", "shape": $0.shape] as [String: Any] },
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("\(path): \(KerasArchive.isArchive(path) ? "a Keras archive" : "zstd frame checksum verified"); "
              + "\(contents.tensors.count) tensors, "
              + "\(contents.tensors.reduce(0) { $0 + $1.values.count }) values")
        print("\nmetadata:")
        // Long JSON values (model, history) are cut to a line; `export` gives the whole file.
        // Names and values come from the file: control characters (terminal escapes) are shown, not sent.
        for key in contents.metadata.keys.sorted() {
            print("  \(shown(key)): \(shown(contents.metadata[key]!, limit: 157))")
        }
        print("\ntensors:")
        let names = contents.tensors.map { shown($0.name) }
        let width = names.map(\.count).max() ?? 0
        for (name, tensor) in zip(names, contents.tensors) {
            print("  \(name.padding(toLength: width, withPad: " ", startingAt: 0))  F32 \(tensor.shape)")
        }
    }
}

/// A .keras file as the contents of the engine's own file: its model's tensors and definition.
func kerasContents(_ path: String) throws -> SafeTensors {
    let (model, definition, metadata) = try loadSavedModel(path)
    var kept = metadata
    kept["model"] = try ModelFile.encodedDefinition(definition)
    return SafeTensors(tensors: ModelFile.tensors(of: model), metadata: kept)
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as ONNX (for onnxruntime and other runtimes), or its weights as a plain safetensors file "
            + "(no optimizer state) for PyTorch or Keras.")

    @Argument(help: ArgumentHelp("A checkpoint or saved model (.safetensors.zst), or a checkpoint directory.", valueName: "file")) var file: String
    @Option(help: ArgumentHelp("The .onnx file to write: opset \(ONNXExport.opset), float32 NHWC input in 0-1, a dynamic batch.",
                               valueName: "file"))
    var onnx: String?
    @Option(help: ArgumentHelp("The .safetensors file to write.", valueName: "file")) var safetensors: String?
    @Option(help: ArgumentHelp("The .keras file to write, for keras.models.load_model (Keras 3).", valueName: "file"))
    var keras: String?

    func validate() throws {
        let outputs = [onnx, safetensors, keras].compactMap { $0 }
        if outputs.isEmpty { throw ValidationError("give --onnx OUT.onnx, --safetensors OUT.safetensors or --keras OUT.keras") }
        if Set(outputs).count < outputs.count { throw ValidationError("give each of --onnx, --safetensors and --keras its own file") }
    }

    func run() throws {
        let (model, definition, metadata) = try loadSavedModel(file)
        for (flag, path) in [("--onnx", onnx), ("--safetensors", safetensors), ("--keras", keras)] {
            if let path { try WritablePath.checkFile(path, what: "\(flag) \(path)") }
        }
        var kept = metadata.filter { ["name", "test_accuracy", "training", "history", "class_names"].contains($0.key) }
        kept["model"] = try ModelFile.encodedDefinition(definition)
        if let onnx {
            let export = ONNXExport(model)
            let bytes = try export.serialized(graphName: metadata["name"] ?? "model", metadata: kept)
            try AtomicFile.write(bytes, to: onnx)
            print("wrote \(onnx): ONNX opset \(ONNXExport.opset), \(bytes.count) bytes; input \"\(ONNXExport.inputName)\" float32 "
                  + "[\(export.inputShape.joined(separator: ", "))] in 0-1, output \"\(export.outputName)\" float32 "
                  + "[\(export.outputShape.joined(separator: ", "))]")
        }
        if let keras {
            try KerasExport.write(model, compile: try compileSettings(metadata), to: keras)
            print("wrote \(keras): Keras \(KerasExport.kerasVersion) archive (config.json, metadata.json, model.weights.h5); "
                  + "load it with keras.models.load_model(\"\(keras)\")")
        }
        if let safetensors {
            kept["layout"] = "Keras: Conv2D kernel [kh, kw, in, out], Dense kernel [in, out], NHWC activations"
            let bytes = try SafeTensors(tensors: ModelFile.tensors(of: model), metadata: kept).encoded()
            try AtomicFile.write(bytes, to: safetensors)
            print("wrote \(safetensors): \(model.store.views.count) tensors, \(bytes.count) bytes")
        }
    }

    /// The settings the model was trained with (its metadata's, or a `.keras` file's own), for Keras' compile.
    func compileSettings(_ metadata: [String: String]) throws -> KerasCompileSettings? {
        if let saved = metadata["training"], let training = try? JSONDecoder().decode(TrainingConfiguration.self, from: Data(saved.utf8)) {
            let optimizer = training.optimizer
            return KerasCompileSettings(optimizer: optimizer.name.rawValue, learningRate: optimizer.learningRate,
                                        momentum: optimizer.momentum, nesterov: optimizer.nesterov, loss: training.loss)
        }
        let path = try modelFilePath(file)
        return KerasArchive.isArchive(path) ? try KerasCompileSettings.read(KerasArchive(path).config, path: path) : nil
    }
}
