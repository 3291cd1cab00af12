@testable import Checkpoint
import Engine
import Foundation
import XCTest

final class ModelFileTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "model-file-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func testRoundTripIsBitIdenticalWithBatchNormState() throws {
        let definition = ModelDefinition(inputShape: Preset.inputShape, layers: Preset.mlpBN.layers)
        let model = try definition.makeModel(seed: 3)
        // Non-trivial moving statistics: one training forward pass updates them.
        var rng = SplitMix64(seed: 1)
        let x = Tensor(shape: [8, 28, 28, 1], scalars: (0..<8 * 784).map { _ in rng.nextUnitFloat() })
        _ = model.forward(x, training: true)
        try ModelFile.save(model, definition: definition, metadata: ["name": "mlp-bn"], to: path("m.safetensors.zst"))
        let (loaded, loadedDefinition, metadata) = try ModelFile.load(path("m.safetensors.zst"))
        XCTAssertEqual(loadedDefinition, definition)
        XCTAssertEqual(metadata["name"], "mlp-bn")
        XCTAssertEqual(Array(loaded.store.values), Array(model.store.values))
        XCTAssertEqual(Array(loaded.store.state), Array(model.store.state))
        XCTAssertEqual(loaded.predict(x), model.predict(x))
    }

    func testFileIsZstdOfStandardSafetensorsWithKerasNames() throws {
        let definition = ModelDefinition(inputShape: Preset.inputShape, layers: Preset.convnet.layers)
        try ModelFile.save(try definition.makeModel(), definition: definition, to: path("c.safetensors.zst"))
        let bytes = [UInt8](FileManager.default.contents(atPath: path("c.safetensors.zst"))!)
        XCTAssertEqual(Array(bytes.prefix(4)), [0x28, 0xB5, 0x2F, 0xFD], "zstd frame magic")
        // The zstd command line (libzstd's own tool) decompresses it and verifies the checksum.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["zstd", "-q", "-d", "-f", path("c.safetensors.zst"), "-o", path("c.safetensors")]
        try process.run()
        process.waitUntilExit()
        try XCTSkipIf(process.terminationStatus == 127, "zstd command not installed")
        XCTAssertEqual(process.terminationStatus, 0)
        let plain = [UInt8](FileManager.default.contents(atPath: path("c.safetensors"))!)
        let headerLength = plain[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try JSONSerialization.jsonObject(with: Data(plain[8..<8 + headerLength])) as! [String: Any]
        let kernel = header["conv2d/kernel"] as! [String: Any]
        XCTAssertEqual(kernel["shape"] as? [Int], [3, 3, 1, 32])
        XCTAssertEqual(kernel["dtype"] as? String, "F32")
        XCTAssertEqual((header["dense/kernel"] as! [String: Any])["shape"] as? [Int], [576, 64])
        XCTAssertEqual((header["__metadata__"] as! [String: String])["format"], "mnist-train")
    }

    func testDamagedFilesGiveOneLineErrors() throws {
        let definition = ModelDefinition(inputShape: Preset.inputShape, layers: Preset.mlp.layers)
        let good = path("good.safetensors.zst")
        try ModelFile.save(try definition.makeModel(), definition: definition, to: good)
        let bytes = [UInt8](FileManager.default.contents(atPath: good)!)
        func expectError(_ bytes: [UInt8], _ fragments: String..., file: StaticString = #filePath, line: UInt = #line) {
            let damaged = path("damaged.safetensors.zst")
            XCTAssertTrue(FileManager.default.createFile(atPath: damaged, contents: Data(bytes)))
            XCTAssertThrowsError(try ModelFile.load(damaged), file: file, line: line) { error in
                let message = String(describing: error)
                XCTAssertTrue(message.contains(damaged) && fragments.contains { message.contains($0) } && !message.contains("\n"),
                              "expected one of \(fragments): \(message)", file: file, line: line)
            }
        }
        expectError(Array(bytes.prefix(bytes.count / 2)), "truncated")
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x10
        expectError(flipped, "fails its checksum", "is damaged")
        expectError(Array("not a checkpoint at all".utf8), "not a zstd-compressed checkpoint")
        expectError([], "empty")
        XCTAssertThrowsError(try ModelFile.load(path("absent.safetensors.zst"))) { error in
            XCTAssertTrue(String(describing: error).contains("does not exist"), "\(error)")
        }
    }

    func testEveryOneOfAHundredRandomByteFlipsIsDetected() throws {
        let definition = ModelDefinition(inputShape: Preset.inputShape, layers: Preset.convnetDropout.layers)
        let good = path("flips.safetensors.zst")
        try ModelFile.save(try definition.makeModel(), definition: definition, to: good)
        let bytes = [UInt8](FileManager.default.contents(atPath: good)!)
        var rng = SplitMix64(seed: 2026)
        for trial in 0..<100 {
            var damaged = bytes
            let index = Int(rng.next() % UInt64(bytes.count))
            damaged[index] ^= UInt8(1 + rng.next() % 255)  // never a no-op flip
            XCTAssertThrowsError(try CheckpointFile.decode(damaged, path: "trial \(trial)"),
                                 "flip of byte \(index) of \(bytes.count) went unnoticed")
        }
    }

    func testUnknownFormatVersionIsRefused() throws {
        // A whole, well-formed file that says it is version 99 (CheckpointFile.write always writes the current one).
        let contents = SafeTensors(tensors: [.init(name: "x", shape: [1], values: [1])],
                                   metadata: ["format": CheckpointFile.formatName, "format_version": "99"])
        let bytes = try Zstd.compress(try contents.encoded(), level: 3)
        XCTAssertThrowsError(try CheckpointFile.decode(bytes, path: "future.safetensors.zst")) { error in
            XCTAssertTrue(String(describing: error).contains("future.safetensors.zst has format version 99"), "\(error)")
        }
    }
}
