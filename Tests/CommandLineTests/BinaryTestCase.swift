import Foundation
import XCTest

/// Base for tests that run the release binary, alone or under mpirun, on real MNIST.
/// Needs `swift build -c release` first and MNIST in $MNIST_DIR or ../shared/data/mnist; deploy/test.sh does both,
/// downloading MNIST when neither has it. Without them these tests fail, saying what is missing: a skipped
/// end-to-end test would pass a suite that checked nothing.
class BinaryTestCase: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let binary = repository.appendingPathComponent(".build/release/mnist-train").path
    /// mpirun as root, more ranks than cores, transports pinned (see the README).
    static let mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "pml", "ob1",
                         "--mca", "btl", "self,vader,tcp", "--mca", "btl_vader_single_copy_mechanism", "none"]

    var directory: String!
    var dataDirectory = ""

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw SetUpError("\(Self.binary) is missing: run `swift build -c release` first (deploy/test.sh does)")
        }
        let candidates: [String?] = [ProcessInfo.processInfo.environment["MNIST_DIR"],
                                     Self.repository.deletingLastPathComponent().appendingPathComponent("shared/data/mnist").path]
        guard let data = candidates.compactMap({ $0 }).first(where: {
            FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("t10k-labels-idx1-ubyte.gz"))
                || FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("t10k-labels-idx1-ubyte"))
        }) else {
            throw SetUpError("no MNIST data in $MNIST_DIR or ../shared/data/mnist: run the tests with deploy/test.sh, "
                             + "which downloads it, or set MNIST_DIR")
        }
        dataDirectory = data
        directory = NSTemporaryDirectory() + "cli-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    struct SetUpError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// The python of the real clients' virtual environment (deploy/python-clients.sh makes it once); the test is
    /// skipped, saying why, where there is no python3.
    func clientsPython() throws -> String {
        let clients = try launch(["bash", Self.repository.appendingPathComponent("deploy/python-clients.sh").path], timeout: 900)
        if clients.status == 3 { throw XCTSkip(clients.error.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard clients.status == 0 else { throw SetUpError("deploy/python-clients.sh failed: \(clients.error)") }
        return clients.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    struct Result {
        let status: Int32
        let output: String
        let error: String
        let seconds: Double
    }

    /// Runs the binary with `arguments`; under mpirun with `ranks`. A time limit turns a hang into a failure.
    func run(_ arguments: [String], ranks: Int? = nil, timeout: TimeInterval = 300,
             whileRunning: (@Sendable (Process) -> Void)? = nil) throws -> Result {
        let command = ranks.map { Self.mpirun + ["-np", String($0), Self.binary] + arguments } ?? [Self.binary] + arguments
        return try launch(command, timeout: timeout, whileRunning: whileRunning)
    }

    /// Runs the binary with `arguments` from inside a `whileRunning` closure, where the test case is out of
    /// reach: the exit status and standard error (its output is dropped).
    static func runBinary(_ arguments: [String]) throws -> (status: Int32, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    /// Runs any command line; `whileRunning` gets the process after launch (to inject faults).
    func launch(_ command: [String], timeout: TimeInterval = 300, whileRunning: (@Sendable (Process) -> Void)? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        // As deploy/run.sh: without it mpirun hangs at start while anything (TensorBoard) listens on ports 6000-6063.
        var environment = ProcessInfo.processInfo.environment
        environment["HWLOC_COMPONENTS"] = environment["HWLOC_COMPONENTS"] ?? "-gl"
        process.environment = environment
        // stdout through a pipe read to its end before waiting; stderr into a file, so neither can fill and block.
        let out = Pipe()
        let errorPath = path("stderr-\(UUID().uuidString)")
        XCTAssertTrue(FileManager.default.createFile(atPath: errorPath, contents: nil))
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        let start = Date()
        try process.run()
        // SIGTERM at the time limit, then SIGKILL: a process stuck before its handlers run (mpirun in hwloc's
        // start-up) ignores the first.
        let pid = process.processIdentifier
        let killer = DispatchWorkItem {
            process.terminate()
            DispatchQueue.global().asyncAfter(deadline: .now() + 10) { if process.isRunning { kill(pid, SIGKILL) } }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        if let whileRunning { DispatchQueue.global().async { whileRunning(process) } }
        let outputData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        killer.cancel()
        let errorText = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
                      error: errorText, seconds: Date().timeIntervalSince(start))
    }
}
