import Foundation
import XCTest

/// `--model-file` takes Keras' own JSON (model.to_json(), the fixtures of Tests/InteropTests/Keras): summary gives
/// Keras' parameter count, fit trains it on 2 ranks, and an argument the engine has no form for is one line.
final class KerasModelFileTests: BinaryTestCase {
    static let fixtures = repository.appendingPathComponent("Tests/InteropTests/Keras").path

    func testKerasJSONSummarizesAndTrainsOnTwoRanks() throws {
        let convnet = Self.fixtures + "/keras3/convnet.json"
        let summary = try run(["summary", "--model-file", convnet])
        XCTAssertEqual(summary.status, 0, summary.error)
        XCTAssertTrue(summary.output.contains("Total params: 93,322"), summary.output)
        let fit = try run(["fit", "--model-file", Self.fixtures + "/keras2/lenet5.json", "--data", dataDirectory, "--epochs", "1",
                           "--train-samples", "1200", "--output", path("lenet5.safetensors.zst")], ranks: 2)
        XCTAssertEqual(fit.status, 0, fit.error)
        XCTAssertTrue(fit.output.contains("Test loss"), fit.output)
    }

    func testAnUnsupportedKerasArgumentIsOneLine() throws {
        let file = Self.fixtures + "/refused/kernel_regularizer.json"
        let result = try run(["fit", "--model-file", file, "--data", dataDirectory, "--epochs", "1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertEqual(result.error, "Error: --model-file \(file): layer dense (Dense): kernel_regularizer is not supported: the "
                       + "engine has no regularizers\n")
    }

    /// A `.keras` archive's compile settings are fit's defaults; a flag still overrides them.
    func testKerasArchiveTrainsWithItsCompileSettings() throws {
        let archive = Self.fixtures + "/keras3/custom.keras"
        let common = ["fit", "--model-file", archive, "--data", dataDirectory, "--epochs", "1", "--train-samples", "600",
                      "--output", path("custom.safetensors.zst")]
        let fit = try run(common)
        XCTAssertEqual(fit.status, 0, fit.error)
        XCTAssertTrue(fit.output.contains("sgd lr 0.05 momentum 0.9 nesterov, sparse_categorical_crossentropy"), fit.output)
        let overridden = try run(common + ["--lr", "0.01"])
        XCTAssertTrue(overridden.output.contains("sgd lr 0.01 momentum 0.9 nesterov"), overridden.output)
    }
}
