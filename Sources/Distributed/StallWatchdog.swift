import Dispatch
import Foundation
import Synchronization

/// A communicator that ends the whole job when one of its collectives waits longer than `timeout` seconds, naming
/// the ranks that hold it up and what each was doing.
///
/// A rank that dies is noticed by the MPI launcher at once, but a host whose network is cut is not: its peers
/// block in the next allreduce until TCP gives up, which takes minutes to hours. A watch thread checks once a
/// second how long the collective under way has waited; past the timeout it prints one line and ends its
/// process, which makes the launcher end the job. Collectives that return, however slow the steps between them,
/// never trip it. The line comes from the `Heartbeat`: each rank's latest word of the collectives it has entered
/// and of its `activity`, which the training loop keeps up to date.
public final class StallWatchdog: Communicator, @unchecked Sendable {
    // @unchecked: the watch and heartbeat threads read only the atomics, the activity (atomics too), the heartbeat
    // (a lock inside) and the immutable rank, host and timeout; the watch thread ends the process.
    private let inner: any Communicator
    private let timeout: Double
    private let rankActivity = RankActivity()
    /// Nil when this rank's heartbeat socket could not be made: the report then names no rank.
    private let heartbeat: Heartbeat?
    /// When the collective under way began (uptime nanoseconds), 0 when none is.
    private let waitingSince = Atomic<UInt64>(0)
    /// `Collective.rawValue` of the collective under way.
    private let waitingIn = Atomic<Int>(0)
    /// Collectives entered so far: the ranks count the same calls, so equal counts mean the same collective.
    private let entered = Atomic<Int>(0)

    /// A rank that defers to a lower one waits this long for the launcher to end the job, then reports itself.
    static let graceSeconds: UInt32 = 3

    public init(_ inner: any Communicator, timeout: Double) {
        self.inner = inner
        self.timeout = timeout
        // A collective before the watch thread starts; MPI's start-up has just met every rank.
        heartbeat = Heartbeat(over: inner)
        Thread.detachNewThread { [self] in watch() }
        heartbeat?.start { [self] in status }
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }
    public var host: String { inner.host }
    public var activity: RankActivity? { rankActivity }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) {
        waiting(in: .allreduce) { inner.allreduce(buffer, operation) }
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) {
        waiting(in: .allreduce) { inner.allreduce(buffer, operation) }
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        waiting(in: .broadcast) { inner.broadcast(buffer, root: root) }
    }

    public func gather(_ values: [Double], root: Int) -> [[Double]] {
        var gathered: [[Double]] = []
        waiting(in: .gather) { gathered = inner.gather(values, root: root) }
        return gathered
    }

    public func barrier() {
        waiting(in: .barrier) { inner.barrier() }
    }

    public func abort(code: Int32) -> Never { inner.abort(code: code) }

    private func waiting(in collective: Collective, _ body: () -> Void) {
        waitingIn.store(collective.rawValue, ordering: .relaxed)
        entered.add(1, ordering: .relaxed)
        waitingSince.store(DispatchTime.now().uptimeNanoseconds, ordering: .releasing)
        body()
        waitingSince.store(0, ordering: .releasing)
    }

    /// This rank as its heartbeat tells it. The fields are read one by one, so a status taken as a collective
    /// begins may show it entered but not yet inside: either way the others see it has arrived.
    private var status: RankStatus {
        let inside = waitingSince.load(ordering: .acquiring) > 0 ? Collective(rawValue: waitingIn.load(ordering: .relaxed)) : nil
        return RankStatus(entered: entered.load(ordering: .relaxed), inside: inside, epoch: rankActivity.epoch,
                          step: rankActivity.step, phase: rankActivity.phase)
    }

    private func watch() {
        var deferredFor: UInt64 = 0
        var lastLook = DispatchTime.now().uptimeNanoseconds, quietUntil: UInt64 = 0
        let silence = UInt64(StallReport.silenceLimit * 1e9)
        while true {
            sleep(1)
            let now = DispatchTime.now().uptimeNanoseconds
            // A look long after the last one means this process was stopped (SIGSTOP, a suspended machine): what it
            // knows of the others is stale, and so are the heartbeats queued meanwhile, which read as new. It says
            // nothing until fresh ones have come in; a launcher that resumes a stopped rank to end it ends it first.
            if now - lastLook > silence { quietUntil = now + silence }
            lastLook = now
            let since = waitingSince.load(ordering: .acquiring)
            guard since > 0, now >= quietUntil else { continue }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - since) / 1e9
            guard waited > timeout else { continue }
            let report = StallReport(rank: rank, hosts: heartbeat?.hosts ?? Array(repeating: host, count: size),
                                     collective: Collective(rawValue: waitingIn.load(ordering: .relaxed))!, own: status,
                                     waited: waited, timeout: timeout, sightings: heartbeat?.sightings())
            // When several ranks wait, the lowest one that waits and answers prints the line, and its exit makes the
            // launcher end the others. One still alive after the grace knows nobody did: it prints its own.
            if report.aLowerRankReports, deferredFor != since {
                deferredFor = since
                sleep(Self.graceSeconds)
                lastLook = DispatchTime.now().uptimeNanoseconds
                continue
            }
            writeStandardError(report.line)
            // Not MPI_Abort: MPI runs at MPI_THREAD_FUNNELED, and this is not the main thread (which is inside
            // the collective). A rank that exits without MPI_Finalize makes the launcher end the whole job.
            _exit(1)
        }
    }
}
