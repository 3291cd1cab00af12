import Foundation
@testable import Report
@testable import Training
import XCTest

/// The metrics by hand on a matrix with every edge scikit-learn defines (a class never predicted, one never in the
/// labels, one in neither), and the page's parts: ticks, escaping, the sections a run without step records has.
final class HTMLReportTests: XCTestCase {
    /// y_true = [0, 0, 0, 2], y_pred = [0, 0, 1, 0], and a class 3 in neither.
    func testClassificationReportOnEveryEdge() throws {
        let report = ClassificationReport(confusion: [[2, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
        XCTAssertNil(report.classes[3], "a class in neither the labels nor the predictions has no row")
        let zero = ClassificationReport.Row(precision: 0, recall: 0, f1: 0, support: 0)
        XCTAssertEqual(report.classes[1], zero, "predicted once, never true: precision 0, recall 0/0 = 0")
        XCTAssertEqual(report.classes[2], ClassificationReport.Row(precision: 0, recall: 0, f1: 0, support: 1), "never predicted")
        let first = try XCTUnwrap(report.classes[0])
        XCTAssertEqual(first.precision, 2.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(first.recall, 2.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(first.f1, 2.0 / 3, accuracy: 1e-15)
        XCTAssertEqual(report.macroAverage.precision, 2.0 / 9, accuracy: 1e-15)
        XCTAssertEqual(report.weightedAverage.precision, 0.5, accuracy: 1e-15)
        XCTAssertEqual(report.weightedAverage.support, 4)
        // Observed agreement 2/4, chance (3 * 3 + 0 * 1 + 1 * 0) / 16.
        XCTAssertEqual(report.kappa, (0.5 - 9.0 / 16) / (1 - 9.0 / 16), accuracy: 1e-15)
        XCTAssertEqual(ClassificationReport(confusion: [[5, 0], [0, 0]]).kappa, 0, "chance agreement total")
    }

    func testTicksAreRoundAndSpanTheRange() {
        XCTAssertEqual(SVG.niceTicks(0.03, 0.74).map(SVG.label), ["0", "0.2", "0.4", "0.6", "0.8"])
        XCTAssertEqual(SVG.niceTicks(1, 5), [1, 2, 3, 4, 5])
        XCTAssertEqual(SVG.niceTicks(8_100, 10_700).first, 8_000)
        XCTAssertEqual(SVG.label(0.0005), "0.0005")
        XCTAssertEqual(SVG.label(12_000), "12k")
        XCTAssertEqual(SVG.label(7_500), "7.5k")
    }

    func testClassNamesAndPathsAreEscaped() throws {
        let directory = NSTemporaryDirectory() + "html-report-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/<b>.jsonl"
        try (#"{"event":"fit_start","model":"m","world_size":1,"wall_time":1}"# + "\n"
             + #"{"event":"epoch","epoch":1,"loss":0.5,"accuracy":0.5,"seconds":1,"samples_per_second":1,"learning_rate":0.1,"samples_seen":2,"wall_time":2}"# + "\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let evaluation = Evaluation(loss: 0.7, correct: 1, count: 2, confusion: [[1, 1], [0, 0]])
        let page = HTMLReport(log: try RunLog(path: path), modelFile: "a&b", modelName: "m", parameterCount: 1234,
                              evaluation: evaluation, classNames: ["<script>", "x\"y"],
                              mistakes: [.init(index: 1, pixels: [0, 255, 128, 64], label: 0, predicted: 1, probability: 0.9)],
                              imageSize: (2, 2)).html
        XCTAssertFalse(page.contains("<script>") || page.contains("<b>.jsonl") || page.contains("a&b"))
        XCTAssertTrue(page.contains("&lt;script&gt; → x&quot;y") && page.contains("&lt;b&gt;.jsonl") && page.contains("a&amp;b"))
        XCTAssertTrue(page.contains("1,234 parameters"))
        XCTAssertTrue(page.contains("data:image/png;base64,iVBORw0KGgo"), "the digit as a PNG")
    }
}
