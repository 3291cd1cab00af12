import Foundation
import XCTest

/// `fit --tensorboard` read back by TensorBoard's own EventAccumulator (deploy/python-clients.sh installs it into
/// a virtual environment): the scalars equal the JSON log's, every weight and gradient has its histograms, the
/// validation run its grid of mistakes, and a resumed run leaves every step there once. Skipped, saying why, only
/// where there is no python3.
final class TensorBoardTests: BinaryTestCase {
    /// What read_tensorboard.py prints, run by run.
    struct Run: Decodable {
        let scalars: [String: [[Double]]]
        let histograms: [String: [[Double]]]
        let images: [String: [[Double]]]
        let text: [String: [Text]]
        struct Text: Decodable { let step: Int, text: String }
    }

    func read(_ logdir: String) throws -> [String: Run] {
        let python = try clientsPython()
        let reader = Self.repository.appendingPathComponent("Tests/CommandLineTests/read_tensorboard.py").path
        let result = try launch([python, reader, logdir], timeout: 300)
        XCTAssertEqual(result.status, 0, result.error)
        return try JSONDecoder().decode([String: Run].self, from: Data(result.output.utf8))
    }

    /// The JSON log's records of `event`, the last of each key where a resumed run wrote some again.
    func records(_ event: String, in log: String, key: ([String: Any]) -> Int) throws -> [Int: [String: Any]] {
        var found: [Int: [String: Any]] = [:]
        for line in try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n") {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if object["event"] as? String == event { found[key(object)] = object }
        }
        return found
    }

    func testTwoRankRunReadsBackAsItsLogAndResumesWithoutRepeatingAStep() throws {
        let (board, log, checkpoints) = (path("tb"), path("log.jsonl"), path("ckpt"))
        let common = ["fit", "--model", "convnet", "--train-samples", "1600", "--validation-split", "0.25", "--log-every", "5",
                      "--data", dataDirectory, "--tensorboard", board, "--log", log, "--checkpoint-dir", checkpoints,
                      "--output", path("model.safetensors.zst")]
        let first = try run(common + ["--epochs", "2"], ranks: 2)
        XCTAssertEqual(first.status, 0, first.error)
        // Again from the first epoch's checkpoint: the directories already hold epoch 2, which must not double.
        let epochOne = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: checkpoints)
            .filter { $0.hasPrefix("ckpt-") }.sorted().first)
        let resumed = try run(common + ["--epochs", "3", "--resume", checkpoints + "/" + epochOne], ranks: 2)
        XCTAssertEqual(resumed.status, 0, resumed.error)

        let runs = try read(board)
        XCTAssertEqual(Set(runs.keys), ["train", "validation"])
        let train = try XCTUnwrap(runs["train"]), validation = try XCTUnwrap(runs["validation"])
        let stepRecords = try records("step", in: log) { ($0["epoch"] as! Int - 1) * ($0["steps"] as! Int) + ($0["step"] as! Int) }
        let epochs = try records("epoch", in: log) { $0["epoch"] as! Int }
        XCTAssertEqual(Set(epochs.keys), [1, 2, 3])
        func series(_ run: Run, _ tag: String) throws -> [(step: Int, value: Double)] {
            try XCTUnwrap(run.scalars[tag], "no scalar \(tag)").map { (Int($0[0]), $0[1]) }
        }
        func assertEqual(_ run: Run, _ tag: String, _ expected: [Int: [String: Any]], _ value: ([String: Any]) -> Double) throws {
            let written = try series(run, tag)
            XCTAssertEqual(written.map(\.step), expected.keys.sorted(), "\(tag): each step once, in order")
            for (step, written) in written {
                // TensorBoard keeps scalars as float32.
                XCTAssertEqual(written, Double(Float(value(expected[step]!))), "\(tag) at step \(step)")
            }
        }
        try assertEqual(train, "batch_loss", stepRecords) { $0["loss"] as! Double }
        try assertEqual(train, "batch_accuracy", stepRecords) { $0["accuracy"] as! Double }
        try assertEqual(train, "batch_samples_per_second", stepRecords) { $0["samples_per_second"] as! Double }
        try assertEqual(train, "batch_learning_rate", stepRecords) { $0["learning_rate"] as! Double }
        for (tag, field) in [("compute", "compute_seconds"), ("communication", "communication_seconds")] {
            for part in ["min", "mean", "max"] {
                try assertEqual(train, "batch_\(tag)_seconds/\(part)", stepRecords) { ($0[field] as! [String: Double])[part]! }
            }
        }
        try assertEqual(train, "epoch_loss", epochs) { $0["loss"] as! Double }
        try assertEqual(train, "epoch_accuracy", epochs) { $0["accuracy"] as! Double }
        try assertEqual(train, "epoch_seconds", epochs) { $0["seconds"] as! Double }
        try assertEqual(train, "epoch_resident_mib", epochs) { $0["resident_mib"] as! Double }
        try assertEqual(validation, "epoch_loss", epochs) { $0["val_loss"] as! Double }
        try assertEqual(validation, "epoch_accuracy", epochs) { $0["val_accuracy"] as! Double }

        // convnet's four weights of each of its layers with them, and a gradient of each, every epoch.
        let weights = ["conv2d/kernel", "conv2d/bias", "conv2d_1/kernel", "conv2d_1/bias", "dense/kernel", "dense/bias",
                       "dense_1/kernel", "dense_1/bias"]
        for tag in weights + weights.map { $0 + "/gradient" } {
            let histograms = try XCTUnwrap(train.histograms[tag], "no histogram \(tag)")
            XCTAssertEqual(histograms.map { Int($0[0]) }, [1, 2, 3], tag)
            XCTAssertTrue(histograms.allSatisfy { $0[1] > 0 && $0[2] <= $0[3] }, "\(tag): \(histograms)")
        }
        let grid = try XCTUnwrap(validation.images["misclassified/label>prediction"], "no image grid")
        XCTAssertEqual(grid.map { Int($0[0]) }, [1, 2, 3])
        XCTAssertTrue(grid.allSatisfy { $0[1] >= 30 && $0[2] >= 42 && $0[3] == 1 }, "\(grid)")
        let configuration = try XCTUnwrap(train.text["configuration"])
        XCTAssertEqual(configuration.count, 1, "the configuration is written by the first run only")
        XCTAssertEqual(configuration[0].step, 0)
        XCTAssertTrue(configuration[0].text.contains("convnet, 2 ranks"), configuration[0].text)
    }

    func testADirectoryThatCannotBeMadeGetsOneLine() throws {
        FileManager.default.createFile(atPath: path("file"), contents: Data())
        let result = try run(["fit", "--model", "mlp", "--epochs", "1", "--train-samples", "200", "--data", dataDirectory,
                              "--tensorboard", path("file"), "--output", path("model.safetensors.zst")])
        XCTAssertEqual(result.status, 1)
        let lines = result.error.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, result.error)
        XCTAssertTrue(result.error.contains("\(path("file"))/train: Not a directory; --tensorboard must name a directory"),
                      result.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("model.safetensors.zst")), "nothing trained")
    }
}
