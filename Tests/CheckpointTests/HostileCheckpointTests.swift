@testable import Checkpoint
import InputChecks
import CZstd
import Engine
import Foundation
import XCTest

/// Crafted checkpoints, each of a class that crashed, allocated without bound, wrote outside its place or passed
/// unnoticed before the readers checked it: every one must be a one-line error naming the file.
final class HostileCheckpointTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "hostile-checkpoint-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    /// A safetensors file from a header written by hand and `data` bytes.
    func safetensors(_ header: String, data: [UInt8]) -> [UInt8] {
        let json = Array(header.utf8)
        return withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + data
    }

    func assertRefused(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors(decoding: bytes, path: "crafted"), file: file, line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.hasPrefix("crafted: ") && message.contains(fragment), "expected '\(fragment)' in: \(message)",
                          file: file, line: line)
            XCTAssertFalse(message.contains("\n"), message, file: file, line: line)
        }
    }

    func testSafetensorsHeadersThatLie() {
        let eight = [UInt8](repeating: 0, count: 8)
        assertRefused(safetensors(#"{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}"#, data: eight),
                      "has shape [-2]")
        assertRefused(safetensors(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [9223372036854775800, 9223372036854775807]}}"#,
                                  data: eight), "do not span its 2 values")
        assertRefused(safetensors(#"{"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}"#, data: []),
                      "more values than a file may hold")
        // Two tensors over the same bytes (a bias aliasing a kernel), a hole, bytes left over, a name given twice.
        assertRefused(safetensors(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
                                  data: eight), "overlaps the one before it")
        assertRefused(safetensors(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: eight),
                      "bytes 0..<4 of the data belong to no tensor")
        assertRefused(safetensors(#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#, data: eight),
                      "4 bytes after its last tensor")
        assertRefused(safetensors(#"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#,
                                  data: eight), "names a twice")
        assertRefused(safetensors(#"["not an object"]"#, data: []), "not a JSON object")
        // A header length of 2^62 and one just over safetensors' 100 MB cap are refused before anything is parsed.
        assertRefused(withUnsafeBytes(of: UInt64(1 << 62).littleEndian, Array.init) + Array("{}".utf8), "more than safetensors' limit")
        assertRefused(withUnsafeBytes(of: UInt64(100_000_001).littleEndian, Array.init) + Array("{}".utf8), "more than safetensors' limit")
        // Terminal escapes in a name are shown, not sent.
        assertRefused(safetensors("{\"\\u001b[31mred\": {\"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [0, 2]}}", data: [0, 0]),
                      "\\u{1b}[31mred is F16")
    }

    func compressed(_ bytes: [UInt8], declaringSize: Bool) -> [UInt8] {
        guard declaringSize else {
            // Streaming compression without a pledged size: the frame header carries no content size, as when
            // `zstd` compresses a pipe.
            let context = ZSTD_createCCtx()!
            defer { ZSTD_freeCCtx(context) }
            ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
            var output = [UInt8](repeating: 0, count: ZSTD_compressBound(bytes.count) + 64)
            let written = output.withUnsafeMutableBytes { out in
                bytes.withUnsafeBytes { source -> Int in
                    var input = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
                    var target = ZSTD_outBuffer(dst: out.baseAddress, size: out.count, pos: 0)
                    while ZSTD_compressStream2(context, &target, &input, ZSTD_e_end) != 0 {}
                    return target.pos
                }
            }
            return Array(output[0..<written])
        }
        return try! Zstd.compress(bytes, level: 3)
    }

    func testZstdFramesAreDecodedInABoundedStream() throws {
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        XCTAssertEqual(try Zstd.decompress(compressed(payload, declaringSize: false), path: "pipe"), payload,
                       "a frame without a declared size is read")
        // 64 MiB of zeros compress to a few KB: past the limit it is an error, and memory never goes far past it.
        let bomb = compressed([UInt8](repeating: 0, count: 64 << 20), declaringSize: true)
        XCTAssertLessThan(bomb.count, 100_000)
        XCTAssertThrowsError(try Zstd.decompress(bomb, path: "bomb", limit: 1 << 20)) { error in
            XCTAssertTrue("\(error)".contains("decompresses to more than 1048576 bytes"), "\(error)")
        }
        let frame = compressed(payload, declaringSize: true)
        XCTAssertThrowsError(try Zstd.decompress(frame + [1, 2, 3], path: "f")) { error in
            XCTAssertEqual("\(error)", "f has 3 bytes of something else after its zstd frame")
        }
        XCTAssertThrowsError(try Zstd.decompress(Array(frame.prefix(frame.count / 2)), path: "f")) { error in
            XCTAssertEqual("\(error)", "f is truncated")
        }
        XCTAssertThrowsError(try Zstd.decompress(Array("garbage".utf8), path: "g")) { error in
            XCTAssertTrue("\(error)".contains("g is not a zstd-compressed checkpoint"), "\(error)")
        }
    }

    func testNonFiniteWeightsAreRefused() throws {
        let definition = ModelDefinition(inputShape: [4], layers: [.dense(2, activation: .softmax)])
        let model = try definition.makeModel()
        model.store.values[1] = .nan
        try ModelFile.save(model, definition: definition, to: path("nan.safetensors.zst"))
        XCTAssertThrowsError(try ModelFile.load(path("nan.safetensors.zst"))) { error in
            XCTAssertTrue("\(error)".contains("dense/kernel holds a value that is not finite"), "\(error)")
        }
    }

    func testPointersNameOnlyCheckpointsOfTheirDirectory() throws {
        let checkpoints = CheckpointDirectory(path: path("ckpt"), keep: 3)
        try FileManager.default.createDirectory(atPath: checkpoints.path, withIntermediateDirectories: true)
        for name in ["../outside.safetensors.zst", "/etc/passwd", "ckpt-1.safetensors.zst/../../x", ""] {
            try Data((name + "\n").utf8).write(to: URL(fileURLWithPath: checkpoints.path + "/latest"))
            XCTAssertNil(checkpoints.target(of: "latest"), name)
        }
        try Data("ckpt-000000012.safetensors.zst\n".utf8).write(to: URL(fileURLWithPath: checkpoints.path + "/latest"))
        XCTAssertEqual(checkpoints.target(of: "latest"), checkpoints.path + "/ckpt-000000012.safetensors.zst")
    }

    func testTheLockFileIsNeverALinkAndNamesAreOrderedByStep() throws {
        let checkpoints = CheckpointDirectory(path: path("locked"), keep: 3)
        try FileManager.default.createDirectory(atPath: checkpoints.path, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: URL(fileURLWithPath: path("victim")))
        XCTAssertEqual(symlink(path("victim"), checkpoints.path + "/lock"), 0)
        XCTAssertThrowsError(try CheckpointLock(directory: checkpoints.path))
        XCTAssertEqual(try String(contentsOfFile: path("victim"), encoding: .utf8), "keep", "the lock truncated a file elsewhere")

        for name in ["ckpt-1000000000.safetensors.zst", "ckpt-999999999.safetensors.zst", "ckpt-000000050.safetensors.zst",
                     "ckpt-7.safetensors.zst"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: checkpoints.path + "/" + name, contents: Data()))
        }
        XCTAssertEqual(checkpoints.checkpointFiles(), ["ckpt-7.safetensors.zst", "ckpt-000000050.safetensors.zst",
                                                       "ckpt-999999999.safetensors.zst", "ckpt-1000000000.safetensors.zst"])
    }

    func testSavesNeverReplaceOrFollowWhatIsNotARegularFile() throws {
        XCTAssertThrowsError(try AtomicFile.write([1], to: "/dev/null")) { error in
            XCTAssertTrue("\(error)".contains("/dev/null is not a regular file"), "\(error)")
        }
        var status = stat()
        XCTAssertEqual(stat("/dev/null", &status), 0)
        XCTAssertEqual(status.st_mode & S_IFMT, S_IFCHR, "/dev/null is still the device")

        // A link at the target is refused, not followed: the file it points to stays as it was.
        try Data("keep".utf8).write(to: URL(fileURLWithPath: path("victim")))
        XCTAssertEqual(symlink(path("victim"), path("link.safetensors.zst")), 0)
        XCTAssertThrowsError(try AtomicFile.write([1, 2, 3], to: path("link.safetensors.zst")))
        XCTAssertEqual(try String(contentsOfFile: path("victim"), encoding: .utf8), "keep")

        // Temporary names are not predictable from the pid: links planted at every pid-based name are left alone.
        for pid in getpid()..<(getpid() + 4) {
            XCTAssertEqual(symlink(path("victim"), path(".out.safetensors.zst.\(pid).tmp")), 0)
        }
        try AtomicFile.write(Array("new".utf8), to: path("out.safetensors.zst"))
        XCTAssertEqual(try String(contentsOfFile: path("out.safetensors.zst"), encoding: .utf8), "new")
        XCTAssertEqual(try String(contentsOfFile: path("victim"), encoding: .utf8), "keep")
    }

    func testOnlyRegularFilesAreRead() throws {
        XCTAssertEqual(mkfifo(path("fifo"), 0o600), 0)
        XCTAssertThrowsError(try CheckpointFile.read(path("fifo"))) { error in  // returns at once: no hang
            XCTAssertTrue("\(error)".contains("is not a regular file"), "\(error)")
        }
        XCTAssertEqual(symlink("/dev/zero", path("zero.safetensors.zst")), 0)
        XCTAssertThrowsError(try CheckpointFile.read(path("zero.safetensors.zst"))) { error in
            XCTAssertTrue("\(error)".contains("is not a regular file"), "\(error)")
        }
        XCTAssertThrowsError(try CheckpointFile.read(directory)) { error in
            XCTAssertTrue("\(error)".contains("is a directory"), "\(error)")
        }
    }
}
