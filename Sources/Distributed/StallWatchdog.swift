import Dispatch
import Foundation
import Synchronization

/// A communicator that ends the whole job when one of its collectives waits longer than `timeout` seconds.
///
/// A rank that dies is noticed by the MPI launcher at once, but a host whose network is cut is not: its peers
/// block in the next allreduce until TCP gives up, which takes minutes to hours. A watch thread checks once a
/// second how long the collective under way has waited; past the timeout it prints one line naming the rank,
/// host and collective, and ends its process, which makes the launcher end the job. Collectives that return,
/// however slow the steps between them, never trip it.
public final class StallWatchdog: Communicator, @unchecked Sendable {
    // @unchecked: the watch thread reads only the atomics and the immutable rank, host and timeout, and ends
    // the process.
    private let inner: any Communicator
    private let timeout: Double
    /// When the collective under way began (uptime nanoseconds), 0 when none is.
    private let waitingSince = Atomic<UInt64>(0)
    /// Index in `Collective.allCases` of the collective under way.
    private let waitingIn = Atomic<Int>(0)

    private enum Collective: String, CaseIterable {
        case allreduce, broadcast, gather, barrier
    }

    public init(_ inner: any Communicator, timeout: Double) {
        self.inner = inner
        self.timeout = timeout
        Thread.detachNewThread { [self] in watch() }
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }
    public var host: String { inner.host }

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
        waitingIn.store(Collective.allCases.firstIndex(of: collective)!, ordering: .relaxed)
        waitingSince.store(DispatchTime.now().uptimeNanoseconds, ordering: .releasing)
        body()
        waitingSince.store(0, ordering: .releasing)
    }

    private func watch() {
        while true {
            sleep(1)
            let since = waitingSince.load(ordering: .acquiring)
            guard since > 0 else { continue }
            let waited = Double(DispatchTime.now().uptimeNanoseconds - since) / 1e9
            guard waited > timeout else { continue }
            let collective = Collective.allCases[waitingIn.load(ordering: .relaxed)].rawValue
            writeStandardError("rank \(rank) (\(host)): error: \(collective) has waited \(Int(waited)) s for the other "
                               + "ranks (--stall-timeout \(Int(timeout))): a rank or its host stopped answering, "
                               + "e.g. a cut network link; ending the job\n")
            // Not MPI_Abort: MPI runs at MPI_THREAD_FUNNELED, and this is not the main thread (which is inside
            // the collective). A rank that exits without MPI_Finalize makes the launcher end the whole job.
            _exit(1)
        }
    }
}
