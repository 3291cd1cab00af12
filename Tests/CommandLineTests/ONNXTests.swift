import Foundation
import XCTest

/// `export --onnx` checked by the real runtime (deploy/python-clients.sh installs onnx and onnxruntime into a
/// virtual environment; check_onnx.py runs them): every preset and a custom model pass onnx.checker's full check,
/// and onnxruntime's probabilities on the 10,000 test images match `predict`'s within 1e-5, with the same
/// prediction for every image. Skipped, saying why, only where there is no python3.
final class ONNXTests: BinaryTestCase {
    struct Check: Decodable {
        let input: [String], output: [String]
        let opset: Int, count: Int
        let largestDifference: Double
        let argmaxDifferences: Int
        let metadata: [String: String]

        enum CodingKeys: String, CodingKey {
            case input, output, opset, count, metadata
            case largestDifference = "largest_difference", argmaxDifferences = "argmax_differences"
        }
    }

    var testImages: String {
        let raw = (dataDirectory as NSString).appendingPathComponent("t10k-images-idx3-ubyte")
        return FileManager.default.fileExists(atPath: raw) ? raw : raw + ".gz"
    }

    /// Trains `model` briefly, exports it and checks the export against `predict` on the test images.
    func trainExportAndCheck(_ model: [String], name: String, python: String,
                             file: StaticString = #filePath, line: UInt = #line) throws -> Check {
        let saved = path("\(name).safetensors.zst"), onnx = path("\(name).onnx"), predictions = path("\(name).json")
        let fit = try run(["fit"] + model + ["--data", dataDirectory, "--epochs", "1", "--train-samples", "600",
                                             "--output", saved, "--quiet"])
        XCTAssertEqual(fit.status, 0, fit.error, file: file, line: line)
        let export = try run(["export", saved, "--onnx", onnx])
        XCTAssertEqual(export.status, 0, export.error, file: file, line: line)
        XCTAssertTrue(export.output.contains(#"input "input" float32 [N, 28, 28, 1] in 0-1, output "probabilities" float32 [N, 10]"#),
                      export.output, file: file, line: line)
        let predicted = try run(["predict", saved, "--image", testImages, "--json"])
        XCTAssertEqual(predicted.status, 0, predicted.error, file: file, line: line)
        try predicted.output.write(toFile: predictions, atomically: true, encoding: .utf8)
        let checker = Self.repository.appendingPathComponent("Tests/CommandLineTests/check_onnx.py").path
        let checked = try launch([python, checker, onnx, predictions, testImages], timeout: 300)
        XCTAssertEqual(checked.status, 0, "\(name): \(checked.error)", file: file, line: line)
        let check = try JSONDecoder().decode(Check.self, from: Data(checked.output.utf8))
        XCTAssertEqual(check.count, 10_000, file: file, line: line)
        XCTAssertEqual(check.argmaxDifferences, 0, "\(name): predictions differ", file: file, line: line)
        XCTAssertLessThanOrEqual(check.largestDifference, 1e-5, "\(name): probabilities differ", file: file, line: line)
        XCTAssertEqual(check.input, ["input", "N", "28", "28", "1"], file: file, line: line)
        XCTAssertEqual(check.output, ["probabilities", "N", "10"], file: file, line: line)
        XCTAssertEqual(check.opset, 17, file: file, line: line)
        return check
    }

    func testEveryPresetRunsInONNXRuntimeAsInPredict() throws {
        let python = try clientsPython()
        for preset in ["mlp", "mlp-bn", "cnn-small", "cnn-bn", "convnet", "convnet-dropout", "lenet5"] {
            let check = try trainExportAndCheck(["--model", preset], name: preset, python: python)
            XCTAssertEqual(check.metadata["name"], preset)
            XCTAssertNotNil(check.metadata["training"].flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) },
                            "\(preset): the training configuration as JSON")
            XCTAssertNotNil(check.metadata["test_accuracy"].flatMap(Double.init), "\(preset): the test accuracy")
        }
    }

    /// Strides (one of them uneven), 'same' padding on convolution and pooling, batch normalization of images and
    /// of vectors, every activation, dropout, and softmax as a layer of its own.
    func testCustomModelWithStridesSamePaddingAndBatchNormalization() throws {
        let python = try clientsPython()
        let definition = """
            {"input_shape": [28, 28, 1], "layers": [
              {"type": "Conv2D", "filters": 8, "kernel_size": 5, "strides": 2, "padding": "same", "activation": "relu"},
              {"type": "BatchNormalization"},
              {"type": "Conv2D", "filters": 12, "kernel_size": [3, 2], "strides": [2, 1], "padding": "same", "activation": "selu"},
              {"type": "MaxPooling2D", "pool_size": 3, "strides": 2, "padding": "same"},
              {"type": "Flatten"},
              {"type": "Dense", "units": 32, "activation": "tanh"},
              {"type": "BatchNormalization"},
              {"type": "Dropout", "rate": 0.3},
              {"type": "Dense", "units": 16, "activation": "sigmoid"},
              {"type": "Dense", "units": 10},
              {"type": "Activation", "activation": "softmax"}]}
            """
        let file = path("custom.json")
        try definition.write(toFile: file, atomically: true, encoding: .utf8)
        _ = try trainExportAndCheck(["--model-file", file], name: "custom", python: python)
    }
}
