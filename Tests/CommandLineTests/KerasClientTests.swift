import Foundation
import XCTest

/// Keras 3 itself (deploy/python-clients.sh installs it with JAX's CPU backend; keras_client.py drives it) on both
/// sides of this tool: models built in Keras have Keras' parameter counts here; every preset and a custom model go
/// Keras JSON → fit on 2 ranks → export --keras → keras.models.load_model with predict's probabilities; and a
/// model trained in Keras starts fit --init-from at Keras' accuracy. Skipped, saying why, only where there is no
/// python3.
final class KerasClientTests: BinaryTestCase {
    static let models = ["mlp", "mlp-bn", "cnn-small", "cnn-bn", "convnet", "convnet-dropout", "lenet5", "custom"]

    /// keras_client.py's JSON for `arguments`.
    func keras<T: Decodable>(_ type: T.Type, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> T {
        let python = try clientsPython()
        let client = Self.repository.appendingPathComponent("Tests/CommandLineTests/keras_client.py").path
        let result = try launch(["env", "KERAS_BACKEND=jax", python, client] + arguments, timeout: 600)
        XCTAssertEqual(result.status, 0, result.error, file: file, line: line)
        return try JSONDecoder().decode(T.self, from: Data(result.output.utf8))
    }

    struct Built: Decodable { let counts: [String: Int] }

    /// The models Keras builds, once for the class (starting Keras takes seconds): their folder and counts.
    nonisolated(unsafe) static var built: (directory: String, counts: [String: Int])?

    override class func tearDown() {
        if let built { try? FileManager.default.removeItem(atPath: built.directory) }
        super.tearDown()
    }

    func builtInKeras() throws -> (directory: String, counts: [String: Int]) {
        if let built = Self.built { return built }
        let folder = NSTemporaryDirectory() + "keras-built-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        Self.built = (folder, try keras(Built.self, ["build", folder]).counts)
        return Self.built!
    }

    func testModelsBuiltInKerasHaveKerasParameterCountsInSummary() throws {
        let built = try builtInKeras()
        XCTAssertEqual(Set(built.counts.keys), Set(Self.models))
        let formatter = NumberFormatter()
        (formatter.numberStyle, formatter.locale) = (.decimal, Locale(identifier: "en_US"))
        for (name, count) in built.counts {
            for file in [built.directory + "/\(name).json", built.directory + "/\(name).keras"] {
                let summary = try run(["summary", "--model-file", file])
                XCTAssertEqual(summary.status, 0, summary.error)
                XCTAssertTrue(summary.output.contains("Total params: \(formatter.string(from: count as NSNumber)!)\n"),
                              "\(file): Keras counts \(count)\n\(summary.output)")
            }
        }
    }

    struct Check: Decodable {
        let count: Int, correct: Int
        let largestDifference: Double
        let argmaxDifferences: Int
        let optimizer: String?
        let learningRate: Double?
        let loss: String?

        enum CodingKeys: String, CodingKey {
            case count, correct, optimizer, loss
            case largestDifference = "largest_difference", argmaxDifferences = "argmax_differences", learningRate = "learning_rate"
        }
    }

    struct Evaluation: Decodable { let correct: Int, count: Int }

    /// Keras JSON → fit one epoch (of 2,000 digits, for time) on 2 ranks → export --keras → load_model: on the
    /// 10,000 test images Keras gives predict's probabilities within 1e-5, the same argmax on every image, so
    /// evaluate's correct count, and the compile settings the model was trained with.
    func testEveryPresetRoundTripsThroughKeras() throws {
        let built = try builtInKeras()
        let testImages = (dataDirectory as NSString).appendingPathComponent("t10k-images-idx3-ubyte")
        var pairs: [String] = [], evaluations: [String: Evaluation] = [:], settings: [String: String] = [:]
        for name in Self.models {
            let saved = path("\(name).safetensors.zst"), exported = path("\(name)-trained.keras")
            let fit = try run(["fit", "--model-file", built.directory + "/\(name).json", "--data", dataDirectory, "--epochs", "1",
                               "--train-samples", "2000", "--output", saved], ranks: 2)
            XCTAssertEqual(fit.status, 0, "\(name): \(fit.error)")
            settings[name] = fit.output.split(separator: "\n").first.map(String.init)
            let export = try run(["export", saved, "--keras", exported])
            XCTAssertEqual(export.status, 0, "\(name): \(export.error)")
            let images = FileManager.default.fileExists(atPath: testImages) ? testImages : testImages + ".gz"
            let predicted = try run(["predict", saved, "--image", images, "--json"])
            XCTAssertEqual(predicted.status, 0, predicted.error)
            try predicted.output.write(toFile: path("\(name)-predictions.json"), atomically: true, encoding: .utf8)
            let evaluated = try run(["evaluate", saved, "--data", dataDirectory, "--json"])
            XCTAssertEqual(evaluated.status, 0, evaluated.error)
            evaluations[name] = try JSONDecoder().decode(Evaluation.self, from: Data(evaluated.output.utf8))
            pairs += [exported, path("\(name)-predictions.json")]
        }
        let checks = try keras([String: Check].self, ["check", dataDirectory] + pairs)
        for name in Self.models {
            let check = try XCTUnwrap(checks["\(name)-trained.keras"], name)
            XCTAssertEqual(check.count, 10_000, name)
            XCTAssertEqual(check.argmaxDifferences, 0, "\(name): predictions differ")
            XCTAssertLessThanOrEqual(check.largestDifference, 1e-5, "\(name): probabilities differ")
            XCTAssertEqual(check.correct, evaluations[name]?.correct, "\(name): Keras' accuracy is not evaluate's")
            // The model files built in Keras are uncompiled: fit trains with the custom defaults, and the
            // export compiles the Keras model with them.
            XCTAssertEqual(check.optimizer, "Adam", name)
            XCTAssertEqual(try XCTUnwrap(check.learningRate, name), 0.001, accuracy: 1e-9, name)
            XCTAssertEqual(check.loss, "sparse_categorical_crossentropy", name)
            XCTAssertTrue(settings[name]?.contains("adam lr 0.001, sparse_categorical_crossentropy") ?? false,
                          "\(name): \(settings[name] ?? "")")
        }
    }

    struct Trained: Decodable {
        let testAccuracy: Double
        enum CodingKeys: String, CodingKey { case testAccuracy = "test_accuracy" }
    }

    /// A model trained one epoch in Keras, continued here on 2 ranks from its `.keras` file and from its weights
    /// alone (with its to_json()): before the first step its test accuracy is Keras' within 0.1 point.
    func testAModelTrainedInKerasIsFineTunedFromKerasAccuracy() throws {
        let trained = try keras(Trained.self, ["train", directory, dataDirectory])
        let keras = path("keras-trained.keras"), weights = path("keras-trained.weights.h5"), json = path("keras-trained.json")
        for (source, flags) in [(keras, ["--init-from", keras]), (weights, ["--init-from", weights, "--model-file", json])] {
            let log = path("fine-tune.jsonl")
            try? FileManager.default.removeItem(atPath: log)
            let fit = try run(["fit"] + flags + ["--data", dataDirectory, "--epochs", "1", "--train-samples", "2000",
                                                 "--output", path("tuned.safetensors.zst"), "--log", log], ranks: 2)
            XCTAssertEqual(fit.status, 0, "\(source): \(fit.error)")
            XCTAssertTrue(fit.output.contains("Before the first step, \(source) gives test loss"), fit.output)
            let records = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map {
                try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
            let start = try XCTUnwrap(records.first { $0["event"] as? String == "init_test" }, "\(source): no init_test record")
            XCTAssertEqual(try XCTUnwrap(start["accuracy"] as? Double), trained.testAccuracy, accuracy: 0.001, source)
            XCTAssertLessThan(records.firstIndex { $0["event"] as? String == "init_test" }!,
                              try XCTUnwrap(records.firstIndex { $0["event"] as? String == "epoch" }), "before the first epoch")
        }
    }
}
