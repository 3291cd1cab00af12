import SystemZlib
import Foundation
import MNIST
import XCTest

/// Data and image files of the classes that crashed, hung or allocated without bound before the readers read the
/// header first and regular files only: each a one-line error naming the file, at once.
final class HostileDataTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "hostile-data-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        XCTAssertTrue(FileManager.default.createFile(atPath: path(name), contents: Data(bytes)))
        return path(name)
    }

    /// An IDX header for `magic` with these dimensions, and nothing after it.
    func header(_ magic: UInt32, _ dimensions: [UInt32]) -> [UInt8] {
        ([magic] + dimensions).flatMap { withUnsafeBytes(of: $0.bigEndian, Array.init) }
    }

    func gzipped(_ bytes: [UInt8]) -> [UInt8] {
        var length = compressBound(UInt(bytes.count)) + 64
        var output = [UInt8](repeating: 0, count: Int(length))
        var stream = z_stream()
        _ = deflateInit2_(&stream, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        bytes.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                _ = deflate(&stream, Z_FINISH)
                length = UInt(target.count) - UInt(stream.avail_out)
            }
        }
        deflateEnd(&stream)
        return Array(output[0..<Int(length)])
    }

    func assertRefused(_ file: String, _ fragment: String, magic: UInt32 = IDXFile.imagesMagic,
                       line: UInt = #line) {
        XCTAssertThrowsError(try IDXFile(contentsOf: file, magic: magic), line: line) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains(file) && message.contains(fragment), "expected '\(fragment)' in: \(message)", line: line)
            XCTAssertFalse(message.contains("\n"), message, line: line)
        }
    }

    func testSizesThatWrapOrExceedTheCapAreRefusedBeforeAllocating() {
        // (2^32 - 1)^3 wraps around in 64 bits; unchecked it passed as a small size.
        assertRefused(write("wrap", header(2051, [.max, .max, .max])), "a side of 4294967295")
        assertRefused(write("huge", header(2051, [100_000, 4096, 4096])), "more than the 1073741824 a data file may hold")
        assertRefused(write("many-labels", header(2049, [.max])), "more than the 1073741824", magic: IDXFile.labelsMagic)
        assertRefused(write("flat", header(2051, [1, 0, 28])), "a side of 0")
    }

    func testAGzipBombIsReadOnlyAsFarAsItsHeaderDeclares() {
        // A header declaring one 2x2 image, then 64 MiB of zeros: 64 KB of gzip.
        let bomb = write("bomb.gz", gzipped(header(2051, [1, 2, 2]) + [UInt8](repeating: 0, count: 64 << 20)))
        assertRefused(bomb, "more than 1 MiB after the 4 its header declares")
        let trailing = write("trailing.gz", gzipped(header(2051, [1, 2, 2]) + [1, 2, 3, 4]) + Array("garbage".utf8))
        assertRefused(trailing, "7 bytes of something else after its compressed data")
        let concatenated = write("two-members.gz", gzipped(header(2051, [1, 2, 2])) + gzipped([1, 2, 3, 4]))
        XCTAssertEqual(try IDXFile(contentsOf: concatenated, magic: IDXFile.imagesMagic).bytes, [1, 2, 3, 4],
                       "concatenated gzip members read as one stream, as gunzip reads them")
    }

    func testOnlyRegularFilesAreRead() throws {
        XCTAssertEqual(mkfifo(path("fifo"), 0o600), 0)
        assertRefused(path("fifo"), "is not a regular file")  // returns at once: no hang
        XCTAssertEqual(symlink("/dev/zero", path("zero")), 0)
        assertRefused(path("zero"), "is not a regular file")
        try FileManager.default.createDirectory(atPath: path("dir"), withIntermediateDirectories: true)
        assertRefused(path("dir"), "is a directory")
    }

    func testASetWithoutImagesIsRefused() {
        let images = write("images", header(2051, [0, 28, 28]))
        XCTAssertThrowsError(try Dataset(imagesPath: images, labelsPath: write("labels", header(2049, [0])))) { error in
            XCTAssertTrue("\(error)".contains("holds no images"), "\(error)")
        }
    }

    func testPGMsThatClaimMoreThanTheyHold() {
        func refused(_ text: String, _ fragment: String, line: UInt = #line) {
            let file = write("image-\(line).pgm", Array(text.utf8))
            XCTAssertThrowsError(try ImageFile.load(file, invert: false), line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "expected '\(fragment)' in: \(error)", line: line)
            }
        }
        refused("P2 4096 4096 255 1 2 3", "PGM is truncated")  // 16 M pixels claimed, 3 given: no reservation
        refused("P2 99999999999 2 255 1", "is not supported")
        refused("P2 2 1 100 50 300", "a pixel of 300 exceeds the PGM's maximum 100")
        refused("P5 2 2 255 ab", "PGM is truncated")
        let good = write("good.pgm", Array("P2\n# a comment\n2 1\n255\n0 255\n".utf8))
        XCTAssertEqual(try ImageFile.load(good, invert: false).images, [0, 255])
    }
}
