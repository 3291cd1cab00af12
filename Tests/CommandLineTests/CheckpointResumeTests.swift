import Checkpoint
import Foundation
import XCTest

/// Checkpoints end to end: exact resumption on 1 and 2 ranks (after whole epochs and after SIGTERM mid-epoch),
/// crashes during saves, damaged checkpoints, a full disk.
final class CheckpointResumeTests: BinaryTestCase {
    /// convnet-dropout: dropout masks make the generator state part of what must be restored exactly.
    var arguments: [String] {
        ["fit", "--model", "convnet-dropout", "--data", dataDirectory, "--train-samples", "1600", "--batch-size", "32",
         "--validation-split", "0.1", "--log-every", "5"]
    }

    func weights(_ file: String) throws -> [String: [Float]] {
        let contents = try CheckpointFile.read(path(file))
        return Dictionary(uniqueKeysWithValues: contents.tensors.map { ($0.name, $0.values) })
    }

    /// Loss, accuracy, val_loss and val_accuracy of each epoch record in a log.
    func epochMetrics(_ log: String) throws -> [[Double]] {
        try String(contentsOfFile: path(log), encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
            .filter { $0["event"] as? String == "epoch" }
            .map { record in ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"].map { (record[$0] as? NSNumber)?.doubleValue ?? -1 } }
    }

    /// Waits until `log` has a step record, then signals every rank process (mpirun's children, or the process).
    func signalOnceTraining(_ log: String, _ signal: Int32, ranks: Bool) -> @Sendable (Process) -> Void {
        let logPath = path(log)
        return { process in
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, !((try? String(contentsOfFile: logPath, encoding: .utf8))?.contains("\"step\"") ?? false) {
                usleep(20_000)
            }
            let pid = process.processIdentifier
            let targets = ranks
                ? ((try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? "")
                    .split(separator: " ").compactMap { Int32($0) }
                : [pid]
            targets.forEach { kill($0, signal) }
        }
    }

    func checkResumeIsExact(ranks: Int?, threads: Int = 1) throws {
        let label = (ranks.map { "\($0) ranks" } ?? "1 process") + " of \(threads) threads"
        let arguments = arguments + ["--threads", String(threads)]
        let straight = try run(arguments + ["--epochs", "2", "--checkpoint-dir", path("straight"), "--log", path("straight.jsonl"),
                                            "--output", path("straight.safetensors.zst")], ranks: ranks)
        XCTAssertEqual(straight.status, 0, straight.error)

        // Half the epochs, then a resume to the end.
        let half = try run(arguments + ["--epochs", "1", "--checkpoint-dir", path("halves"), "--log", path("halves.jsonl"),
                                        "--output", path("first-half.safetensors.zst")], ranks: ranks)
        XCTAssertEqual(half.status, 0, half.error)
        let rest = try run(arguments + ["--epochs", "2", "--checkpoint-dir", path("halves"), "--log", path("halves.jsonl"),
                                        "--resume", "--output", path("halves.safetensors.zst")], ranks: ranks)
        XCTAssertEqual(rest.status, 0, rest.error)
        XCTAssertEqual(try weights("halves.safetensors.zst"), try weights("straight.safetensors.zst"), "\(label): after halves")
        XCTAssertEqual(try epochMetrics("halves.jsonl"), try epochMetrics("straight.jsonl"), "\(label): logged metrics")

        // SIGTERM mid-epoch: the step finishes, a checkpoint is saved, the job exits cleanly; the resume continues.
        let stopped = try run(arguments + ["--epochs", "2", "--checkpoint-dir", path("signal"), "--log", path("signal.jsonl"),
                                           "--output", path("signal.safetensors.zst")],
                              ranks: ranks, whileRunning: signalOnceTraining("signal.jsonl", SIGTERM, ranks: ranks != nil))
        XCTAssertEqual(stopped.status, 0, "\(label): a SIGTERM stop is a clean exit: \(stopped.error)")
        XCTAssertTrue(stopped.output.contains("Stopped by a signal"), stopped.output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("signal.safetensors.zst")))
        let resumed = try run(arguments + ["--epochs", "2", "--checkpoint-dir", path("signal"), "--log", path("signal.jsonl"),
                                           "--resume", "--output", path("signal.safetensors.zst")], ranks: ranks)
        XCTAssertEqual(resumed.status, 0, resumed.error)
        XCTAssertTrue(resumed.output.contains("Resuming"), resumed.output)
        XCTAssertEqual(try weights("signal.safetensors.zst"), try weights("straight.safetensors.zst"), "\(label): after SIGTERM")
        XCTAssertEqual(try epochMetrics("signal.jsonl"), try epochMetrics("straight.jsonl"), "\(label): no epoch twice, none lost")
        let events = try String(contentsOfFile: path("signal.jsonl"), encoding: .utf8)
        XCTAssertTrue(events.contains("\"event\":\"resume\""), "the log marks the resume")
    }

    func testResumeIsBitIdenticalInOneProcess() throws {
        try checkResumeIsExact(ranks: nil)
    }

    /// Every lane's dropout generator is saved and restored.
    func testResumeIsBitIdenticalWithThreads() throws {
        try checkResumeIsExact(ranks: nil, threads: 2)
    }

    func testResumeIsBitIdenticalOnTwoRanks() throws {
        try checkResumeIsExact(ranks: 2)
    }

    func testResumeOnAnotherRankCountContinuesAndSaysSo() throws {
        let first = try run(arguments + ["--epochs", "1", "--checkpoint-dir", path("ranks")], ranks: 2)
        XCTAssertEqual(first.status, 0, first.error)
        let second = try run(arguments + ["--epochs", "2", "--checkpoint-dir", path("ranks"), "--resume", "--threads", "1"])
        XCTAssertEqual(second.status, 0, second.error)
        XCTAssertTrue(second.output.contains("saved by 2 ranks, this job has 1"), second.output)
        let third = try run(arguments + ["--epochs", "3", "--checkpoint-dir", path("ranks"), "--resume", "--threads", "2"])
        XCTAssertEqual(third.status, 0, third.error)
        XCTAssertTrue(third.output.contains("saved by 1 rank of 1 thread, this job has 1 rank of 2 threads"), third.output)
    }

    /// One epoch with checkpoints into the directory `name`; returns it and the checkpoint `latest` names.
    func firstEpochCheckpointed(into name: String) throws -> (directory: CheckpointDirectory, saved: String) {
        let directory = CheckpointDirectory(path: path(name), keep: 3)
        let first = try run(arguments + ["--epochs", "1", "--checkpoint-dir", directory.path])
        XCTAssertEqual(first.status, 0, first.error)
        return (directory, try XCTUnwrap(directory.target(of: "latest")))
    }

    /// Resumes towards epoch 2, checkpointing every few steps, with `MNIST_TRAIN_FAULT=fault` injected.
    func resume(_ directory: CheckpointDirectory, injecting fault: String) throws -> Result {
        try launch(["env", "MNIST_TRAIN_FAULT=\(fault)", Self.binary] + arguments
                   + ["--epochs", "2", "--checkpoint-dir", directory.path, "--resume", "--checkpoint-every-steps", "3"])
    }

    /// A job that early stopping ended, resumed (by a requeue, say), trains no further epoch and saves the same model.
    func testResumeAfterEarlyStoppingTrainsNoMore() throws {
        // lr 2 on 3,000 samples overfits within a few epochs, so val_loss stops improving long before epoch 40.
        let stopping = ["fit", "--model", "mlp", "--data", dataDirectory, "--train-samples", "3000", "--epochs", "40",
                        "--lr", "2", "--checkpoint-dir", path("early"), "--log", path("early.jsonl")]
        let first = try run(stopping + ["--output", path("first.safetensors.zst")])
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertTrue(first.output.contains("early stopping: val_loss has not improved for 2 epochs"), first.output)
        let epochsTrained = try epochMetrics("early.jsonl").count
        XCTAssertLessThan(epochsTrained, 40)

        let resumed = try run(stopping + ["--resume", "--output", path("resumed.safetensors.zst")])
        XCTAssertEqual(resumed.status, 0, resumed.error)
        XCTAssertTrue(resumed.output.contains("early stopping had already ended this run after epoch \(epochsTrained)"),
                      resumed.output)
        XCTAssertEqual(try epochMetrics("early.jsonl").count, epochsTrained, "no epoch was trained after the resume")
        XCTAssertEqual(try weights("resumed.safetensors.zst"), try weights("first.safetensors.zst"),
                       "the resumed run restores the same best weights")
    }

    func testCrashesDuringSavesNeverLeaveLatestPointingAtAnIncompleteFile() throws {
        let (directory, saved) = try firstEpochCheckpointed(into: "crash")

        // An injected crash after the new file is written but before it is renamed into place.
        let crashed = try resume(directory, injecting: "crash-before-rename")
        XCTAssertEqual(crashed.status, 70, "the injected crash ends the process: \(crashed.error)")
        XCTAssertEqual(directory.target(of: "latest"), saved)
        XCTAssertNoThrow(try CheckpointFile.read(saved))

        // SIGKILL at random moments while a checkpoint is written every step: latest always reads back whole.
        var rng = SystemRandomNumberGenerator()
        for round in 0..<8 {
            let delay = UInt32.random(in: 300_000...1_500_000, using: &rng)
            _ = try run(arguments + ["--epochs", "3", "--checkpoint-dir", directory.path, "--resume", "--checkpoint-every-steps", "1"],
                        whileRunning: { process in
                            usleep(delay)
                            kill(process.processIdentifier, SIGKILL)
                        })
            let latest = try XCTUnwrap(directory.target(of: "latest"), "round \(round)")
            XCTAssertNoThrow(try CheckpointFile.read(latest), "round \(round): latest is \(latest)")
            XCTAssertLessThanOrEqual(directory.checkpointFiles().count, 4, "retention keeps the last 3 (and the best)")
        }
    }

    func testDamagedOrForeignCheckpointsAreRefusedWithOneLine() throws {
        let first = try run(arguments + ["--epochs", "1", "--checkpoint-dir", path("damage"), "--checkpoint-every-steps", "10"])
        XCTAssertEqual(first.status, 0, first.error)
        let directory = CheckpointDirectory(path: path("damage"), keep: 3)
        let latest = try XCTUnwrap(directory.target(of: "latest"))
        XCTAssertGreaterThan(directory.checkpointFiles().count, 1)

        // Another model, other data, a changed global batch: each refused, naming the file.
        for (extra, fragment) in [(["--model", "lenet5"], "is a checkpoint of convnet-dropout, not of lenet5"),
                                  (["--train-samples", "1000"], "was trained on other data"),
                                  (["--batch-size", "64"], "global batch 32, not 64")] {
            var flags = arguments.filter { $0 != "convnet-dropout" && $0 != "--model" }
            if extra.first == "--train-samples" || extra.first == "--batch-size" {
                flags = arguments
                let index = flags.firstIndex(of: extra[0])!
                flags[index + 1] = extra[1]
            } else {
                flags += extra
            }
            let result = try run(flags + ["--epochs", "2", "--resume", latest])
            XCTAssertNotEqual(result.status, 0)
            XCTAssertTrue(result.error.contains(latest) && result.error.contains(fragment), "expected '\(fragment)': \(result.error)")
        }

        // inspect shows the training state of a good one; evaluate and predict take checkpoints too.
        let inspect = try run(["inspect", latest])
        XCTAssertTrue(inspect.output.contains("global_step: 45") && inspect.output.contains("rng_states"), inspect.output)
        let evaluate = try run(["evaluate", latest, "--data", dataDirectory])
        XCTAssertEqual(evaluate.status, 0, evaluate.error)
        XCTAssertTrue(evaluate.output.contains("confusion matrix"), evaluate.output)
        let predict = try run(["predict", latest, "--data", dataDirectory, "--index", "3"])
        XCTAssertTrue(predict.output.contains("test sample 3 (label 0): predicted"), predict.output)

        // A truncated latest named directly is an error, not a fallback.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: latest))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: latest))
        let direct = try run(arguments + ["--epochs", "2", "--resume", latest])
        XCTAssertNotEqual(direct.status, 0)
        XCTAssertTrue(direct.error.contains("\(latest) is truncated"), direct.error)
        // --resume DIR falls back to the newest valid checkpoint, with a warning (and re-saves the truncated step).
        let fallback = try run(arguments + ["--epochs", "1", "--checkpoint-dir", path("damage"), "--resume", path("damage")])
        XCTAssertEqual(fallback.status, 0, fallback.error)
        XCTAssertTrue(fallback.output.contains("warning: skipping a damaged checkpoint (\(latest) is truncated)"), fallback.output)
        XCTAssertNoThrow(try CheckpointFile.read(latest))
    }

    func testFullDiskFailsTheSaveClearlyAndKeepsThePreviousCheckpoint() throws {
        let (directory, saved) = try firstEpochCheckpointed(into: "full")
        let full = try resume(directory, injecting: "no-space")
        XCTAssertNotEqual(full.status, 0)
        XCTAssertTrue(full.error.contains("No space left on device; the previous file is kept"), full.error)
        XCTAssertEqual(full.error.split(separator: "\n").count, 1, full.error)
        XCTAssertEqual(directory.target(of: "latest"), saved)
        XCTAssertNoThrow(try CheckpointFile.read(saved))
    }
}
