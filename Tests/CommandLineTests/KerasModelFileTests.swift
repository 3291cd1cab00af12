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

    /// A model trained one epoch in Keras (the fixture script saved its test accuracy): evaluate gives that accuracy
    /// within 0.1 point, and fit --init-from continues it on 2 ranks with its compile settings.
    func testAKerasTrainedModelEvaluatesAsInKerasAndIsFineTunedOnTwoRanks() throws {
        let trained = Self.fixtures + "/keras3/trained.keras"
        struct Expected: Decodable { let test_accuracy: Double }
        let keras = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/keras3/trained.json")))
        let evaluated = try run(["evaluate", trained, "--data", dataDirectory, "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.error)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(report["accuracy"] as? Double), keras.test_accuracy, accuracy: 0.001)
        let fit = try run(["fit", "--init-from", trained, "--data", dataDirectory, "--epochs", "1", "--train-samples", "2000",
                           "--output", path("tuned.safetensors.zst")], ranks: 2)
        XCTAssertEqual(fit.status, 0, fit.error)
        XCTAssertTrue(fit.output.contains("adam lr 0.001, sparse_categorical_crossentropy"), fit.output)
        let inspected = try run(["inspect", trained])
        XCTAssertTrue(inspected.output.contains("conv2d/kernel") && inspected.output.contains("[3, 3, 1, 16]"), inspected.output)
    }

    /// Keras' weights alone (model.save_weights) start fit in the model --model-file names, at Keras' accuracy; without
    /// a model, with a model they do not fit, or where a whole model is wanted, they are one line.
    func testKerasWeightsAloneStartFitInTheModelNamed() throws {
        let weights = Self.fixtures + "/keras3/trained.weights.h5", trained = Self.fixtures + "/keras3/trained.keras"
        struct Expected: Decodable { let test_accuracy: Double }
        let keras = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/keras3/trained.json")))
        let common = ["fit", "--init-from", weights, "--data", dataDirectory, "--epochs", "1", "--train-samples", "600",
                      "--output", path("tuned.safetensors.zst")]
        let fit = try run(common + ["--model-file", trained, "--log", path("fit.jsonl")])
        XCTAssertEqual(fit.status, 0, fit.error)
        let start = try String(contentsOfFile: path("fit.jsonl"), encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["event"] as? String == "init_test" }
        XCTAssertEqual(try XCTUnwrap(start?["accuracy"] as? Double), keras.test_accuracy, accuracy: 0.001)
        let alone = try run(common)
        XCTAssertNotEqual(alone.status, 0)
        XCTAssertEqual(alone.error, "Error: --init-from \(weights) holds Keras weights alone (model.save_weights): name their "
                       + "model with --model-file (its model.to_json() or .keras) or --model\n")
        let otherModel = try run(common + ["--model", "mlp"])
        XCTAssertNotEqual(otherModel.status, 0)
        XCTAssertEqual(otherModel.error, "Error: \(weights) cannot be read: layers/dense/vars/0 has shape [2704, 10], the model's "
                       + "weight [784, 100]; give --model-file the Keras model they were saved from (its model.to_json() or .keras)\n")
        let evaluated = try run(["evaluate", weights, "--data", dataDirectory])
        XCTAssertNotEqual(evaluated.status, 0)
        XCTAssertEqual(evaluated.error, "Error: \(weights) holds Keras weights alone (model.save_weights), not a model: give the "
                       + ".keras file model.save wrote\n")
    }

    /// libhdf5 runs in a child: weights it cannot read, or a crash of the reader (MNIST_TRAIN_FAULT makes the child
    /// abort), end the command with one line, not with this process.
    func testDamagedKerasWeightsAreOneLine() throws {
        let trained = Self.fixtures + "/keras3/trained.keras"
        let crashed = try launch(["env", "MNIST_TRAIN_FAULT=hdf5-reader-crash", Self.binary, "evaluate", trained, "--data", dataDirectory],
                                 timeout: 60)
        XCTAssertNotEqual(crashed.status, 0)
        XCTAssertEqual(crashed.error, "Error: \(trained): its model.weights.h5 cannot be read: libhdf5 crashed on it (signal 6); "
                       + "save the model again\n")
    }

    /// export --keras writes what the Keras reader takes back: the same model, evaluating to the same accuracy
    /// and the same loss. (keras.models.load_model on it gave predict's probabilities within 2e-6 by hand; the test
    /// with Keras itself is to come.)
    func testExportedKerasArchiveReadsBackAsTheSameModel() throws {
        let saved = path("mlp-bn.safetensors.zst"), keras = path("mlp-bn.keras")
        let fit = try run(["fit", "--model", "mlp-bn", "--data", dataDirectory, "--epochs", "1", "--train-samples", "1000",
                           "--output", saved, "--quiet"])
        XCTAssertEqual(fit.status, 0, fit.error)
        let export = try run(["export", saved, "--keras", keras])
        XCTAssertEqual(export.status, 0, export.error)
        let original = try run(["evaluate", saved, "--data", dataDirectory, "--json"])
        let roundTrip = try run(["evaluate", keras, "--data", dataDirectory, "--json"])
        XCTAssertEqual(roundTrip.status, 0, roundTrip.error)
        func figures(_ result: Result) throws -> [Double] {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
            return [try XCTUnwrap(object["accuracy"] as? Double), try XCTUnwrap(object["loss"] as? Double)]
        }
        XCTAssertEqual(try figures(roundTrip), try figures(original))
    }
}
