import Checkpoint
import Foundation
import XCTest

/// Three hosts made on this machine from network namespaces (Tests/MultiHost/hosts.sh), each with its own
/// address; mpirun starts a rank in each through a launch agent instead of ssh, and the ranks talk TCP between
/// those addresses, as on a cluster, with deploy/hosts/mpirun-tcp.sh's settings. Skipped, with the reason, where
/// namespaces cannot be made (not root).
final class MultiHostTests: BinaryTestCase {
    static let scripts = repository.appendingPathComponent("Tests/MultiHost").path
    static let hosts = scripts + "/hosts.sh"

    /// `fit` across the namespace hosts through deploy/hosts/mpirun-tcp.sh, the documented TCP settings, with
    /// the launch agent in place of ssh; the arguments that follow go to fit.
    func fitAcrossHosts(_ hostCount: Int) throws -> [String] {
        let hostfile = path("hostfile-\(hostCount)")
        try (1...hostCount).map { "10.78.0.\($0) slots=1\n" }.joined().write(toFile: hostfile, atomically: true, encoding: .utf8)
        return ["OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                "OMPI_MCA_plm_rsh_agent=\(Self.scripts)/launch-agent.sh", "OMPI_MCA_plm_rsh_no_tree_spawn=1",
                "MNIST_TRAIN=\(Self.binary)", "MNIST_DIR=\(dataDirectory)",
                Self.repository.appendingPathComponent("deploy/hosts/mpirun-tcp.sh").path, hostfile, "10.78.0.0/24"]
    }

    /// Whether setUp got as far as making hosts: only then does tearDown remove them, even halfway made ones.
    /// A setUp that threw before (no binary, no data) made neither hosts nor the directory `launch` runs in.
    var startedMakingHosts = false

    override func setUpWithError() throws {
        try super.setUpWithError()
        startedMakingHosts = true
        let up = try launch([Self.hosts, "up", "3"], timeout: 60)
        guard up.status == 0 else {
            throw XCTSkip("network namespaces cannot be made here (needs root and iproute2): "
                          + (up.error.split(separator: "\n").first.map(String.init) ?? "exit \(up.status)"))
        }
    }

    override func tearDownWithError() throws {
        if startedMakingHosts { _ = try? launch([Self.hosts, "down"], timeout: 60) }
        try super.tearDownWithError()
    }

    func testOneEpochAcrossThreeHostsThenAHostIsCutOffAndTheRestResume() throws {
        // One epoch of convnet on 3 hosts gives the model 3 ranks give on one host, bit for bit: same global
        // batches, same reduction order; only the transport differs. One thread a rank in both: by default a rank
        // alone on its host would run a thread for each of the machine's cores.
        let common = ["--model", "convnet", "--data", dataDirectory, "--threads", "1"]
        let fit = common + ["--epochs", "1"]
        let single = try run(["fit"] + fit + ["--output", path("single.safetensors.zst")], ranks: 3, timeout: 600)
        XCTAssertEqual(single.status, 0, single.error)
        let multi = try launch(try fitAcrossHosts(3) + fit + ["--output", path("multi.safetensors.zst")], timeout: 600)
        XCTAssertEqual(multi.status, 0, multi.error)
        let accuracy = try XCTUnwrap(multi.output.firstMatch(of: /test accuracy ([0-9.]+)%/), multi.output)
        XCTAssertGreaterThanOrEqual(Double(accuracy.1)!, 98, multi.output)
        let a = try ModelFile.load(path("single.safetensors.zst")).model
        let b = try ModelFile.load(path("multi.safetensors.zst")).model
        XCTAssertEqual(Array(a.store.values), Array(b.store.values), "3 hosts must train the model 3 local ranks do")

        // Host 3's link goes down once a checkpoint exists: the job must end within seconds, naming the host.
        let checkpoints = path("checkpoints")
        let cutAt = Clock()
        let training = common + ["--epochs", "2", "--train-samples", "12800", "--checkpoint-dir", checkpoints,
                                          "--checkpoint-every-steps", "50", "--output", path("never.safetensors.zst")]
        let cut = try launch(try fitAcrossHosts(3) + training, timeout: 300) { _ in
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, !FileManager.default.fileExists(atPath: checkpoints + "/latest") { usleep(100_000) }
            cutAt.mark()
            _ = try? Process.run(URL(fileURLWithPath: Self.hosts), arguments: ["cut", "3"]).waitUntilExit()
        }
        let cutTime = try XCTUnwrap(cutAt.time)
        XCTAssertNotEqual(cut.status, 0)
        XCTAssertLessThan(Date().timeIntervalSince(cutTime), 45, "the job must end promptly once a host is cut off")
        XCTAssertTrue(cut.error.contains("lost communication") && cut.error.contains("10.78.0.3"), cut.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("never.safetensors.zst")))

        // The two hosts left resume from the last checkpoint and finish.
        let resumed = try launch(try fitAcrossHosts(2) + ["--resume", "--checkpoint-dir", checkpoints, "--data", dataDirectory,
                                 "--train-samples", "12800", "--output", path("resumed.safetensors.zst")], timeout: 300)
        XCTAssertEqual(resumed.status, 0, resumed.error)
        XCTAssertTrue(resumed.output.contains("Resuming \(checkpoints)/ckpt-"), resumed.output)
        XCTAssertTrue(resumed.output.contains("saved by 3 ranks, this job has 2"), resumed.output)
        XCTAssertNotNil(resumed.output.firstMatch(of: /test accuracy [0-9.]+%/), resumed.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("resumed.safetensors.zst")))
    }
}
