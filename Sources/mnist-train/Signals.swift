#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// SIGINT and SIGTERM (how schedulers stop a job) and SIGUSR1 set a flag that training polls after each step:
/// the step finishes, a checkpoint is written, the process exits cleanly. SIGUSR1 is for stopping an mpirun
/// job: Open MPI's mpirun forwards it to the ranks at once and then exits 0 with them, whereas a SIGTERM or
/// SIGINT sent to mpirun reaches the ranks about a second later, and mpirun then exits 1 whatever they did.
enum StopSignals {
    nonisolated(unsafe) private static var received: sig_atomic_t = 0

    static func install() {
        for signalNumber in [SIGINT, SIGTERM, SIGUSR1] {
            signal(signalNumber) { _ in StopSignals.received = 1 }
        }
    }

    static var requested: Bool { received != 0 }
}
