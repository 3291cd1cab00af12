import Checkpoint
import Foundation
import XCTest

/// What keeps a run's work from being lost or mixed up: output paths checked before training, one job per
/// checkpoint directory, resumes that keep the run's own settings and say when it is complete, and a stop
/// signal that ends an mpirun job cleanly with a command that continues it.
final class RunSafetyTests: BinaryTestCase {
    var quick: [String] {
        ["fit", "--model", "mlp", "--data", dataDirectory, "--train-samples", "640", "--epochs", "1", "--log-every", "5"]
    }

    func testOutputPathsThatCannotBeWrittenFailBeforeTraining() throws {
        try FileManager.default.createDirectory(atPath: path("a-directory"), withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: path("a-file"), contents: Data()))
        let cases: [([String], String)] = [
            (["--output", path("missing/model.safetensors.zst")], "the directory \(path("missing")) does not exist"),
            (["--output", path("a-directory")], "--output \(path("a-directory")): is a directory"),
            (["--output", "/proc/model.safetensors.zst"], "cannot write in /proc"),
            (["--checkpoint-dir", path("a-file")], "--checkpoint-dir \(path("a-file")): is a file, not a directory"),
            (["--checkpoint-dir", "/proc/checkpoints"], "--checkpoint-dir /proc/checkpoints: cannot create"),
            (["--log", path("missing/log.jsonl")], "--log \(path("missing/log.jsonl")): the directory \(path("missing")) does not exist"),
        ]
        for (flags, fragment) in cases {
            let result = try run(quick + flags, timeout: 60)
            XCTAssertNotEqual(result.status, 0, "\(flags)")
            XCTAssertTrue(result.error.contains(fragment), "expected '\(fragment)' in: \(result.error)")
            XCTAssertEqual(result.error.split(separator: "\n").count, 1, result.error)
            XCTAssertFalse(result.output.contains("Epoch 1"), "\(flags): nothing may train before the check")
        }
    }

    func testASecondJobCannotWriteIntoACheckpointDirectoryInUse() throws {
        let directory = path("shared-checkpoints")
        let long = ["fit", "--model", "lenet5", "--data", dataDirectory, "--epochs", "5", "--checkpoint-dir", directory,
                    "--output", path("a.safetensors.zst")]
        let lockFile = directory + "/lock", secondJob = quick + ["--checkpoint-dir", directory, "--output", path("b.safetensors.zst")]
        let first = try run(long, whileRunning: { process in
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline, ((try? String(contentsOfFile: lockFile, encoding: .utf8)) ?? "").isEmpty { usleep(20_000) }
            let second = try? Self.runBinary(secondJob)
            XCTAssertNotEqual(second?.status, 0)
            XCTAssertTrue(second?.error.contains("--checkpoint-dir \(directory) is in use by another job (pid "
                                                 + "\(process.processIdentifier) on ") ?? false, second?.error ?? "")
            kill(process.processIdentifier, SIGTERM)
        })
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("b.safetensors.zst")))
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertTrue(first.output.contains("Stopped by a signal"), first.output)

        // The first job is gone: a new run there is refused without --resume, and starts over when told to.
        let saved = CheckpointDirectory(path: directory, keep: 3).checkpointFiles()
        let newest = try XCTUnwrap(saved.last, "the stopped job saved a checkpoint")
        let mixed = try run(quick + ["--checkpoint-dir", directory], timeout: 60)
        XCTAssertNotEqual(mixed.status, 0)
        XCTAssertTrue(mixed.error.contains("holds another run's checkpoints, newest \(newest)"), mixed.error)
        // Resuming another run's checkpoint into this directory would mix them as well.
        let other = try run(quick + ["--checkpoint-dir", path("other")])
        XCTAssertEqual(other.status, 0, other.error)
        let otherLatest = try XCTUnwrap(CheckpointDirectory(path: path("other"), keep: 3).target(of: "latest"))
        let crossed = try run(quick + ["--epochs", "2", "--checkpoint-dir", directory, "--resume", otherLatest], timeout: 60)
        XCTAssertNotEqual(crossed.status, 0)
        XCTAssertTrue(crossed.error.contains("is elsewhere: the two runs would mix there"), crossed.error)
        // --overwrite-checkpoints deletes nothing when the run then fails to start.
        let failing = try run(quick + ["--checkpoint-dir", directory, "--overwrite-checkpoints", "--model-file", path("absent.json")],
                              timeout: 60)
        XCTAssertNotEqual(failing.status, 0)
        XCTAssertEqual(CheckpointDirectory(path: directory, keep: 3).checkpointFiles(), saved, "a failed start deleted the run")
        let over = try run(quick + ["--checkpoint-dir", directory, "--overwrite-checkpoints", "--output", path("c.safetensors.zst")])
        XCTAssertEqual(over.status, 0, over.error)
        let now = CheckpointDirectory(path: directory, keep: 3)
        XCTAssertTrue(Set(now.checkpointFiles()).isDisjoint(with: saved), "the earlier run's checkpoints are gone")
        XCTAssertNotNil(now.target(of: "latest"))
        XCTAssertNil(now.target(of: "best"), "best named the earlier run's file")
    }

    func trainingSettings(_ checkpoint: String) throws -> [String: Any] {
        let metadata = try CheckpointFile.read(checkpoint).metadata
        return try XCTUnwrap(JSONSerialization.jsonObject(with: Data(try XCTUnwrap(metadata["training"]).utf8)) as? [String: Any])
    }

    func testResumeKeepsTheRunsSettingsAndSaysWhenTheRunIsComplete() throws {
        let directory = CheckpointDirectory(path: path("settings"), keep: 3)
        let flags = quick + ["--checkpoint-dir", directory.path, "--early-stopping-patience", "4", "--min-delta", "0.5",
                             "--check-sync", "5", "--log-every", "7", "--output", path("s.safetensors.zst")]
        let first = try run(flags)
        XCTAssertEqual(first.status, 0, first.error)

        // A plain resume with more epochs: the checkpoint's min_delta, check_sync and log_every stay.
        let plain = ["fit", "--data", dataDirectory, "--train-samples", "640", "--checkpoint-dir", directory.path, "--resume",
                     "--output", path("s.safetensors.zst")]
        let more = try run(plain + ["--epochs", "2"])
        XCTAssertEqual(more.status, 0, more.error)
        let settings = try trainingSettings(try XCTUnwrap(directory.target(of: "latest")))
        XCTAssertEqual(settings["epochs"] as? Int, 2)
        XCTAssertEqual(settings["check_sync"] as? Int, 5)
        XCTAssertEqual(settings["log_every_steps"] as? Int, 7)
        let earlyStopping = try XCTUnwrap(settings["early_stopping"] as? [String: Any])
        XCTAssertEqual(earlyStopping["min_delta"] as? Double, 0.5)
        XCTAssertEqual(earlyStopping["patience"] as? Int, 4)

        // Resuming the finished run says so instead of claiming to resume an epoch past the end.
        let again = try run(plain)
        XCTAssertEqual(again.status, 0, again.error)
        XCTAssertTrue(again.output.contains("ends a complete run (2 epochs, --epochs 2): nothing left to train"), again.output)
        XCTAssertFalse(again.output.contains("Resuming"), again.output)
    }

    func testSIGUSR1StopsAnMPIRunCleanlyWithACommandThatContinuesIt() throws {
        let log = path("stop.jsonl")
        let flags = ["fit", "--model", "lenet5", "--data", dataDirectory, "--epochs", "2", "--checkpoint-dir", path("stop"),
                     "--overwrite-checkpoints", "--log", log, "--output", path("stop.safetensors.zst")]
        let stopped = try run(flags, ranks: 2, whileRunning: { process in
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("\"step\"") ?? false) {
                usleep(20_000)
            }
            kill(process.processIdentifier, SIGUSR1)  // mpirun (through env)
        })
        XCTAssertEqual(stopped.status, 0, stopped.error)
        let hint = try XCTUnwrap(stopped.output.firstMatch(of: /continue with: (.*)/), stopped.output).1
        XCTAssertTrue(hint.hasPrefix("mpirun -np 2 ") && hint.hasSuffix(" --resume"), String(hint))
        XCTAssertFalse(hint.contains("--overwrite-checkpoints"), "a flag that starts a new run: \(hint)")
        for flag in ["--log \(log)", "--output \(path("stop.safetensors.zst"))", "--checkpoint-dir \(path("stop"))"] {
            XCTAssertTrue(hint.contains(flag), "the hint must continue the same run: \(hint)")
        }
        let records = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertTrue(records.hasSuffix("\n") && records.split(separator: "\n").last!.contains("\"event\":\"stopped\""))
    }
}
