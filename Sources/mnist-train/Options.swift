import ArgumentParser
import Checkpoint
import Distributed
import Engine
import Foundation
import InputChecks
import Interop
import MNIST
import Training

/// `--model PRESET` or `--model-file FILE`.
struct ModelChoice: ParsableArguments {
    @Option(help: "Preset model: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).",
            transform: { try oneOf(Preset.self, $0) })
    var model: Preset?

    @Option(help: ArgumentHelp("A model defined in JSON instead of a preset (see the README).", valueName: "file"))
    var modelFile: String?

    /// The model to build, and its name for files and logs.
    /// The preset when neither --model nor --model-file is given.
    static let defaultPreset = Preset.convnet

    var preset: Preset { model ?? Self.defaultPreset }

    func validate() throws {
        if model != nil && modelFile != nil { throw ValidationError("--model and --model-file are alternatives; give one") }
    }

    /// The settings `fit` starts from: the preset's tutorial settings, or for a model file the custom defaults, with
    /// a `.keras` file's own compile settings over them.
    func trainingDefaults() throws -> TrainingConfiguration {
        guard let modelFile else { return preset.trainingDefaults }
        return try kerasTrainingDefaults(modelFile) ?? .custom
    }

    /// True when the user chose a model (a resumed run otherwise takes the checkpoint's).
    var isExplicit: Bool { model != nil || modelFile != nil }

    /// The model file's definition, or the preset's for images of `inputShape` in `classes` classes (MNIST's by
    /// default); a preset that cannot take the images fails with one line naming both.
    func definition(inputShape: [Int] = Preset.inputShape, classes: Int = 10) throws -> ModelDefinition {
        try resolved(inputShape: inputShape, classes: classes).definition
    }

    /// The definition, and for a model file of Keras' the names its layers' weights go by in Keras' HDF5 files
    /// (nil otherwise: the engine's names, which are Keras' automatic ones).
    func resolved(inputShape: [Int] = Preset.inputShape, classes: Int = 10) throws
        -> (definition: ModelDefinition, kerasNames: [String]?) {
        if let modelFile, KerasArchive.isArchive(modelFile) {
            do {
                let archive = try KerasArchive(modelFile)
                let definition = try archive.definition()
                _ = try definition.makeModel()
                return (definition, KerasJSON.layerNames(archive.config))
            } catch { throw CommandError("--model-file \(modelFile): \(error)") }
        }
        guard let modelFile else {
            let definition = preset.definition(inputShape: inputShape, classes: classes)
            do { _ = try definition.makeModel() } catch {
                throw CommandError("--model \(preset.rawValue) cannot take \(DataSetCheck.shape(inputShape)) images: \(error); "
                                       + "choose another preset, or define a model for them with --model-file")
            }
            return (definition, nil)
        }
        let data: Data
        do {
            // Room for a thousand layers of JSON many times over.
            data = Data(try RegularFile.contents(modelFile, limit: 16 << 20, what: "--model-file \(modelFile)"))
        } catch let error as InputError {
            throw CommandError(error.description.hasSuffix("does not exist") ? "--model-file \(modelFile): no such file" : error.description)
        }
        if let problem = jsonSyntaxProblem(data) { throw CommandError("--model-file \(modelFile): not valid JSON: \(problem)") }
        if let key = duplicateJSONKey(data) {
            throw CommandError("--model-file \(modelFile): \"\(shown(key))\" is given twice in one object; give it once")
        }
        do {
            // Keras' own JSON (model.to_json()) has a class_name at the top; this tool's has layers. Shape errors
            // come now, from makeModel, with the file named.
            if let json = try? JSONDecoder().decode(JSONValue.self, from: data), KerasJSON.isKeras(json) {
                let definition = try KerasJSON.definition(json)
                _ = try definition.makeModel()
                return (definition, KerasJSON.layerNames(json))
            }
            let definition = try JSONDecoder().decode(ModelDefinition.self, from: data)
            _ = try definition.makeModel()
            return (definition, nil)
        } catch let error as DecodingError {
            throw CommandError("--model-file \(modelFile): \(error.oneLine)")
        } catch {
            throw CommandError("--model-file \(modelFile): \(error)")
        }
    }

    /// Where the model comes from, as the user named it: for messages.
    var source: String { modelFile.map { "--model-file \($0)" } ?? "--model \(preset.rawValue)" }

    var name: String {
        modelFile.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? preset.rawValue
    }
}

/// For a `.keras` file, the custom defaults with its compile settings (optimizer, learning rate, loss) over them;
/// nil for any other file.
func kerasTrainingDefaults(_ path: String) throws -> TrainingConfiguration? {
    guard KerasArchive.isArchive(path) else { return nil }
    var defaults = TrainingConfiguration.custom
    if let settings = try KerasCompileSettings.read(try KerasArchive(path).config, path: path) {
        defaults.optimizer = OptimizerSpec(OptimizerSpec.Name(rawValue: settings.optimizer)!, learningRate: settings.learningRate,
                                           momentum: settings.momentum ?? 0, nesterov: settings.nesterov ?? false)
        defaults.loss = settings.loss
    }
    return defaults
}

/// `--data DIR`.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Directory holding the four IDX files of MNIST or of a set in its form, raw or .gz (default: $MNIST_DIR, else "
                               + "$XDG_CACHE_HOME/mnist-train/mnist, else ~/.cache/mnist-train/mnist).", valueName: "dir"))
    var data: String?

    var files: MNISTFiles { MNISTFiles(directory: data ?? MNISTFiles.defaultDirectory) }
}

/// `ModelCheck.check` against a data set of `classes` classes, its error naming where the model came from; a
/// `saved` (trained) model gets advice about the data instead of about its definition.
func checkModel(_ model: Sequential, fits data: Dataset, classes: Int, loss: Loss, source: String, saved: Bool) throws {
    do {
        try ModelCheck.check(model, sampleShape: data.sampleShape, classes: classes, loss: loss, saved: saved)
    } catch {
        throw CommandError("\(source): \(error)")
    }
}

/// The labels of `data` must be classes of `model`, which was saved with its class count.
func checkLabels(of data: Dataset, in path: String, fit model: Sequential, source: String) throws {
    let classes = model.classCount
    guard data.classesInLabels <= classes else {
        throw CommandError("\(path) has label \(data.classesInLabels - 1), but \(source) tells \(classes) classes apart "
                               + "(0-\(classes - 1)): use the data it was trained on")
    }
}

/// `--class-names FILE`: one name a line, as many as the classes.
func readClassNames(_ path: String, classes: Int) throws -> [String] {
    let bytes: [UInt8]
    do { bytes = try RegularFile.contents(path, limit: 1 << 20, what: "--class-names \(path)") } catch let error as InputError {
        throw CommandError(error.description.hasSuffix("does not exist") ? "--class-names \(path): no such file" : error.description)
    }
    guard let text = String(validating: bytes, as: UTF8.self) else {
        throw CommandError("--class-names \(path) is not UTF-8 text; give one name a line")
    }
    // Any line end: "\r\n" is one Character in Swift, and a separator of "\n" alone would not split it.
    var names = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }
    if names.last == "" { names.removeLast() }
    guard names.count == classes else {
        throw CommandError("--class-names \(path) has \(names.count) names for \(classes) classes: give one name a line, "
                               + "in label order")
    }
    if let bad = names.firstIndex(where: { !isClassName($0) }) {
        throw CommandError("--class-names \(path): line \(bad + 1) is empty, longer than 64 characters, or holds control "
                               + "or format characters; give one printable name a line")
    }
    return names
}

/// The class names a saved model carries in its metadata, if it carries a valid list for its classes.
func savedClassNames(_ metadata: [String: String], classes: Int) -> [String]? {
    guard let text = metadata["class_names"], let names = try? JSONDecoder().decode([String].self, from: Data(text.utf8)),
          names.count == classes, names.allSatisfy(isClassName) else { return nil }
    return names
}

/// 1-64 scalars, all printable (`isPrintable`): a name goes into tables, captions and terminals.
func isClassName(_ name: String) -> Bool {
    !name.isEmpty && name.unicodeScalars.count <= 64 && name.unicodeScalars.allSatisfy(isPrintable)
}

/// Parses a value of a string enum, or fails with one line listing the accepted values (ArgumentParser's own
/// message for enums spans a line per value).
func oneOf<T: RawRepresentable & CaseIterable>(_ type: T.Type, _ text: String) throws -> T where T.RawValue == String {
    guard let value = T(rawValue: text) else {
        throw ValidationError("use one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return value
}

/// Where JSON text stops being JSON, as "line L, column C: what", or nil when it parses. JSONDecoder says only
/// that the data is not valid; JSONSerialization names the byte offset, which is turned into a line and column.
func jsonSyntaxProblem(_ data: Data) -> String? {
    do {
        _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        return nil
    } catch {
        let text = (error as NSError).userInfo["NSDebugDescription"] as? String ?? "\(error)"
        if text.lowercased().contains("end of file") || data.isEmpty {
            let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
            return "it ends early, at line \(lines.count), column \((lines.last?.count ?? 0) + 1): check the file is complete"
        }
        guard let match = text.firstMatch(of: /(.*) around character (\d+)\.?/), let offset = Int(match.2) else { return text }
        let before = data.prefix(offset)
        let line = before.filter { $0 == 0x0A }.count + 1
        let column = offset - (before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
        return "line \(line), column \(column): \(match.1.lowercased())"
    }
}

extension DecodingError {
    /// One line: where in the JSON, and what was wrong.
    var oneLine: String {
        func path(_ context: Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch self {
        case .dataCorrupted(let context):
            let underlying = (context.underlyingError as? NSError)?.userInfo["NSDebugDescription"] as? String
            return "not valid JSON\(path(context).isEmpty ? "" : " at \(path(context))"): "
                + (underlying ?? context.debugDescription)
        case .keyNotFound(let key, let context): return "\(path(context)) is missing \"\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(self)"
        }
    }
}

/// A problem found while a command runs (a file, a model that does not fit the data): one line. ArgumentParser
/// follows a ValidationError with the usage text, which is right only for a mistyped command line.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The file a model argument names: itself, or for a checkpoint directory its newest readable checkpoint, as
/// `fit --resume DIR` takes it.
func modelFilePath(_ argument: String) throws -> String {
    guard isDirectory(argument) else { return argument }
    let newest: (path: String, contents: SafeTensors, bytes: [UInt8], warnings: [String])
    do { newest = try CheckpointDirectory(path: argument, keep: 1).newestValid() } catch {
        throw CommandError("\(argument) is a directory without a readable checkpoint; give a saved model (.safetensors.zst), "
                               + "a checkpoint, or a checkpoint directory")
    }
    newest.warnings.forEach { writeStandardError($0 + "\n") }
    return newest.path
}

func isDirectory(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
}
