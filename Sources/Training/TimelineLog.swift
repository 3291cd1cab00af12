import Distributed
import Foundation
import Observability

/// `fit --timeline FILE`: a Chrome trace of every rank, one process row each, written by rank 0.
///
/// Every step is one `step` span on each rank. The last step of every logging interval (every `--log-every`
/// steps, and each epoch's last) is traced in detail: each lane's `data`, `forward` and `backward` per pass, the
/// `wait` for the slowest rank (a barrier before the gradient allreduce, on those steps only, so that waiting
/// and transfer can be told apart), the `allreduce` and the `optimizer` update. Evaluations and checkpoints are
/// spans too. Detail on a few steps keeps both the cost and the file small; the `step` spans still show every
/// straggler.
///
/// Each rank keeps its spans and sends them to rank 0 in one gather at the end of every logging interval and
/// epoch, so a crash loses at most an interval.
///
/// Clocks: every rank records CLOCK_MONOTONIC. Ranks on rank 0's kernel and time namespace (the same boot id, as
/// every process of one host has, and the same /proc/self/ns/time) read the very same clock, and their spans are
/// placed as recorded. A rank on another host is
/// placed by the barrier before every gather: all ranks leave it at nearly the same moment, so its offset is
/// taken as rank 0's exit time minus its own. That is good to the barrier's release skew, about one network
/// latency, and is measured again at every gather, so clock drift does not build up. Rank 0 places its
/// monotonic clock on the calendar once, so the spans of a resumed run follow those of the run before.
public final class TimelineLog {
    private let communicator: any Communicator
    private let file: ChromeTraceFile?
    /// This rank's spans since the last gather; the trainer adds its lanes' after each traced step.
    var spans = SpanBuffer()
    /// Equal on ranks that read rank 0's monotonic clock. For the test of the placement by barrier
    /// (MNIST_TRAIN_FAULT), rank 1 can claim a clock of its own.
    private let clockIdentity: Double
    /// Rank 0's CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds (modulo 2^64).
    private let calendarOffset: UInt64
    /// Rows (rank, or rank and lane) already named in the file.
    private var namedRows = Set<[Int]>()

    /// Every rank makes one; rank 0 writes `path`, continuing the trace there when `resumedAt` gives the global
    /// step a resumed run starts after.
    public init(path: String, communicator: any Communicator, resumedAt resumedStep: Int?) throws {
        self.communicator = communicator
        let ownClock = Trainer.fault == "timeline-clock-of-its-own-on-rank-1" && communicator.rank == 1
        clockIdentity = Double(ownClock ? monotonicClockIdentity ^ 1 : monotonicClockIdentity)
        let now = wallClockNanoseconds()
        calendarOffset = now &- monotonicNanoseconds()
        file = communicator.isRoot ? try ChromeTraceFile(path: path, continuing: resumedStep != nil, now: now) : nil
        if let resumedStep { file?.instant("resumed after global step \(resumedStep)", at: now) }
        // No rank records before rank 0 has read its clock: nothing in the trace comes before its start.
        communicator.barrier()
    }

    /// Records a span of `kind` for global step `step` from `start` to now, on the rank's main thread.
    @discardableResult
    func record(_ kind: SpanKind, step: Int, since start: UInt64) -> UInt64 {
        spans.record(kind, step: step, since: start)
    }

    /// Sends every rank's spans to rank 0, which writes them. Every rank must call it at the same point.
    public func gather() {
        communicator.barrier()
        let exit = monotonicNanoseconds()
        let host = Array(communicator.host.utf8.prefix(255))
        // [clock identity, barrier exit (two 32-bit halves), host length, host bytes, then per span: kind, lane,
        // step, start and end relative to the exit]: every number exact in a Double.
        var table = [clockIdentity, Double(exit >> 32), Double(exit & 0xFFFF_FFFF), Double(host.count)] + host.map(Double.init)
        table.reserveCapacity(table.count + 5 * spans.spans.count)
        for span in spans.spans {
            table += [Double(span.kind.rawValue), Double(span.lane), Double(span.step),
                      Double(Int64(bitPattern: span.start &- exit)), Double(Int64(bitPattern: span.end &- exit))]
        }
        spans.removeAll()
        let tables = communicator.gather(table, root: 0)
        guard let file else { return }
        let ranks = tables.map(RankSpans.init), root = ranks[0]
        for (rank, spans) in ranks.enumerated() {
            if namedRows.insert([rank]).inserted { file.nameProcess(rank, "rank \(rank) (\(spans.host))") }
            let base = (spans.clockIdentity == root.clockIdentity ? spans.exit : root.exit) &+ calendarOffset
            for span in spans.spans {
                if namedRows.insert([rank, span.lane]).inserted {
                    file.nameThread(pid: rank, tid: span.lane, span.lane == 0 ? "main (lane 0)" : "lane \(span.lane)")
                }
                file.span(span, pid: rank, start: base &+ span.start)
            }
        }
        file.flush()
    }

    /// The last gather; rank 0 then closes the trace.
    public func finish() {
        gather()
        file?.finish()
    }

    /// One rank's gathered table, its span times still relative to its barrier exit.
    private struct RankSpans {
        let clockIdentity: Double
        let exit: UInt64
        let host: String
        let spans: [Span]

        init(_ table: [Double]) {
            clockIdentity = table[0]
            exit = UInt64(table[1]) << 32 | UInt64(table[2])
            let hostLength = Int(table[3])
            host = String(decoding: table[4..<4 + hostLength].map { UInt8($0) }, as: UTF8.self)
            spans = stride(from: 4 + hostLength, to: table.count, by: 5).map { i -> Span in
                let start = UInt64(bitPattern: Int64(table[i + 3])), end = UInt64(bitPattern: Int64(table[i + 4]))
                return Span(kind: SpanKind(rawValue: Int(table[i]))!, lane: Int(table[i + 1]), step: Int(table[i + 2]),
                            start: start, end: end)
            }
        }
    }
}
