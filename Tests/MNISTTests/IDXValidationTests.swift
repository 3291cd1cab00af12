import SystemZlib
import Foundation
import MNIST
import XCTest

/// Every way an IDX file can be wrong gets a one-line error naming the file and what to do.
final class IDXValidationTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "idx-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    func images(count: Int, rows: Int = 2, columns: Int = 3) -> [UInt8] {
        IDXFile(dimensions: [count, rows, columns], bytes: (0..<count * rows * columns).map { UInt8($0 % 256) })
            .encoded(magic: IDXFile.imagesMagic)
    }

    func labels(_ values: [UInt8]) -> [UInt8] {
        IDXFile(dimensions: [values.count], bytes: values).encoded(magic: IDXFile.labelsMagic)
    }

    func gzip(_ bytes: [UInt8], to name: String) -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        let file = gzopen(path, "wb")!
        _ = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        gzclose(file)
        return path
    }

    /// Asserts loading fails with a one-line message that names the file and contains `fragment`.
    func assertFails(images imagesPath: String, labels labelsPath: String, naming path: String, _ fragment: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Dataset(imagesPath: imagesPath, labelsPath: labelsPath), file: file, line: line) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains(path), "message does not name \(path): \(message)", file: file, line: line)
            XCTAssertTrue(message.contains(fragment), "expected '\(fragment)' in: \(message)", file: file, line: line)
            XCTAssertFalse(message.contains("\n"), "not one line: \(message)", file: file, line: line)
        }
    }

    func testValidFilesLoadRawAndGzipped() throws {
        let raw = try Dataset(imagesPath: write("i", images(count: 4)), labelsPath: write("l", labels([0, 1, 9, 3])))
        XCTAssertEqual(raw.count, 4)
        XCTAssertEqual(raw.sampleShape, [2, 3, 1])
        XCTAssertEqual(raw.labels, [0, 1, 9, 3])
        let compressed = try Dataset(imagesPath: gzip(images(count: 4), to: "i.gz"), labelsPath: gzip(labels([0, 1, 9, 3]), to: "l.gz"))
        XCTAssertEqual(compressed.images, raw.images)
        XCTAssertEqual(compressed.labels, raw.labels)
    }

    func testMissingFile() {
        let missing = (directory as NSString).appendingPathComponent("nothing-here")
        assertFails(images: missing, labels: write("l", labels([1])), naming: missing, "mnist-train download")
    }

    func testEmptyFile() {
        let empty = write("empty", [])
        assertFails(images: empty, labels: write("l", labels([1])), naming: empty, "is empty")
    }

    func testTruncatedFile() {
        let full = images(count: 5)
        let truncated = write("truncated", Array(full.prefix(full.count - 7)))
        assertFails(images: truncated, labels: write("l", labels([1, 2, 3, 4, 5])), naming: truncated, "is truncated")
        let header = write("header-only", Array(full.prefix(10)))
        assertFails(images: header, labels: write("l2", labels([1])), naming: header, "truncated inside its header")
    }

    func testTruncatedGzip() {
        let whole = gzip(images(count: 50), to: "whole.gz")
        let bytes = [UInt8](FileManager.default.contents(atPath: whole)!)
        let cut = write("cut.gz", Array(bytes.prefix(bytes.count / 2)))
        XCTAssertThrowsError(try Dataset(imagesPath: cut, labelsPath: write("l", labels([UInt8](repeating: 1, count: 50))))) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains(cut) && (message.contains("truncated") || message.contains("damaged")), message)
        }
    }

    func testWrongMagic() {
        let swapped = write("labels-as-images", labels([1, 2]))
        assertFails(images: swapped, labels: write("l", labels([1, 2])), naming: swapped, "not an IDX image file (magic 2049, expected 2051 or 2052)")
    }

    func testExtraBytesAfterDeclaredSize() {
        let long = write("long", images(count: 2) + [1, 2, 3])
        assertFails(images: long, labels: write("l", labels([1, 2])), naming: long, "3 bytes after")
    }

    /// Any IDX classification set: labels past 9 are classes too, and images may have channels (magic 2052).
    func testLabelsPastNineAndImagesWithChannelsLoad() throws {
        let grey = try Dataset(imagesPath: write("i", images(count: 3)), labelsPath: write("l", labels([1, 12, 3])))
        XCTAssertEqual(grey.classesInLabels, 13)
        XCTAssertEqual(grey.sampleShape, [2, 3, 1])
        let colour = IDXFile(dimensions: [2, 4, 5, 3], bytes: (0..<120).map { UInt8($0) }).encoded(magic: IDXFile.imagesWithChannelsMagic)
        let rgb = try Dataset(imagesPath: write("rgb", colour), labelsPath: write("l2", labels([0, 1])))
        XCTAssertEqual(rgb.sampleShape, [4, 5, 3])
        XCTAssertEqual(rgb.subset(1..<2).images, (60..<120).map { UInt8($0) })
        XCTAssertEqual(rgb.batch([1]).images.scalars.first, 60 / 255)
        let tooMany = write("channels", IDXFile(dimensions: [1, 2, 2, 65], bytes: [UInt8](repeating: 0, count: 260))
                                .encoded(magic: IDXFile.imagesWithChannelsMagic))
        assertFails(images: tooMany, labels: write("l3", labels([0])), naming: tooMany, "65 channels is outside 1-64")
    }

    func testCountsDiffer() {
        let imagesPath = write("i", images(count: 3))
        assertFails(images: imagesPath, labels: write("l", labels([1, 2])), naming: imagesPath, "holds 3 images but")
    }

    func testMissingDirectoryNamesWhatToDo() {
        let files = MNISTFiles(directory: (directory as NSString).appendingPathComponent("absent"))
        XCTAssertThrowsError(try files.loadTraining()) { error in
            XCTAssertTrue(String(describing: error).contains("mnist-train download"), "\(error)")
            XCTAssertTrue(String(describing: error).contains("--data"), "\(error)")
        }
    }
}
