import Foundation
@testable import Report
import Training
import XCTest

/// The log reader: the last run of a log, a resumed run as one run with no epoch or step twice, and a log cut
/// short refused in one line naming the file and the line.
final class RunLogTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "run-log-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func write(_ lines: [String], name: String = "run.jsonl") throws -> String {
        let path = directory + "/" + name
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func epoch(_ n: Int, loss: Double) -> String {
        #"{"event":"epoch","epoch":\#(n),"loss":\#(loss),"accuracy":0.9,"seconds":1,"samples_per_second":100,"learning_rate":0.001,"samples_seen":\#(n * 100),"wall_time":\#(1000 + n)}"#
    }

    func step(_ epoch: Int, _ step: Int, loss: Double) -> String {
        #"{"event":"step","epoch":\#(epoch),"step":\#(step),"steps":4,"loss":\#(loss),"accuracy":0.8,"learning_rate":0.001,"samples_per_second":90,"compute_seconds":{"min":1,"mean":1.5,"max":2},"communication_seconds":{"min":0.1,"mean":0.2,"max":0.3},"wall_time":1000}"#
    }

    func testAResumedRunIsOneRunWithNoEpochOrStepTwice() throws {
        let path = try write([
            #"{"event":"fit_start","model":"mlp","world_size":1,"wall_time":900}"#, epoch(1, loss: 9),  // an earlier run
            #"{"event":"fit_start","model":"convnet","world_size":2,"threads":1,"wall_time":1000}"#,
            step(1, 2, loss: 0.5), step(1, 4, loss: 0.4), epoch(1, loss: 0.4), step(2, 2, loss: 0.3),
            #"{"event":"resume","world_size":4,"wall_time":1500}"#,
            epoch(1, loss: 0.4), step(2, 2, loss: 0.31), step(2, 4, loss: 0.2), epoch(2, loss: 0.2),
            #"{"event":"test","loss":0.25,"accuracy":0.95,"correct":95,"count":100,"wall_time":2000}"#,
        ])
        let log = try RunLog(path: path)
        XCTAssertEqual(log.model, "convnet")
        XCTAssertEqual(log.epochs.map(\.epoch), [1, 2])
        XCTAssertEqual(log.epochs.map(\.loss), [0.4, 0.2])
        XCTAssertEqual(log.steps.map { [$0.epoch, $0.step] }, [[1, 2], [1, 4], [2, 2], [2, 4]])
        XCTAssertEqual(log.steps[2].loss, 0.31, "the later record of a step logged twice")
        XCTAssertEqual(log.steps[1].position, 1)
        XCTAssertEqual(log.resumedWorldSizes, [4])
        XCTAssertEqual(log.test?.correct, 95)
        XCTAssertEqual(log.began, 1000)
        XCTAssertEqual(log.ended, 2000)
    }

    func testALogCutShortIsOneLine() throws {
        let path = try write([#"{"event":"fit_start","model":"convnet","wall_time":1000}"#, epoch(1, loss: 0.4),
                              String(epoch(2, loss: 0.2).prefix(40))])
        XCTAssertThrowsError(try RunLog(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): line 3 is not a whole JSON record (the log was cut short); give the log fit "
                           + "wrote, or delete that line")
        }
        let noStart = try write([epoch(1, loss: 0.4)], name: "no-start.jsonl")
        XCTAssertThrowsError(try RunLog(path: noStart)) { error in
            XCTAssertEqual("\(error)", "\(noStart) holds no fit_start record: give the file fit --log wrote")
        }
        let wrongRecord = try write([#"{"event":"fit_start","wall_time":1}"#, #"{"event":"epoch","epoch":"one"}"#], name: "bad.jsonl")
        XCTAssertThrowsError(try RunLog(path: wrongRecord)) { error in
            XCTAssertEqual("\(error)", "\(wrongRecord): line 2 is not the \"epoch\" record fit writes; give the log fit wrote")
        }
    }
}
