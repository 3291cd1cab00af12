import ArgumentParser
import Engine
import Foundation
import MNIST

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

    /// True when the user chose a model (a resumed run otherwise takes the checkpoint's).
    var isExplicit: Bool { model != nil || modelFile != nil }

    func definition() throws -> ModelDefinition {
        guard let modelFile else { return ModelDefinition(inputShape: Preset.inputShape, layers: preset.layers) }
        guard let data = FileManager.default.contents(atPath: modelFile) else {
            throw ValidationError("--model-file \(modelFile): no such file")
        }
        do {
            let definition = try JSONDecoder().decode(ModelDefinition.self, from: data)
            _ = try definition.makeModel()  // shape errors now, with the file named
            return definition
        } catch let error as DecodingError {
            throw ValidationError("--model-file \(modelFile): \(error.oneLine)")
        } catch {
            throw ValidationError("--model-file \(modelFile): \(error)")
        }
    }

    var name: String {
        modelFile.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension } ?? preset.rawValue
    }
}

/// `--data DIR`.
struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Directory holding the four MNIST IDX files, raw or .gz "
                               + "(default: $MNIST_DIR, else ~/.cache/mnist-train/mnist).", valueName: "dir"))
    var data: String?

    var files: MNISTFiles { MNISTFiles(directory: data ?? MNISTFiles.defaultDirectory) }
}

/// Parses a value of a string enum, or fails with one line listing the accepted values (ArgumentParser's own
/// message for enums spans a line per value).
func oneOf<T: RawRepresentable & CaseIterable>(_ type: T.Type, _ text: String) throws -> T where T.RawValue == String {
    guard let value = T(rawValue: text) else {
        throw ValidationError("use one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return value
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
