import Foundation

/// `--check-sync`'s second half: before every collective, the ranks compare what each is about to call (kind,
/// reduction, element count) in one small allreduce of a table with a row per rank. A code path that makes ranks
/// call different collectives is then reported at the first one that differs, naming every rank's call and the
/// step, instead of hanging in mismatched MPI calls or silently reducing buffers of other sizes.
///
/// The comparison is itself a collective that every rank calls at the same point (before its own next one), so
/// it meets even when the calls that follow would not.
public final class CheckedCollectives: Communicator {
    private let inner: any Communicator
    private var sequence = 0
    /// The global step under way, for the message (set by the training loop's owner).
    public var currentStep: () -> Int = { 0 }

    public init(_ inner: any Communicator) { self.inner = inner }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }
    public var host: String { inner.host }
    public var activity: RankActivity? { inner.activity }

    /// What a rank calls, as numbers a Double holds exactly.
    private enum Kind: Int, CaseIterable {
        case allreduceFloats = 1, allreduceDoubles, broadcast, barrier, gather

        func described(operation: Int, count: Int) -> String {
            let reduction = ["sum", "average", "max", "min"][operation]
            switch self {
            case .allreduceFloats: return "allreduce (\(reduction)) of \(count.formatted()) floats"
            case .allreduceDoubles: return "allreduce (\(reduction)) of \(count.formatted()) doubles"
            case .broadcast: return "broadcast of \(count.formatted()) bytes"
            case .barrier: return "barrier"
            case .gather: return "gather"
            }
        }
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) {
        compare(.allreduceFloats, operation, buffer.count)
        inner.allreduce(buffer, operation)
    }

    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) {
        compare(.allreduceDoubles, operation, buffer.count)
        inner.allreduce(buffer, operation)
    }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        compare(.broadcast, nil, buffer.count)
        inner.broadcast(buffer, root: root)
    }

    /// Ranks gather counts of their own, so only the kind is compared.
    public func gather(_ values: [Double], root: Int) -> [[Double]] {
        compare(.gather, nil, 0)
        return inner.gather(values, root: root)
    }

    public func barrier() {
        compare(.barrier, nil, 0)
        inner.barrier()
    }

    public func abort(code: Int32) -> Never { inner.abort(code: code) }

    private func compare(_ kind: Kind, _ operation: ReduceOperation?, _ count: Int) {
        sequence += 1
        let operations: [ReduceOperation] = [.sum, .average, .max, .min]
        var table = [Double](repeating: 0, count: 3 * size)
        table[3 * rank] = Double(kind.rawValue)
        table[3 * rank + 1] = Double(operation.flatMap { operations.firstIndex(of: $0) } ?? 0)
        table[3 * rank + 2] = Double(count)
        inner.allreduce(&table, .sum)
        let calls = (0..<size).map { Array(table[3 * $0..<3 * $0 + 3]) }
        guard calls.contains(where: { $0 != calls[0] }) else { return }
        // Every rank sees the same table; rank 0 says it, the others give it a moment before they end the job.
        if rank == 0 {
            let described = calls.enumerated().map { rank, call in
                let kind = Kind(rawValue: Int(call[0])).map { $0.described(operation: Int(call[1]), count: Int(call[2])) }
                return "rank \(rank) \(kind ?? "nothing known")"
            }
            writeStandardError("rank 0 (\(host)): error: --check-sync: collective \(sequence.formatted()) (global step "
                               + "\(currentStep().formatted())) differs across ranks: \(described.joined(separator: ", ")); "
                               + "the ranks no longer run the same code path; ending the job\n")
        } else {
            sleep(2)
        }
        inner.abort(code: 1)
    }
}
