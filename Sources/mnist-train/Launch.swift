import Distributed
import Foundation

/// Runs a command's body on every rank of the job: with MPI when started by an MPI launcher, else as a world of
/// one. MPI is initialized once here and finalized once on success. On any rank, an error prints one line naming
/// the rank and host, then ends the whole job (MPI_Abort): no rank is left waiting in a collective. Nor is one
/// left waiting for a peer that stopped answering: a collective that waits `stallTimeout` seconds ends the job.
func runOnEveryRank(stallTimeout: Double = defaultStallTimeout, _ body: (any Communicator) throws -> Void) throws {
    guard MPICommunicator.isLaunchedByMPI else { return try body(SingleProcess()) }
    let communicator = try MPICommunicator()
    do {
        try body(communicator.size > 1 && stallTimeout > 0
                     ? StallWatchdog(communicator, timeout: stallTimeout) : communicator)
        communicator.finalize()
    } catch {
        if communicator.size == 1 {
            communicator.finalize()
            throw error
        }
        writeStandardError("rank \(communicator.rank) (\(communicator.host)): error: \(error)\n")
        communicator.abort(code: 1)
    }
}

/// Seconds a collective may wait for the other ranks. Rank 0 writing a checkpoint holds the others at a barrier
/// while it writes; two minutes leaves room for slow shared storage.
let defaultStallTimeout: Double = 120

/// This process's rank as its launcher announced it, known before MPI starts (0 without a launcher).
var launcherRank: Int {
    let environment = ProcessInfo.processInfo.environment
    return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { environment[$0].flatMap(Int.init) }.first ?? 0
}
