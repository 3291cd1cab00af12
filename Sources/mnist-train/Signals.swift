#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// SIGINT and SIGTERM (how schedulers stop a job) set a flag that training polls after each step: the step
/// finishes, a checkpoint is written, the process exits cleanly.
enum StopSignals {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    static func install() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in StopSignals.received = 1 }
        }
    }

    static var requested: Bool { received != 0 }
}
