#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// What a span of the timeline measures.
public enum SpanKind: Int, CaseIterable, Sendable {
    /// A whole training step: compute, the gradient allreduce, the update and the step's small metrics allreduce.
    case step
    /// Converting a pass's images and labels into the input tensors.
    case data
    case forward, backward
    /// Waiting at a barrier for the slowest rank, before the gradient allreduce of a traced step.
    case wait
    /// The gradient allreduce itself, once every rank has arrived.
    case allreduce
    case optimizer
    case evaluation, checkpoint

    public var name: String { String(describing: self) }
}

/// One timed interval of one thread: `start` and `end` are CLOCK_MONOTONIC nanoseconds of the recording rank.
public struct Span: Equatable, Sendable {
    public var kind: SpanKind
    /// The worker thread (lane) that ran it; 0 is the rank's main thread.
    public var lane: Int
    /// The global step (from 1) a training span belongs to; for an evaluation or checkpoint, the steps done before it.
    public var step: Int
    public var start: UInt64
    public var end: UInt64

    public init(kind: SpanKind, lane: Int, step: Int, start: UInt64, end: UInt64) {
        (self.kind, self.lane, self.step, self.start, self.end) = (kind, lane, step, start, end)
    }
}

/// The spans one thread records, kept until they are sent on. Each thread owns its buffer: recording takes no lock.
public struct SpanBuffer: Sendable {
    public private(set) var spans: [Span] = []

    public init() {}

    /// Records a span of `kind` from `start` to now; returns now, the start of the next span.
    @discardableResult
    public mutating func record(_ kind: SpanKind, lane: Int = 0, step: Int, since start: UInt64) -> UInt64 {
        let now = monotonicNanoseconds()
        spans.append(Span(kind: kind, lane: lane, step: step, start: start, end: now))
        return now
    }

    public mutating func append(contentsOf other: SpanBuffer) { spans.append(contentsOf: other.spans) }

    /// Empties the buffer, keeping its storage: the steady state allocates nothing.
    public mutating func removeAll() { spans.removeAll(keepingCapacity: true) }
}

/// CLOCK_MONOTONIC in nanoseconds: it never jumps, and every process of one kernel reads the same clock, so the
/// ranks of one host need no alignment.
public func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// CLOCK_REALTIME in nanoseconds since 1970, read once to place the monotonic clock on the calendar.
public func wallClockNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
