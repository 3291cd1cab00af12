/// What data parallelism needs from a transport: ranks, in-place reductions, broadcast, barrier, abort.
/// Implementations: `MPICommunicator` (OpenMPI, under mpirun) and `SingleProcess` (a world of one).
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// This rank's host name, for messages that say where something happened.
    var host: String { get }
    /// Where this rank's training stands, for the stall watchdog to tell the other ranks; nil without one.
    var activity: RankActivity? { get }

    func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation)
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation)
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int)
    /// Every rank's `values` (any count, one rank's may differ from another's), in rank order, at `root`; the
    /// other ranks get an empty array.
    func gather(_ values: [Double], root: Int) -> [[Double]]
    func barrier()
    /// Ends every rank of the job now, with `code` as the exit status.
    func abort(code: Int32) -> Never
}

public enum ReduceOperation: Sendable {
    case sum, average, max, min
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    public var activity: RankActivity? { nil }

    /// Reduces an array in place.
    public func allreduce(_ values: inout [Double], _ operation: ReduceOperation) {
        values.withUnsafeMutableBufferPointer { allreduce($0, operation) }
    }

    public func allreduce(_ values: inout [Float], _ operation: ReduceOperation) {
        values.withUnsafeMutableBufferPointer { allreduce($0, operation) }
    }

    /// Makes every rank's `values` equal to rank `root`'s (same count on every rank).
    public func broadcast<T: BitwiseCopyable>(_ values: inout [T], root: Int = 0) {
        values.withUnsafeMutableBytes { broadcast($0, root: root) }
    }

    public func broadcast<T: BitwiseCopyable>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int = 0) {
        broadcast(UnsafeMutableRawBufferPointer(buffer), root: root)
    }

    /// The contiguous share of `count` items that this rank owns when they are split as evenly as possible:
    /// shares differ by at most one (`count % size` ranks, spread by the formula, take one more). Every item
    /// belongs to exactly one rank.
    public func share(of count: Int) -> Range<Int> {
        (count * rank / size)..<(count * (rank + 1) / size)
    }
}

/// A world of one process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public var host: String { hostName() }
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) {}
    public func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {}
    public func gather(_ values: [Double], root: Int) -> [[Double]] { [values] }
    public func barrier() {}
    public func abort(code: Int32) -> Never { exit(code) }
}

import Foundation

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// FNV-1a of `text`, cut to 52 bits so that a Double holds it exactly: for comparing identities across ranks in
/// a collective of Doubles.
public func hash52(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
    return hash & (1 << 52 - 1)
}

/// Equal on two processes that read the same CLOCK_MONOTONIC: the same kernel boot (its boot id) and the same
/// time namespace, which can offset the clock. Where /proc has neither, the host name. 52 bits (`hash52`).
public var monotonicClockIdentity: UInt64 {
    let bootID = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
    let namespace = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/time")) ?? ""
    return hash52(bootID.map { $0 + namespace } ?? hostName())
}

func hostName() -> String {
    var name = [CChar](repeating: 0, count: 256)
    gethostname(&name, name.count)
    return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Writes to standard output unbuffered; a failed write (a full disk, a closed pipe) is dropped, never fatal:
/// progress output must not end a training.
public func writeStandardOutput(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return }
        offset += n
    }
}

/// Writes to standard error unbuffered, so a message is out before an abort ends the process.
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { return }
        offset += n
    }
}
