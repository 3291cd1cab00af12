import Engine
import Foundation

/// How many worker threads a rank runs, and on which CPUs: `--threads`, else `MNIST_TRAIN_THREADS`, else the cores
/// this rank may use. A rank the launcher bound to CPUs of its own (`mpirun --map-by ppr:1:node:PE=N --bind-to
/// core`) uses those; an unbound one shares the node's CPUs with the node's other ranks (Open MPI's
/// `OMPI_COMM_WORLD_LOCAL_SIZE`). Workers are pinned only to CPUs the rank owns: those it was bound to, or all the
/// node's when it alone runs there and uses every one. Pinning fewer would put every such process, and its
/// neighbours' too, on the same first CPUs while the rest stay idle.
public struct ThreadPlan: Equatable, Sendable {
    public let threads: Int
    /// The CPUs to pin the workers to, when the rank has its own.
    public let cpus: [Int]?
    /// Said once at start when the node's ranks x threads exceed its cores.
    public let oversubscription: String?

    public static let maximumThreads = 256

    public static func make(requested: Int?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            allowedCPUs: [Int] = WorkerThreads.allowedCPUs(),
                            nodeCPUs: Int = ProcessInfo.processInfo.processorCount) throws -> ThreadPlan {
        let localRanks = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) }.map { max($0, 1) } ?? 1
        let available = allowedCPUs.isEmpty ? nodeCPUs : allowedCPUs.count
        let bound = !allowedCPUs.isEmpty && allowedCPUs.count < nodeCPUs
        let cores = bound ? available : max(1, available / localRanks)
        let threads: Int
        if let requested {
            guard (1...maximumThreads).contains(requested) else {
                throw TrainingError("--threads must be 1 to \(maximumThreads), got \(requested)")
            }
            threads = requested
        } else if let text = environment["MNIST_TRAIN_THREADS"] {
            guard let value = Int(text), (1...maximumThreads).contains(value) else {
                throw TrainingError("MNIST_TRAIN_THREADS must be a whole number from 1 to \(maximumThreads), got '\(text)'")
            }
            threads = value
        } else {
            threads = cores
        }
        let ownsCPUs = bound || (localRanks == 1 && threads == available)
        let pinned = ownsCPUs && !allowedCPUs.isEmpty ? Array(allowedCPUs.prefix(threads)) : nil
        let oversubscription: String?
        if bound {
            oversubscription = threads <= available ? nil
                : "\(counted(threads, "thread")) on the \(counted(available, "core")) bound to this rank: they will take "
                    + "turns; --threads \(available) fits"
        } else {
            let who = localRanks == 1 ? counted(threads, "thread")
                : "\(counted(localRanks, "rank")) x \(counted(threads, "thread"))"
            oversubscription = localRanks * threads <= available ? nil
                : "\(who) on \(counted(available, "core")): they will take turns; --threads \(cores) fits"
        }
        return ThreadPlan(threads: threads, cpus: pinned, oversubscription: oversubscription)
    }

    /// The rank's worker threads, pinned as planned.
    public func makeWorkers() -> WorkerThreads {
        WorkerThreads(count: threads, cpus: cpus, sharesCPUs: oversubscription != nil)
    }
}
