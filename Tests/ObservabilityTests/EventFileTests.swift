import Foundation
@testable import Observability
import XCTest

/// The pieces of an event file against independent values: CRC-32C's published check value, TFRecord records
/// read back and refused when damaged, TensorFlow's bucket limits, and a resumed directory losing only the
/// records after its checkpoint. TensorBoard's own reader reads whole runs in CommandLineTests.
final class EventFileTests: XCTestCase {
    func testCRC32CCheckValue() {
        // The CRC catalogue's check value of CRC-32/ISCSI (Castagnoli) over "123456789".
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
    }

    func testRecordsReadBackAndStopAtDamage() {
        let records = [[UInt8](), Array("event".utf8), [UInt8](repeating: 7, count: 300)]
        let file = records.flatMap(TFRecord.frame)
        XCTAssertEqual(TFRecord.records(in: file).records, records)
        XCTAssertTrue(TFRecord.records(in: file).intact)
        // A flipped data byte, a flipped length byte, a cut: the records before survive, nothing after.
        var flipped = file
        flipped[16 + 12 + 2] ^= 1
        XCTAssertEqual(TFRecord.records(in: flipped).records, [records[0]])
        XCTAssertFalse(TFRecord.records(in: flipped).intact)
        var badLength = file
        badLength[16 + 7] = 0xFF
        XCTAssertEqual(TFRecord.records(in: badLength).records, [records[0]])
        XCTAssertEqual(TFRecord.records(in: Array(file.dropLast(3))).records, Array(records.prefix(2)))
    }

    func testHistogramBucketsAsTensorFlow() {
        // TensorFlow's default limits: 774 positive from 1e-12 by factors of 1.1 below 1e20, Double.max, mirrored,
        // and 0.
        XCTAssertEqual(Histogram.limits.count, 2 * 775 + 1)
        XCTAssertEqual(Histogram.limits[775], 0)
        XCTAssertEqual(Histogram.limits[776], 1e-12)
        let proto = Histogram([-1, 0, 0, 0.5, 2, .nan, .infinity]).proto
        XCTAssertEqual(proto.num, 5)
        XCTAssertEqual(proto.min, -1)
        XCTAssertEqual(proto.max, 2)
        XCTAssertEqual(proto.sum, 1.5)
        XCTAssertEqual(proto.sumSquares, 5.25)
        XCTAssertEqual(proto.bucket.reduce(0, +), 5)
        // Every non-empty bucket is there with its own limit: -1 falls below the first limit above it.
        let counted = zip(proto.bucketLimit, proto.bucket).filter { $0.1 > 0 }
        XCTAssertEqual(counted.map(\.1), [1, 2, 1, 1])
        XCTAssertEqual(counted[1].0, 1e-12, "0 counts below the first positive limit")
        XCTAssertLessThan(abs(counted[0].0 - -1) / 1, 0.1)
        // Empty runs collapse: far fewer entries than buckets.
        XCTAssertLessThan(proto.bucket.count, 12)
    }

    func testResumedDirectoryKeepsOnlyTheRecordsBeforeItsCheckpoint() throws {
        let directory = NSTemporaryDirectory() + "event-files-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let writer = try EventFileWriter(directory: directory, host: "test-host")
            for step in 1...6 { writer.scalar("batch_loss", Double(step), step: step) }
            for epoch in 1...3 { writer.scalar("epoch_loss", Double(epoch), step: epoch) }
            writer.text("configuration", "*run*", step: 0)
        }
        let warnings = try EventFiles.keep(inDirectory: directory) { tag, step in step <= (tag.hasPrefix("batch_") ? 4 : 2) }
        XCTAssertEqual(warnings, [])
        let name = try XCTUnwrap(FileManager.default.contentsOfDirectory(atPath: directory).first)
        let events = try TFRecord.records(in: [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))))
            .records.map { try Tensorboard_Event(serializedBytes: $0) }
        XCTAssertEqual(events.first?.fileVersion, "brain.Event:2")
        let kept = events.flatMap { event in event.summary.value.map { "\($0.tag)@\(event.step)" } }
        XCTAssertEqual(kept, ["batch_loss@1", "batch_loss@2", "batch_loss@3", "batch_loss@4", "epoch_loss@1", "epoch_loss@2",
                              "configuration@0"])
        // A damaged file: what precedes the damage stays, and the run is told.
        let path = directory + "/" + name
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 2] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let damaged = try EventFiles.keep(inDirectory: directory) { _, _ in true }
        XCTAssertEqual(damaged.count, 1)
        XCTAssertTrue(damaged[0].contains("is damaged"), damaged[0])
        XCTAssertEqual(TFRecord.records(in: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))).records.count, events.count - 1)
    }

    func testDigitGridIsAPNGOfTheRightSize() {
        let image = [Float](repeating: 0.5, count: 28 * 28)
        let grid = DigitGrid.png(images: Array(repeating: image, count: 10), width: 28, height: 28,
                                 captions: Array(repeating: "7>1", count: 10))
        XCTAssertEqual(Array(grid.png.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        // IHDR: width and height big-endian after the signature, the chunk length and its type.
        let width = grid.png[16..<20].reduce(0) { $0 << 8 | Int($1) }, height = grid.png[20..<24].reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(width, grid.width)
        XCTAssertEqual(height, grid.height)
        XCTAssertEqual(grid.width, 8 * 30)
        XCTAssertEqual(grid.height, 2 * (28 + 14))
    }

    /// Class names are drawn too, lower case as capitals; a character with no glyph stays blank.
    func testCaptionsDrawLettersAsCapitals() {
        let image = [Float](repeating: 0, count: 4 * 4)
        func grid(_ caption: String) -> [UInt8] { DigitGrid.png(images: [image], width: 4, height: 4, captions: [caption]).png }
        XCTAssertEqual(grid("coat>bag"), grid("COAT>BAG"))
        XCTAssertNotEqual(grid("COAT>BAG"), grid("COAT>BAD"))
        XCTAssertEqual(grid("\u{3A9}"), grid(" "), "no glyph: blank")
    }
}
