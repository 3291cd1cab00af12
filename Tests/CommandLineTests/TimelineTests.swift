import Foundation
import XCTest

/// `fit --timeline` on 2 ranks, resumed once: one strict-JSON trace with a row per rank, every kind of span, every
/// step of both runs, and clocks aligned well enough to keep the order that the collectives force.
final class TimelineTests: BinaryTestCase {
    struct TraceSpan {
        let name: String, rank: Int, lane: Int, step: Int
        let start: Double, end: Double
    }

    func testTwoRankTraceHoldsEveryPhaseInCausalOrderAndAResumeContinuesIt() throws {
        try checkTrace(environment: [])
    }

    /// The same with rank 1 claiming a clock of its own (MNIST_TRAIN_FAULT), as a rank on another host has: it is
    /// then placed by the barrier before each gather, and must still keep the collectives' order.
    func testARankOnAnotherClockIsPlacedByTheBarrier() throws {
        try checkTrace(environment: ["MNIST_TRAIN_FAULT=timeline-clock-of-its-own-on-rank-1"])
    }

    func checkTrace(environment: [String]) throws {
        let trace = path("trace.json")
        let common = ["fit", "--model", "convnet", "--data", dataDirectory, "--train-samples", "2000", "--validation-split",
                      "0.1", "--log-every", "10", "--timeline", trace, "--checkpoint-dir", path("checkpoints"),
                      "--output", path("convnet.safetensors.zst")]
        func fit(_ arguments: [String]) throws -> Result {
            let exported = environment.flatMap { ["-x", String($0.prefix { $0 != "=" })] }
            return try launch(["env"] + environment + Self.mpirun + exported + ["-np", "2", Self.binary] + common + arguments,
                              timeout: 240)
        }
        let first = try fit(["--epochs", "1"])
        XCTAssertEqual(first.status, 0, first.error)
        let second = try fit(["--epochs", "2", "--resume"])
        XCTAssertEqual(second.status, 0, second.error)

        let events = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: trace)))
                                       as? [[String: Any]], "the finished trace is a JSON array")
        let rows = events.filter { $0["name"] as? String == "process_name" }
            .map { "\($0["pid"]!): \((($0["args"] as? [String: Any])?["name"] as? String) ?? "")" }
        XCTAssertEqual(Set(rows.map { $0.prefix(10) }), ["0: rank 0 ", "1: rank 1 "], "\(rows)")
        let instants = events.filter { $0["ph"] as? String == "i" }.compactMap { $0["name"] as? String }
        XCTAssertEqual(instants.first, "trace start")
        XCTAssertEqual(instants.count, 2, "\(instants)")
        let resumedAfter = try XCTUnwrap(Int(instants.last!.replacingOccurrences(of: "resumed after global step ", with: "")),
                                          instants.last!)

        let spans = events.filter { $0["ph"] as? String == "X" }.map { event in
            let start = event["ts"] as! Double
            return TraceSpan(name: event["name"] as! String, rank: event["pid"] as! Int, lane: event["tid"] as! Int,
                             step: (event["args"] as! [String: Any])["step"] as! Int, start: start, end: start + (event["dur"] as! Double))
        }
        XCTAssertTrue(spans.allSatisfy { $0.start >= 0 && $0.end >= $0.start }, "spans start at or after the trace start")
        for rank in 0..<2 {
            let mine = spans.filter { $0.rank == rank }
            XCTAssertEqual(Set(mine.map(\.name)), ["step", "data", "forward", "backward", "wait", "allreduce", "optimizer",
                                                   "evaluation", "checkpoint"], "rank \(rank)")
            // Every step of both runs, once: the second run went on after the first one's checkpoint.
            XCTAssertEqual(mine.filter { $0.name == "step" }.map(\.step), Array(1...2 * resumedAfter), "rank \(rank)")
            // What the main thread records inside a step lies inside that step's span.
            let steps = Dictionary(uniqueKeysWithValues: mine.filter { $0.name == "step" }.map { ($0.step, $0) })
            for span in mine where span.lane == 0 && ["data", "forward", "backward", "wait", "allreduce", "optimizer"].contains(span.name) {
                let step = try XCTUnwrap(steps[span.step])
                XCTAssertTrue(step.start <= span.start && span.end <= step.end, "rank \(rank) \(span) outside \(step)")
            }
        }
        // No rank leaves a barrier or an allreduce before every rank has entered it: with aligned clocks, the spans of
        // one collective overlap on every rank.
        let tracedPerEpoch = Set((1...resumedAfter).filter { $0 % 10 == 0 } + [resumedAfter]).count
        for name in ["wait", "allreduce"] {
            let calls = Dictionary(grouping: spans.filter { $0.name == name }, by: \.step)
            XCTAssertEqual(calls.count, 2 * tracedPerEpoch, "traced steps: every 10th and each epoch's last, in 2 epochs")
            for (step, call) in calls {
                XCTAssertEqual(call.count, 2, "\(name) of step \(step)")
                XCTAssertLessThanOrEqual(call.map(\.start).max()!, call.map(\.end).min()!, "\(name) of step \(step): \(call)")
            }
        }
    }
}
