import ArgumentParser
import Checkpoint
import Engine
import Foundation
import InputChecks
import Interop

/// A saved model, ours (`.safetensors.zst`, a checkpoint, a checkpoint directory) or Keras' (`.keras`).
func loadSavedModel(_ argument: String) throws -> (model: Sequential, definition: ModelDefinition, metadata: [String: String]) {
    let path = try modelFilePath(argument)
    if KerasWeights.isHDF5(path) {
        throw CommandError("\(path) holds Keras weights alone (model.save_weights), not a model: give the .keras file "
                               + "model.save wrote")
    }
    guard KerasArchive.isArchive(path) else { return try ModelFile.load(path) }
    let archive = try KerasArchive(path)
    let definition = try archive.definition()
    let model = try definition.makeModel()
    guard let weights = try archive.weights() else {
        throw CommandError("\(path) holds no model.weights.h5: save the model with its weights (model.save)")
    }
    let datasets = KerasWeights.datasets(of: model, kerasNames: KerasJSON.layerNames(archive.config))
    KerasWeights.load(try readHDF5InChildProcess(weights, datasets, file: "\(path): its model.weights.h5",
                                                 advice: "save the model again"), into: model)
    var metadata = ["name": (path as NSString).lastPathComponent.replacingOccurrences(of: ".keras", with: "")]
    if let config = archive.config["config"]?["name"]?.string { metadata["keras_name"] = config }
    return (model, definition, metadata)
}

/// What `fit --init-from` starts from: a saved model (`loadSavedModel`), or Keras' weights alone (a `.weights.h5`)
/// in the model `choice` names for images of `inputShape` in `classes` classes.
func loadInitialModel(_ argument: String, choice: ModelChoice, inputShape: [Int], classes: Int) throws
    -> (model: Sequential, definition: ModelDefinition, metadata: [String: String]) {
    guard KerasWeights.isHDF5(argument) else { return try loadSavedModel(argument) }
    guard choice.isExplicit else {
        throw CommandError("--init-from \(argument) holds Keras weights alone (model.save_weights): name their model with "
                               + "--model-file (its model.to_json() or .keras) or --model")
    }
    let (definition, kerasNames) = try choice.resolved(inputShape: inputShape, classes: classes)
    return try loadKerasWeights(argument, definition: definition, kerasNames: kerasNames)
}

/// Keras' weights alone (`model.save_weights`, a `.weights.h5` file) in the model `definition` builds. They are
/// found under `kerasNames`, the layer names of the Keras JSON the definition came from, else under the
/// engine's, which are the names Keras gives a model's layers in a new session.
func loadKerasWeights(_ path: String, definition: ModelDefinition, kerasNames: [String]?) throws
    -> (model: Sequential, definition: ModelDefinition, metadata: [String: String]) {
    let model = try definition.makeModel()
    let bytes = try RegularFile.contents(path, limit: InputLimits.checkpointBytes, what: path)
    let datasets = KerasWeights.datasets(of: model, kerasNames: kerasNames ?? model.layerNames)
    KerasWeights.load(try readHDF5InChildProcess(bytes, datasets, file: path,
                                                 advice: "give --model-file the Keras model they were saved from "
                                                     + "(its model.to_json() or .keras)"), into: model)
    return (model, definition, [:])
}

/// Runs `mnist-train read-hdf5` on `bytes` (an HDF5 file) and returns its datasets' values. libhdf5 runs in that
/// child alone: a crafted file that crashes it ends the child, and this process reports the file damaged.
/// `file` names the weights in messages, and `advice` ends the one a damaged file gets.
func readHDF5InChildProcess(_ bytes: [UInt8], _ datasets: [KerasWeights.Dataset], file: String, advice: String) throws -> [[Float]] {
    let scratch = NSTemporaryDirectory() + "mnist-train-\(getpid())-\(UUID().uuidString).h5"
    guard FileManager.default.createFile(atPath: scratch, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else {
        throw CommandError("cannot write a scratch copy of \(file) to \(NSTemporaryDirectory()); set TMPDIR")
    }
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
    child.arguments = ["read-hdf5", scratch] + datasets.map(\.argument)
    let output = Pipe(), errors = Pipe()
    (child.standardOutput, child.standardError) = (output, errors)
    try child.run()
    // Read as it comes, before waiting: a child blocked on a full pipe would never end.
    let expected = datasets.reduce(0) { $0 + 4 * $1.shape.reduce(1, *) }
    let values = output.fileHandleForReading.readDataToEndOfFile()
    let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile().prefix(2000), as: UTF8.self)
    child.waitUntilExit()
    guard child.terminationReason == .exit, child.terminationStatus == 0 else {
        let why = child.terminationReason == .uncaughtSignal ? "libhdf5 crashed on it (signal \(child.terminationStatus))"
            : String(message.trimmingCharacters(in: .whitespacesAndNewlines).trimmingPrefix("Error: "))
        throw CommandError("\(file) cannot be read: \(why); \(advice)")
    }
    guard values.count == expected else {
        throw CommandError("\(file) gave \(values.count) bytes of weights, not \(expected)")
    }
    var offset = 0
    return datasets.map { dataset in
        let count = dataset.shape.reduce(1, *)
        defer { offset += 4 * count }
        return values[offset..<offset + 4 * count].withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}

/// The child of `readHDF5InChildProcess`: reads the datasets and writes their float32 values, little-endian, one
/// after another.
struct ReadHDF5: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read-hdf5", abstract: "Internal: read float32 datasets of an HDF5 file in a process of its own.",
        shouldDisplay: false)

    @Argument var file: String
    @Argument var datasets: [String] = []

    func run() throws {
        // For the test that a crash of the reader ends the child alone.
        if ProcessInfo.processInfo.environment["MNIST_TRAIN_FAULT"] == "hdf5-reader-crash" { abort() }
        let wanted = try datasets.map { argument in
            guard let dataset = KerasWeights.Dataset(argument: argument) else { throw ValidationError("bad dataset \(argument)") }
            return dataset
        }
        var bytes: [UInt8] = []
        for values in try HDF5Datasets.read(file: file, wanted) {
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        }
        FileHandle.standardOutput.write(Data(bytes))
    }
}
