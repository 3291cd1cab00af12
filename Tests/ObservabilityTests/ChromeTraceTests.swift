import Foundation
@testable import Observability
import XCTest

/// The Chrome trace writer: strict JSON once finished, exact timestamps from the trace's start, a resumed run
/// continuing a finished or a crashed trace, and files that are not its traces refused and left as they were.
/// A whole 2-rank trace is checked in CommandLineTests.
final class ChromeTraceTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "chrome-trace-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func events(_ path: String) throws -> [[String: Any]] {
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path)))
        return try XCTUnwrap(object as? [[String: Any]], "a trace is a JSON array of events")
    }

    func spans(_ events: [[String: Any]]) -> [String] {
        events.filter { $0["ph"] as? String == "X" }.map { "\($0["name"]!)@\($0["ts"]!)+\($0["dur"]!)" }
    }

    func testSpansCountFromTheTraceStartInExactMicroseconds() throws {
        let path = directory + "/trace.json"
        let origin: UInt64 = 1_796_000_000_123_456_789
        let trace = try ChromeTraceFile(path: path, continuing: false, now: origin)
        trace.nameProcess(1, "rank 1 (\"host\")")
        trace.span(Span(kind: .forward, lane: 2, step: 7, start: 10, end: 1_010_250), pid: 1, start: origin + 1_234_567)
        trace.finish()
        let all = try events(path)
        XCTAssertEqual(all.first?["name"] as? String, "trace start")
        XCTAssertEqual((all.first?["args"] as? [String: Any])?["unix_time_ns"] as? UInt64, origin)
        let names = all.filter { $0["name"] as? String == "process_name" }.compactMap { ($0["args"] as? [String: String])?["name"] }
        XCTAssertEqual(names, ["rank 1 (\"host\")"])
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains(#""name":"forward","ph":"X","pid":1,"tid":2,"ts":1234.567,"dur":1010.240,"args":{"step":7}"#), text)
        XCTAssertEqual(ChromeTraceFile.microseconds(-1_500), "-1.500")
        XCTAssertEqual(ChromeTraceFile.microseconds(7), "0.007")
    }

    func testResumedRunContinuesAFinishedTraceWithItsOrigin() throws {
        let path = directory + "/trace.json"
        let first = try ChromeTraceFile(path: path, continuing: false, now: 1_000_000)
        first.span(Span(kind: .step, lane: 0, step: 1, start: 0, end: 2_000), pid: 0, start: 1_500_000)
        first.finish()
        let second = try ChromeTraceFile(path: path, continuing: true, now: 9_000_000)
        XCTAssertEqual(second.origin, 1_000_000, "the first run's start stays timestamp 0")
        second.span(Span(kind: .step, lane: 0, step: 2, start: 0, end: 3_000), pid: 0, start: 9_000_000)
        second.finish()
        XCTAssertEqual(spans(try events(path)), ["step@500.0+2.0", "step@8000.0+3.0"])
    }

    func testResumedRunContinuesACrashedTraceAfterItsLastWholeEvent() throws {
        let path = directory + "/trace.json"
        let first = try ChromeTraceFile(path: path, continuing: false, now: 0)
        first.span(Span(kind: .step, lane: 0, step: 1, start: 0, end: 1_000), pid: 0, start: 4_000)
        first.flush()
        // The crash: an event cut in the middle of its write, and no closing bracket.
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data((",\n" + #"{"name":"step","ph":"X","pid":0,"ts":12"#).utf8))
        try handle.close()
        XCTAssertThrowsError(try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path))))
        let second = try ChromeTraceFile(path: path, continuing: true, now: 50_000)
        second.span(Span(kind: .checkpoint, lane: 0, step: 1, start: 0, end: 6_000), pid: 0, start: 50_000)
        second.finish()
        XCTAssertEqual(spans(try events(path)), ["step@4.0+1.0", "checkpoint@50.0+6.0"])
    }

    func testFilesThatAreNotItsTracesAreRefusedAndKept() throws {
        let path = directory + "/model.json"
        let contents = Data(#"[{"name":"not a trace"}]"#.utf8)
        for continuing in [false, true] {
            try contents.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try ChromeTraceFile(path: path, continuing: continuing, now: 0)) { error in
                XCTAssertEqual("\(error)", "--timeline \(path) exists and is not a trace written by mnist-train; name a new "
                               + "file, or remove it")
            }
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), contents)
        }
        XCTAssertThrowsError(try ChromeTraceFile(path: directory, continuing: false, now: 0)) { error in
            XCTAssertEqual("\(error)", "cannot open --timeline \(directory!): Is a directory; name a file to write the trace to")
        }
    }

    func testContinuationPointOfDamagedTails() throws {
        func point(_ text: String) throws -> String {
            let tail = Array(text.utf8)
            return String(decoding: tail[..<(try ChromeTraceFile.continuationPoint(tail, path: "t"))], as: UTF8.self)
        }
        XCTAssertEqual(try point("[\n{\"a\":1},\n{\"b\":2}\n]\n"), "[\n{\"a\":1},\n{\"b\":2}")
        XCTAssertEqual(try point("[\n{\"a\":1},\n{\"b\":2}"), "[\n{\"a\":1},\n{\"b\":2}")
        // Cut between an event's two closing braces, or after a brace inside a name: the event goes.
        XCTAssertEqual(try point("[\n{\"a\":1},\n{\"args\":{\"b\":2}"), "[\n{\"a\":1}")
        XCTAssertEqual(try point("[\n{\"a\":1},\n{\"name\":\"x}"), "[\n{\"a\":1}")
        XCTAssertEqual(try point("[\n{\"a\":1},\n"), "[\n{\"a\":1}")
        XCTAssertThrowsError(try point("[\n{\"a\":1"))
        XCTAssertThrowsError(try point("garbage"))
    }
}
