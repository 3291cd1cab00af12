import CMPI

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// MPI_COMM_WORLD through OpenMPI. MPI is initialized once, when the communicator is made, and finalized once,
/// by `finalize()`. Every call's return code is checked: a failing start is an error, a failing collective ends
/// the job (MPI's default error handler already aborts; the checks keep that true if it is changed).
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    public let host: String
    private var finalized = false

    /// True when this process was started by an MPI launcher (mpirun, srun with PMI/PMIx).
    public static var isLaunchedByMPI: Bool {
        let variables: [String] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"]
        return variables.contains { getenv($0) != nil }
    }

    /// MPI_THREAD_FUNNELED: only the main thread calls MPI. Other threads (the stall watchdog) never do; to end
    /// the job they end their own process, which the launcher then tears the job down for.
    public init() throws {
        var provided: Int32 = 0
        try Self.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        guard provided >= Int32(MPI_THREAD_FUNNELED) else {
            throw MPIError("the MPI library gives thread level \(provided), below MPI_THREAD_FUNNELED that mnist-train needs; "
                               + "use an MPI built with thread support")
        }
        var rank: Int32 = 0, size: Int32 = 0
        try Self.check(MPI_Comm_rank(cmpi_comm_world(), &rank), "MPI_Comm_rank")
        try Self.check(MPI_Comm_size(cmpi_comm_world(), &size), "MPI_Comm_size")
        self.rank = Int(rank)
        self.size = Int(size)
        host = hostName()
    }

    private static func check(_ code: Int32, _ call: String) throws {
        guard code != 0 else { return }
        throw MPIError("\(call) failed with MPI error \(code); check the MPI installation (mnist-train check-mpi)")
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) {
        reduce(buffer, cmpi_float(), operation)
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) {
        reduce(buffer, cmpi_double(), operation)
    }

    private func reduce<T: BinaryFloatingPoint>(_ buffer: UnsafeMutableBufferPointer<T>, _ type: MPI_Datatype,
                                                _ operation: ReduceOperation) {
        guard size > 1, buffer.count > 0 else { return }
        check(MPI_Allreduce(cmpi_in_place(), buffer.baseAddress, Int32(buffer.count), type, op(operation),
                            cmpi_comm_world()), "MPI_Allreduce")
        // Averaging is a sum scaled by 1/size, as Horovod does: exact for power-of-two world sizes.
        if operation == .average {
            let scale = 1 / T(size)
            for i in buffer.indices { buffer[i] *= scale }
        }
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        guard size > 1, buffer.count > 0 else { return }
        // Counts are Int32 in MPI: send large buffers in pieces.
        var offset = 0
        while offset < buffer.count {
            let piece = min(buffer.count - offset, 1 << 30)
            check(MPI_Bcast(buffer.baseAddress! + offset, Int32(piece), cmpi_byte(), Int32(root), cmpi_comm_world()),
                  "MPI_Bcast")
            offset += piece
        }
    }

    /// MPI_Gather of the counts, then MPI_Gatherv of the values.
    public func gather(_ values: [Double], root: Int) -> [[Double]] {
        guard size > 1 else { return [values] }
        var count = Int32(clamping: values.count)
        var counts = [Int32](repeating: 0, count: size)
        check(MPI_Gather(&count, 1, cmpi_int(), &counts, 1, cmpi_int(), Int32(root), cmpi_comm_world()), "MPI_Gather")
        // Displacements are Int32 in MPI too: a total past that is not sent (the callers gather kilobytes).
        let offsets = counts.reduce(into: [0]) { $0.append($0.last! + Int($1)) }
        guard rank != root || offsets.last! <= Int(Int32.max) else {
            writeStandardError("rank \(rank) (\(host)): gather of \(offsets.last!) values is past MPI's 32-bit counts; ending the job\n")
            abort(code: 1)
        }
        var gathered = [Double](repeating: 0, count: rank == root ? offsets.last! : 0)
        let displacements = offsets.dropLast().map { Int32($0) }
        check(MPI_Gatherv(values, count, cmpi_double(), &gathered, counts, displacements, cmpi_double(), Int32(root),
                          cmpi_comm_world()), "MPI_Gatherv")
        guard rank == root else { return [] }
        return (0..<size).map { Array(gathered[offsets[$0]..<offsets[$0 + 1]]) }
    }

    public func barrier() {
        guard size > 1 else { return }
        check(MPI_Barrier(cmpi_comm_world()), "MPI_Barrier")
    }

    public func abort(code: Int32) -> Never {
        MPI_Abort(cmpi_comm_world(), code)
        exit(code)
    }

    /// MPI_Finalize, once; every rank must call it before a normal exit.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        check(MPI_Finalize(), "MPI_Finalize")
    }

    private func op(_ operation: ReduceOperation) -> MPI_Op {
        switch operation {
        case .sum, .average: cmpi_sum()
        case .max: cmpi_max()
        case .min: cmpi_min()
        }
    }

    private func check(_ code: Int32, _ call: String) {
        guard code != 0 else { return }
        writeStandardError("rank \(rank) (\(host)): \(call) failed with MPI error \(code); ending the job\n")
        abort(code: 1)
    }
}

/// MPI could not start: one line for the user.
public struct MPIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
