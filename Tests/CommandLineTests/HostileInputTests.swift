import Checkpoint
import Foundation
import XCTest

/// Hostile or damaged input through the commands users run: checkpoints whose training state lies, flags out of
/// range, a run that diverges, output that cannot be written, file text with terminal escapes, and a damaged
/// file under mpirun. Each must end in one line naming the problem, never a crash.
final class HostileInputTests: BinaryTestCase {
    var quick: [String] {
        ["fit", "--model", "mlp", "--data", dataDirectory, "--train-samples", "640", "--epochs", "2"]
    }

    /// A real checkpoint of a short mlp run (in `ckpt`), its path and contents.
    func checkpoint() throws -> (path: String, contents: SafeTensors) {
        let fit = try run(quick + ["--epochs", "1", "--checkpoint-dir", path("ckpt"), "--output", path("mlp.safetensors.zst")])
        XCTAssertEqual(fit.status, 0, fit.error)
        let latest = try XCTUnwrap(CheckpointDirectory(path: path("ckpt"), keep: 3).target(of: "latest"))
        return (latest, try CheckpointFile.read(latest))
    }

    /// `json` with `key` set to `value` (a JSON fragment), at the top level or in `object`.
    func edited(_ json: String, _ key: String, _ value: Any, in object: String? = nil) throws -> String {
        var top = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        if let object {
            var inner = try XCTUnwrap(top[object] as? [String: Any])
            inner[key] = value
            top[object] = inner
        } else {
            top[key] = value
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: top, options: [.sortedKeys]), as: UTF8.self)
    }

    func assertOneLine(_ result: Result, _ fragment: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(result.status, 0, what, file: file, line: line)
        XCTAssertTrue(result.error.contains(fragment), "\(what): expected '\(fragment)' in: \(result.error)", file: file, line: line)
        // ArgumentParser follows a usage error with its usage hint ("Usage:", "See ... --help").
        let lines = result.error.split(separator: "\n").filter { !$0.hasPrefix("Usage:") && !$0.contains("--help") }
        XCTAssertEqual(lines.count, 1, "\(what): \(result.error)", file: file, line: line)
    }

    func testCheckpointsWhoseTrainingStateLiesAreRefused() throws {
        let (latest, contents) = try checkpoint()
        let training = try XCTUnwrap(contents.metadata["training"]), progress = try XCTUnwrap(contents.metadata["progress"])
        // Each of these crashed (division by zero, a negative index, an abort) or trained on garbage.
        let lies: [(key: String, value: String, fragment: String)] = [
            ("training", try edited(training, "batch_size", 0), "batch_size 0 is outside"),
            ("training", try edited(training, "validation_split", 1.5), "validation_split 1.5 is outside [0, 1)"),
            ("training", try edited(training, "learning_rate", -1, in: "optimizer"), "learning_rate -1.0 is not a positive"),
            ("training", try edited(training, "patience", -3, in: "early_stopping"), "patience -3 is below 1"),
            ("progress", try edited(progress, "step_in_epoch", -5), "negative position"),
            ("progress", try edited(progress, "epoch", -3), "negative position"),
            ("progress", try edited(progress, "epoch_totals", [Double]()), "epoch_totals [] is not three"),
            ("progress", try edited(progress, "global_step", Int.max), "a position past 2^53"),
            ("optimizer", try edited(try XCTUnwrap(contents.metadata["optimizer"]), "iterations", Int.max), "optimizer iterations"),
            ("rng_states", #"["zz", "12"]"#, "rng_states are not hexadecimal"),
        ]
        for (index, lie) in lies.enumerated() {
            var forged = contents
            forged.metadata[lie.key] = lie.value
            let file = path("forged-\(index).safetensors.zst")
            try CheckpointFile.write(forged, to: file)
            let result = try run(["fit", "--data", dataDirectory, "--train-samples", "640", "--resume", file], timeout: 60)
            assertOneLine(result, lie.fragment, "\(lie.key) \(lie.value.prefix(60))")
            XCTAssertTrue(result.error.contains(file), result.error)
        }
        // A step past the end of its epoch is found once the data says how long the epoch is.
        var forged = contents
        forged.metadata["progress"] = try edited(progress, "step_in_epoch", 10_000)
        try CheckpointFile.write(forged, to: path("past.safetensors.zst"))
        let past = try run(["fit", "--data", dataDirectory, "--train-samples", "640", "--resume", path("past.safetensors.zst")])
        assertOneLine(past, "past the epoch's", "step_in_epoch 10000")

        // A damaged file in a checkpoint directory is passed over by --resume DIR, as a truncated one is.
        var nan = contents
        nan.tensors[0] = SafeTensors.Entry(name: nan.tensors[0].name, shape: nan.tensors[0].shape,
                                           values: nan.tensors[0].values.map { _ in .nan })
        try CheckpointFile.write(nan, to: path("ckpt/ckpt-999999999.safetensors.zst"))
        try Data("ckpt-999999999.safetensors.zst\n".utf8).write(to: URL(fileURLWithPath: path("ckpt/latest")))
        let skipped = try run(quick + ["--checkpoint-dir", path("ckpt"), "--resume", "--output", path("r.safetensors.zst")])
        XCTAssertEqual(skipped.status, 0, skipped.error)
        XCTAssertTrue(skipped.output.contains("warning: skipping") && skipped.output.contains("holds a value that is not finite"),
                      skipped.output)
        XCTAssertTrue(skipped.output.contains("Resuming \(latest)"), skipped.output)
    }

    func testFlagsOutOfRangeAndARunThatDiverges() throws {
        for (flags, fragment) in [(["--lr", "inf"], "--lr must be a positive finite number"),
                                  (["--lr", "1e40"], "--lr must be a positive finite number"),
                                  (["--optimizer", "sgd", "--momentum", "10"], "--momentum must be in [0, 1)"),
                                  (["--optimizer", "sgd", "--momentum", "-5"], "--momentum must be in [0, 1)"),
                                  (["--warmup-epochs", "nan"], "--warmup-epochs must be a finite number")] {
            assertOneLine(try run(quick + flags, timeout: 60), fragment, flags.joined(separator: " "))
        }
        // lenet5 under SGD at lr 1e37 turns the loss infinite within steps: the run stops there, before that state
        // is checkpointed, so the last checkpoint is the last good state.
        let diverged = try run(["fit", "--model", "lenet5", "--optimizer", "sgd", "--lr", "1e37", "--data", dataDirectory,
                                "--train-samples", "640", "--checkpoint-dir", path("diverge"), "--checkpoint-every-steps", "1",
                                "--output", path("d.safetensors.zst")])
        XCTAssertNotEqual(diverged.status, 0)
        XCTAssertTrue(diverged.error.contains("training diverged"), diverged.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("d.safetensors.zst")))
        // Whatever was checkpointed before it diverged holds finite weights (TrainerTests checks the guard itself).
        let directory = CheckpointDirectory(path: path("diverge"), keep: 3)
        for name in directory.checkpointFiles() {
            XCTAssertNoThrow(try ModelFile.load(directory.path + "/" + name), name)
        }
    }

    func testOutputThatCannotBeWrittenDoesNotEndTheRun() throws {
        let result = try launch(["sh", "-c", "exec \"$0\" \"$@\" > /dev/full", Self.binary] + quick
                                + ["--output", path("full.safetensors.zst")])
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("full.safetensors.zst")), "the model is saved")
        assertOneLine(try run(quick + ["--log", "/dev/full"], timeout: 60), "is not a regular file", "--log /dev/full")
    }

    func testAModelNameFromAFileDoesNotChooseWhereTheModelIsWritten() throws {
        var (_, contents) = try checkpoint()
        contents.metadata["name"] = "../escaped"
        try? FileManager.default.removeItem(atPath: path("../escaped.safetensors.zst"))  // from an earlier, failing run
        try CheckpointFile.write(contents, to: path("named.safetensors.zst"))
        let resumed = try run(["fit", "--data", dataDirectory, "--train-samples", "640", "--epochs", "2", "--resume",
                               path("named.safetensors.zst")])
        XCTAssertEqual(resumed.status, 0, resumed.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("../escaped.safetensors.zst")), "written outside")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("model.safetensors.zst")), resumed.output)
    }

    func testFIFOsAndMismatchedTestImagesAreRefusedAtOnce() throws {
        XCTAssertEqual(mkfifo(path("fifo"), 0o600), 0)
        assertOneLine(try run(["summary", "--model-file", path("fifo")], timeout: 30), "is not a regular file", "model file FIFO")
        assertOneLine(try run(quick + ["--log", path("fifo")], timeout: 30), "is not a regular file", "log FIFO")
        // Training images of 28x28 and test images of 14x14: refused before training, not at the final test.
        let data = path("mixed-data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for name in ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"] {
            let source = (dataDirectory as NSString).appendingPathComponent(name)
            let raw = FileManager.default.fileExists(atPath: source) ? source : source + ".gz"
            XCTAssertEqual(symlink(raw, data + "/" + (raw.hasSuffix(".gz") ? name + ".gz" : name)), 0)
        }
        let header: [UInt32] = [2051, 10, 14, 14]
        try Data(header.flatMap { withUnsafeBytes(of: $0.bigEndian, Array.init) } + [UInt8](repeating: 0, count: 1960))
            .write(to: URL(fileURLWithPath: data + "/t10k-images-idx3-ubyte"))
        try Data([UInt32(2049), 10].flatMap { withUnsafeBytes(of: $0.bigEndian, Array.init) } + [UInt8](repeating: 1, count: 10))
            .write(to: URL(fileURLWithPath: data + "/t10k-labels-idx1-ubyte"))
        let mixed = try run(["fit", "--model", "mlp", "--data", data, "--train-samples", "640"], timeout: 60)
        assertOneLine(mixed, "\(data)/t10k-images-idx3-ubyte holds 14x14x1 images", "mixed shapes")
        XCTAssertFalse(mixed.output.contains("Epoch 1"), mixed.output)
    }

    func testInspectShowsTerminalEscapesInsteadOfSendingThem() throws {
        var (_, contents) = try checkpoint()
        contents.metadata["name"] = "\u{1B}]0;pwned\u{7}\u{1B}[2J" + String(repeating: "x", count: 1_000_000)
        try CheckpointFile.write(contents, to: path("escapes.safetensors.zst"))
        let inspect = try run(["inspect", path("escapes.safetensors.zst")])
        XCTAssertEqual(inspect.status, 0, inspect.error)
        XCTAssertFalse(inspect.output.contains("\u{1B}") || inspect.output.contains("\u{7}"), "escape sequences reach the terminal")
        XCTAssertTrue(inspect.output.contains("\\u{1b}]0;pwned\\u{7}"), inspect.output.prefix(500).description)
        XCTAssertLessThan(inspect.output.count, 20_000, "a megabyte of metadata is cut, not echoed")
    }

    func testADamagedCheckpointUnderMPIIsNamedByTheRankThatReadIt() throws {
        let (latest, _) = try checkpoint()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: latest))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path("cut.safetensors.zst")))
        let result = try run(quick + ["--resume", path("cut.safetensors.zst")], ranks: 2, timeout: 60)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.contains("rank 0") && result.error.contains("\(path("cut.safetensors.zst")) is truncated"),
                      result.error)
        XCTAssertFalse(result.error.contains("stopped answering"), "no other rank blames the network: \(result.error)")
        XCTAssertLessThan(result.seconds, 30)
    }
}
