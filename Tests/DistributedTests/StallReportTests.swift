@testable import Distributed
import XCTest

/// The stall watchdog's line, composed from tables of the ranks' last heartbeats.
final class StallReportTests: XCTestCase {
    let training = RankStatus(entered: 9_000, inside: .allreduce, epoch: 3, step: 4_211, phase: .training)

    func status(entered: Int, inside: Collective? = nil, epoch: Int = 3, step: Int, _ phase: RankActivity.Phase) -> RankStatus {
        RankStatus(entered: entered, inside: inside, epoch: epoch, step: step, phase: phase)
    }

    func report(rank: Int = 0, hosts: [String], own: RankStatus? = nil, waited: Double = 120.4, timeout: Double = 120,
                _ sightings: [Sighting]?) -> StallReport {
        let own = own ?? training
        return StallReport(rank: rank, hosts: hosts, collective: own.inside!, own: own, waited: waited, timeout: timeout,
                           sightings: sightings)
    }

    func testNamesTheRanksThatHaveNotArrivedByHostAndWhereEachWasLastSeen() {
        let line = report(hosts: ["host-a", "host-a", "host-b", "host-b"], [
            .neverHeard,
            .heard(training, secondsAgo: 0.2),
            .heard(status(entered: 8_990, step: 4_210, .evaluation), secondsAgo: 0.4),
            .heard(status(entered: 8_999, step: 4_211, .training), secondsAgo: 118.3),
        ]).line
        XCTAssertEqual(line, "rank 0 (host-a): error: allreduce in training (epoch 3, global step 4,211) has waited 120 s for "
                       + "the other ranks (--stall-timeout 120); ranks 2, 3 (host-b) have not arrived; rank 2 was last seen "
                       + "0.4 s ago in evaluation (epoch 3, global step 4,210); rank 3 stopped answering 118 s ago (stopped, "
                       + "or host down or cut off), last seen in training (epoch 3, global step 4,211); ending the job\n")
    }

    /// A host down: its ranks read alike once their silences are rounded, and are said together.
    func testRanksOfAHostThatWentSilentTogetherAreOneClause() {
        let arrived = Sighting.heard(training, secondsAgo: 0.1)
        let lastSeen = status(entered: 8_998, step: 4_210, .training)
        let line = report(hosts: Array(repeating: "host-a", count: 4) + Array(repeating: "host-b", count: 4),
                          [arrived, arrived, arrived, arrived] + [61.2, 61.7, 61.9, 61.4].map { .heard(lastSeen, secondsAgo: $0) }).line
        XCTAssertTrue(line.hasSuffix("(--stall-timeout 120); ranks 4-7 (host-b) have not arrived: they stopped answering 61 s ago "
                                     + "(stopped, or host down or cut off), last seen in training (epoch 3, global step 4,210); "
                                     + "ending the job\n"), line)
    }

    func testRanksNeverHeardOrWithoutASocketHaveNotArrived() {
        let line = report(hosts: ["host-a", "host-b", "host-c"], [.neverHeard, .neverHeard, .noHeartbeat]).line
        XCTAssertTrue(line.hasSuffix("; ranks 1 (host-b) and 2 (host-c) have not arrived; rank 1 was never heard: no heartbeat "
                                     + "reached this rank (UDP blocked between the hosts?); rank 2 has no heartbeat (its UDP "
                                     + "socket could not be made); ending the job\n"), line)
    }

    func testARankThatStoppedInsideTheCollectiveIsNamedWithItsHost() {
        let line = report(hosts: ["host-a", "host-b"], [.neverHeard, .heard(training, secondsAgo: 7.3)]).line
        XCTAssertTrue(line.hasSuffix("; rank 1 (host-b) stopped answering 7.3 s ago inside this allreduce (stopped, or host down "
                                     + "or cut off), last seen in training (epoch 3, global step 4,211); ending the job\n"), line)
    }

    func testARankInAnotherCollectiveAtTheSameCountIsOnAnotherCodePath() {
        let barrier = status(entered: 9_000, inside: .barrier, step: 4_211, .training)
        let line = report(hosts: ["host-a", "host-a"], [.neverHeard, .heard(barrier, secondsAgo: 0.5)]).line
        XCTAssertTrue(line.hasSuffix("; rank 1 (host-a) called a barrier where this rank called an allreduce: the ranks run "
                                     + "different code paths (--check-sync K names the call where they part); ending the job\n"),
                      line)
    }

    func testEveryRankArrivedAndAnsweringLeavesTheTransport() {
        let line = report(hosts: ["host-a", "host-b"], [.neverHeard, .heard(training, secondsAgo: 0.5)]).line
        XCTAssertTrue(line.hasSuffix("; every rank has entered it and answers: the MPI transport itself is stuck; ending the job\n"),
                      line)
    }

    /// Without a heartbeat of its own, the report says what it said before there was one.
    func testWithoutAHeartbeatTheLineNamesNoRank() {
        let own = status(entered: 40, inside: .barrier, epoch: 2, step: 1_200, .checkpoint)
        XCTAssertEqual(report(rank: 1, hosts: ["host-a", "host-b"], own: own, waited: 130.9, nil).line,
                       "rank 1 (host-b): error: barrier writing a checkpoint (epoch 2, global step 1,200) has waited 130 s for "
                       + "the other ranks (--stall-timeout 120): a rank or its host stopped answering, e.g. a cut network "
                       + "link; ending the job\n")
    }

    func testBeforeTheFirstStepTheLineSaysStartUp() {
        let own = status(entered: 2, inside: .broadcast, epoch: 0, step: 0, .starting)
        XCTAssertTrue(report(hosts: ["host-a"], own: own, nil).line.hasPrefix("rank 0 (host-a): error: broadcast at start-up has waited"))
    }

    /// The lowest rank that waits in the same collective and answers prints the line; a silent one cannot.
    func testTheLowestWaitingRankThatAnswersReports() {
        let hosts = ["host-a", "host-a", "host-a"]
        let waiting = Sighting.heard(training, secondsAgo: 0.3)
        XCTAssertTrue(report(rank: 2, hosts: hosts, [.neverHeard, waiting, .neverHeard]).aLowerRankReports)
        XCTAssertFalse(report(rank: 1, hosts: hosts, [.heard(training, secondsAgo: 4), .neverHeard, waiting]).aLowerRankReports,
                       "rank 0 has stopped answering: rank 1 reports")
        XCTAssertFalse(report(rank: 1, hosts: hosts, [.heard(status(entered: 8_999, step: 4_211, .training), secondsAgo: 0.3),
                                                      .neverHeard, waiting]).aLowerRankReports,
                       "rank 0 has not arrived: rank 1 reports")
        XCTAssertFalse(report(rank: 0, hosts: hosts, [.neverHeard, waiting, waiting]).aLowerRankReports)
        XCTAssertFalse(report(rank: 2, hosts: hosts, own: training, nil).aLowerRankReports)
    }

    func testRankListsWriteRunsOfThreeOrMoreAsRanges() {
        XCTAssertEqual(StallReport.numbers([1, 2, 3, 5, 7, 8]), "1-3, 5, 7, 8")
        XCTAssertEqual(StallReport.numbers([4]), "4")
    }

    func testAHeartbeatDatagramReadsBackAndAnythingElseIsDropped() {
        let sent = Datagram(token: 77, rank: 2, counter: 5, status: training)
        let bytes = sent.bytes
        XCTAssertEqual(bytes.count, Datagram.size)
        let read = Datagram(bytes[...], token: 77, ranks: 4)
        XCTAssertEqual(read?.status, training)
        XCTAssertEqual(read?.rank, 2)
        XCTAssertEqual(read?.counter, 5)
        XCTAssertNil(Datagram(bytes[...], token: 78, ranks: 4), "another job's token")
        XCTAssertNil(Datagram(bytes[...], token: 77, ranks: 2), "a rank outside the job")
        XCTAssertNil(Datagram(bytes.dropLast(), token: 77, ranks: 4), "short")
        XCTAssertNil(Datagram(bytes[...] + [0], token: 77, ranks: 4), "long")
        var badPhase = bytes
        badPhase[8 * 8] = 9
        XCTAssertNil(Datagram(badPhase[...], token: 77, ranks: 4), "no such phase")
        var badCollective = bytes
        badCollective[5 * 8] = UInt8(Collective.allCases.count + 1)
        XCTAssertNil(Datagram(badCollective[...], token: 77, ranks: 4), "no such collective")
        var huge = bytes
        huge[7 * 8 + 7] = 0xFF
        XCTAssertNil(Datagram(huge[...], token: 77, ranks: 4), "a step past 2^53")
    }
}
