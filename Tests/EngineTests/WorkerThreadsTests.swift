@testable import Engine
import XCTest

/// The pool's hand-off: every worker runs each job once with its own index, whether the workers spin between
/// jobs or, sharing CPUs, sleep and yield at once.
final class WorkerThreadsTests: XCTestCase {
    func testEveryWorkerRunsEveryJobOnce() {
        for sharesCPUs in [false, true] {
            let workers = WorkerThreads(count: 3, sharesCPUs: sharesCPUs)
            let jobs = 2_000
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: workers.count)
            defer { counts.deallocate() }
            counts.initialize(repeating: 0)
            for _ in 0..<jobs { workers.run { counts[$0] += 1 } }
            XCTAssertEqual(Array(counts), [jobs, jobs, jobs], "sharesCPUs: \(sharesCPUs)")
        }
    }

    func testSharesCoverTheItemsInOrder() {
        for (count, parts, granule) in [(10, 3, 1), (79_510, 2, 8), (5, 4, 8), (0, 2, 1)] {
            let shares = (0..<parts).map { WorkerThreads.share(of: count, part: $0, parts: parts, granule: granule) }
            XCTAssertEqual(shares.first?.lowerBound, 0)
            XCTAssertEqual(shares.last?.upperBound, count)
            for (left, right) in zip(shares, shares.dropFirst()) { XCTAssertEqual(left.upperBound, right.lowerBound) }
            for share in shares.dropLast() { XCTAssertEqual(share.upperBound % granule, 0) }
        }
    }
}
