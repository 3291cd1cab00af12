import Checkpoint
import Engine
import Foundation
import XCTest

/// Training over MPI, started with mpirun from the test suite: exact collectives, equivalence across rank
/// counts, determinism, failures that end the whole job, and accuracy.
final class DistributedTrainingTests: BinaryTestCase {
    func testAllreduceIsExactForOddSizesAndSizeOne() throws {
        for ranks in [1, 2, 3] {
            let result = try run(["check-mpi"], ranks: ranks, timeout: 120)
            XCTAssertEqual(result.status, 0, "\(ranks) ranks: \(result.error)")
            XCTAssertTrue(result.output.contains("exact for 1, 7, 1000 and 1000003 floats; broadcast exact"), result.output)
        }
    }

    /// 21 steps with a global batch of 64 (the last holds one sample, so on 2 and 4 ranks some ranks have none)
    /// give the same weights on 1, 2 and 4 ranks (4 oversubscribed on this 2-core machine).
    ///
    /// Tolerance: the ranks sum their share-weighted gradients in another order than one process does, so each
    /// step differs by float32 rounding; measured: at most 1.4e-6 of each tensor's largest value after 21 steps.
    /// We allow 1e-5. The models are smooth (sigmoid, tanh, no pooling): with ReLU and max pooling a rounding-
    /// level difference can flip a near-tie on MNIST's blank regions and move one element's whole gradient (seen
    /// with convnet on 2 ranks from the 4th step), which is not a data-parallel error but not comparable either.
    func testSameGlobalBatchGivesTheSameModelOnOneTwoAndFourRanks() throws {
        let smooth = #"""
        {"layers": [{"type": "Conv2D", "filters": 8, "kernel_size": 5, "strides": 2, "activation": "tanh"},
                    {"type": "Conv2D", "filters": 16, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "tanh"},
                    {"type": "Flatten"}, {"type": "Dense", "units": 32, "activation": "sigmoid"},
                    {"type": "Dense", "units": 10, "activation": "softmax"}]}
        """#
        XCTAssertTrue(FileManager.default.createFile(atPath: path("smooth.json"), contents: Data(smooth.utf8)))
        for model in [["--model", "mlp"], ["--model-file", path("smooth.json")]] {
            let arguments = ["fit"] + model + ["--data", dataDirectory, "--optimizer", "sgd", "--lr", "0.1",
                                               "--train-samples", "1281", "--batch-size", "64", "--validation-split", "0",
                                               "--epochs", "1"]
            let single = try run(arguments + ["--output", path("one.safetensors.zst")])
            XCTAssertEqual(single.status, 0, single.error)
            let reference = try ModelFile.load(path("one.safetensors.zst")).model
            for ranks in [2, 4] {
                let output = path("\(ranks).safetensors.zst")
                let result = try run(arguments + ["--output", output], ranks: ranks)
                XCTAssertEqual(result.status, 0, result.error)
                let model = try ModelFile.load(output).model
                for view in reference.store.views {
                    let expected = reference.store.values(of: view), actual = model.store.values(of: view)
                    let scale = expected.map(abs).max()!
                    let worst = zip(expected, actual).map { abs($0 - $1) }.max()!
                    XCTAssertLessThanOrEqual(worst / scale, 1e-5, "\(model) on \(ranks) ranks: \(view.name)")
                }
            }
        }
    }

    /// Threads inside a rank split its share of each step as ranks split the global batch: 1 rank of 2 threads
    /// against 1 of 1 (models without BatchNormalization or Dropout, whose per-share statistics and masks follow
    /// the share), and against 2 ranks of 1 (every kind of model), within the ranks test's tolerance; and the
    /// same bits when repeated.
    func testThreadsTrainAsRanksDo() throws {
        let base = ["fit", "--data", dataDirectory, "--train-samples", "1281", "--batch-size", "64", "--validation-split", "0",
                    "--epochs", "1"]
        func trained(_ model: String, threads: Int, ranks: Int? = nil, _ name: String) throws -> Sequential {
            let result = try run(base + ["--model", model, "--threads", String(threads), "--output", path(name)], ranks: ranks)
            XCTAssertEqual(result.status, 0, result.error)
            return try ModelFile.load(path(name)).model
        }
        func assertClose(_ a: Sequential, _ b: Sequential, _ what: String) {
            for view in a.store.views {
                let expected = a.store.values(of: view), actual = b.store.values(of: view)
                let scale = expected.map(abs).max()!
                let worst = zip(expected, actual).map { abs($0 - $1) }.max()!
                XCTAssertLessThanOrEqual(worst / scale, 1e-5, "\(what): \(view.name)")
            }
        }
        for model in ["mlp", "convnet"] {
            assertClose(try trained(model, threads: 1, "\(model)-1.safetensors.zst"),
                        try trained(model, threads: 2, "\(model)-2.safetensors.zst"), "\(model), 2 threads against 1")
        }
        for model in ["mlp-bn", "convnet-dropout"] {
            let threads = try trained(model, threads: 2, "\(model)-2.safetensors.zst")
            assertClose(try trained(model, threads: 1, ranks: 2, "\(model)-ranks.safetensors.zst"), threads,
                        "\(model), 1 rank of 2 threads against 2 ranks of 1")
            let again = try trained(model, threads: 2, "\(model)-again.safetensors.zst")
            XCTAssertEqual(Array(again.store.values), Array(threads.store.values), "\(model), 2 threads repeated")
            XCTAssertEqual(Array(again.store.state), Array(threads.store.state), "\(model), 2 threads repeated")
        }
    }

    func testTwoRankRunIsBitIdenticalWhenRepeated() throws {
        // convnet with ReLU and pooling, global batch 50 split 25/25, a last batch of 20: all deterministic.
        let arguments = ["fit", "--model", "convnet", "--data", dataDirectory, "--train-samples", "320",
                         "--batch-size", "50", "--validation-split", "0", "--epochs", "2"]
        let first = try run(arguments + ["--output", path("a.safetensors.zst")], ranks: 2)
        let second = try run(arguments + ["--output", path("b.safetensors.zst")], ranks: 2)
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertEqual(second.status, 0, second.error)
        let a = try ModelFile.load(path("a.safetensors.zst")).model, b = try ModelFile.load(path("b.safetensors.zst")).model
        XCTAssertEqual(Array(a.store.values), Array(b.store.values))
    }

    /// Trains convnet on 2 ranks and, `settle` seconds after the log shows a step, sends `signal` to `rank`;
    /// returns the job's result and when the signal went out.
    func runSignallingARank(_ signal: Int32, rank: Int = 1, settle: TimeInterval = 0,
                            extraArguments: [String] = []) throws -> (Result, Date) {
        let log = path("signalled.jsonl")
        let signalledAt = Clock()
        let result = try run(["fit", "--model", "convnet", "--data", dataDirectory, "--epochs", "3", "--log", log,
                              "--log-every", "5", "--output", path("never.safetensors.zst")] + extraArguments,
                             ranks: 2, timeout: 240) { mpirun in
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("\"step\"") ?? false) {
                usleep(100_000)
            }
            usleep(UInt32(settle * 1e6))
            let pid = mpirun.processIdentifier
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            // mpirun's children are the ranks; each knows its rank from the launcher's environment.
            let signalled = children.split(separator: " ").compactMap { Int32($0) }.first { child in
                let environment = (try? String(contentsOfFile: "/proc/\(child)/environ", encoding: .utf8)) ?? ""
                return environment.split(separator: "\0").contains { $0 == "OMPI_COMM_WORLD_RANK=\(rank)" }
            }
            if let signalled {
                signalledAt.mark()
                kill(signalled, signal)
            }
        }
        return (result, try XCTUnwrap(signalledAt.time, "no rank was found to signal"))
    }

    func testKilledRankEndsTheWholeJobPromptly() throws {
        let (result, killTime) = try runSignallingARank(SIGKILL)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(killTime), 30, "the job must end within seconds of a rank's death")
        XCTAssertTrue(result.error.contains("signal 9") || result.error.contains("killed"), result.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("never.safetensors.zst")))
    }

    /// The same with worker threads in every rank: a rank dying takes its threads with it, and the other rank's
    /// threads, parked between steps, do not keep its job alive.
    func testKilledRankOfThreadedRanksEndsTheWholeJobPromptly() throws {
        let (result, killTime) = try runSignallingARank(SIGKILL, extraArguments: ["--threads", "2"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(killTime), 30, "the job must end within seconds of a rank's death")
        XCTAssertTrue(result.error.contains("signal 9") || result.error.contains("killed"), result.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("never.safetensors.zst")))
    }

    func testRankThatStopsAnsweringEndsTheJobAfterTheStallTimeout() throws {
        // SIGSTOP leaves a rank alive but silent, as a hung host would: the launcher sees nothing wrong, so the
        // others' watchdog must end the job, and name the rank and what it was doing from its last heartbeat. A
        // second into training, that heartbeat is one of training's, not of start-up's.
        let (result, stopTime) = try runSignallingARank(SIGSTOP, settle: 1, extraArguments: ["--stall-timeout", "5"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(stopTime), 30, "5 s of stall timeout, then the job must end")
        let lines = result.error.split(separator: "\n").filter { $0.contains(" has waited ") }
        XCTAssertEqual(lines.count, 1, "one rank reports: \(result.error)")
        let line = try XCTUnwrap(lines.first.map(String.init), result.error)
        let waiting = /rank 0 \(.+\): error: allreduce in training \(epoch (\d+), global step ([\d,]+)\) (.+)/
        let report = try XCTUnwrap(line.wholeMatch(of: waiting), line)
        XCTAssertTrue(report.3.hasPrefix("has waited 5 s for the other ranks (--stall-timeout 5); rank 1 ("), line)
        // The last heartbeat left within a quarter second before the stop: rarely, from inside this very allreduce.
        XCTAssertTrue(line.contains(") has not arrived: it stopped answering ") || line.contains(" s ago inside this allreduce ("), line)
        let lastSeen = /\(stopped, or host down or cut off\), last seen in training \(epoch (\d+), global step ([\d,]+)\); ending the job$/
        let culprit = try XCTUnwrap(line.firstMatch(of: lastSeen), line)
        let (epoch, step) = (Int(report.1)!, Int(report.2.replacing(",", with: ""))!)
        let (lastEpoch, lastStep) = (Int(culprit.1)!, Int(culprit.2.replacing(",", with: ""))!)
        XCTAssertTrue(lastEpoch == epoch || lastEpoch == epoch - 1, line)
        XCTAssertTrue((1...step).contains(lastStep), line)
    }

    /// Rank 0 stopped: rank 1, the lowest rank still answering, reports it.
    func testStoppedRankZeroIsNamedByRankOne() throws {
        let (result, _) = try runSignallingARank(SIGSTOP, rank: 0, settle: 1, extraArguments: ["--stall-timeout", "5"])
        XCTAssertNotEqual(result.status, 0)
        let lines = result.error.split(separator: "\n").filter { $0.contains(" has waited ") }
        XCTAssertEqual(lines.count, 1, "one rank reports: \(result.error)")
        let line = try XCTUnwrap(lines.first.map(String.init), result.error)
        XCTAssertTrue(line.hasPrefix("rank 1 ("), line)
        XCTAssertTrue(line.contains("; rank 0 ("), line)
        XCTAssertTrue(line.contains(" s ago (stopped, or host down or cut off), last seen in training (epoch "), line)
    }

    func testErrorOnOneRankEndsTheJobAndNamesTheRank() throws {
        // MPMD launch: rank 1 alone is given a data directory that does not exist.
        let common = ["fit", "--model", "convnet", "--epochs", "1"]
        let command = Self.mpirun + ["-np", "1", Self.binary] + common + ["--data", dataDirectory, ":",
                                    "-np", "1", Self.binary] + common + ["--data", path("missing")]
        let result = try launch(command, timeout: 120)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(result.seconds, 60)
        XCTAssertTrue(result.error.contains("rank 1 ("), result.error)
        XCTAssertTrue(result.error.contains("no MNIST data in \(path("missing"))"), result.error)
    }

    /// Rank 1 alone calls a barrier before step 3 (MNIST_TRAIN_FAULT): --check-sync names both ranks' calls and
    /// the step at once, where without it the ranks would meet in mismatched collectives.
    func testCheckSyncNamesRanksThatCallDifferentCollectives() throws {
        let arguments = ["fit", "--model", "mlp", "--epochs", "1", "--train-samples", "1000", "--check-sync", "5",
                         "--data", dataDirectory, "--output", path("mlp.safetensors.zst")]
        let result = try launch(["env", "MNIST_TRAIN_FAULT=extra-barrier-on-rank-1"] + Self.mpirun
                                    + ["-x", "MNIST_TRAIN_FAULT", "-np", "2", Self.binary] + arguments, timeout: 120)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertLessThan(result.seconds, 60)
        XCTAssertTrue(result.error.contains("rank 0 (") && result.error.contains("error: --check-sync: collective "),
                      result.error)
        XCTAssertTrue(result.error.contains("(global step 3) differs across ranks: rank 0 allreduce (sum) of 79,510 floats, "
                                            + "rank 1 barrier"), result.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("mlp.safetensors.zst")))
    }

    func testTwoRankConvnetOneEpochReaches98Percent() throws {
        let log = path("convnet.jsonl")
        let result = try run(["fit", "--model", "convnet", "--data", dataDirectory, "--epochs", "1", "--log", log,
                              "--output", path("convnet.safetensors.zst")], ranks: 2, timeout: 600)
        XCTAssertEqual(result.status, 0, result.error)
        let accuracy = try XCTUnwrap(result.output.firstMatch(of: /test accuracy ([0-9.]+)%/), result.output)
        XCTAssertGreaterThanOrEqual(Double(accuracy.1)!, 98, result.output)
        // Only rank 0 prints: one summary line, one epoch line.
        XCTAssertEqual(result.output.components(separatedBy: "Test loss").count - 1, 1, result.output)
        // The log records the world size and per-interval times of every rank.
        let records = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(records.first?["world_size"] as? Int, 2)
        let step = try XCTUnwrap(records.first { $0["event"] as? String == "step" })
        let compute = try XCTUnwrap(step["compute_seconds"] as? [String: Double])
        XCTAssertLessThanOrEqual(compute["min"]!, compute["mean"]!)
        XCTAssertLessThanOrEqual(compute["mean"]!, compute["max"]!)
        XCTAssertNotNil(step["communication_seconds"] as? [String: Double])
        XCTAssertNotNil(step["samples_per_second"] as? Double)
    }
}

/// A moment recorded from another thread.
final class Clock: @unchecked Sendable {
    private let lock = NSLock()
    private var moment: Date?

    func mark() { lock.withLock { moment = Date() } }
    var time: Date? { lock.withLock { moment } }
}
