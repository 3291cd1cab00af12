import Foundation

/// The collectives the stall watchdog tells apart; the raw values travel in heartbeats.
enum Collective: Int, CaseIterable, Sendable {
    case allreduce = 1, broadcast, barrier, gather

    var withArticle: String { self == .allreduce ? "an allreduce" : "a \(self)" }
}

/// What a rank tells the others in each heartbeat, and what a watchdog knows of its own rank.
struct RankStatus: Equatable, Sendable {
    /// Collectives entered so far, the one under way included. Every rank calls the same collectives in the same
    /// order, so the same count on two ranks means the same call.
    var entered: Int
    /// The collective under way, nil between collectives.
    var inside: Collective?
    var epoch: Int
    var step: Int
    var phase: RankActivity.Phase

    /// Where the rank is, as the report words it: "in training (epoch 1, global step 38)".
    var place: String {
        step > 0 ? "\(phase.described) (epoch \(epoch), global step \(step.formatted()))" : phase.described
    }
}

/// What a watchdog that fires knows of another rank.
enum Sighting: Equatable, Sendable {
    /// That rank could not make its heartbeat socket.
    case noHeartbeat
    /// No heartbeat of it has reached this rank.
    case neverHeard
    case heard(RankStatus, secondsAgo: Double)
}

/// The one line a watchdog prints when a collective has waited past the timeout: which ranks hold it up, and where
/// each was when last heard. Statuses in, line out: no clock, no socket.
struct StallReport {
    let rank: Int
    /// Every rank's host.
    let hosts: [String]
    let collective: Collective
    /// This rank's status, inside `collective`.
    let own: RankStatus
    let waited: Double
    let timeout: Double
    /// What this rank knows of each rank (its own entry unused); nil when it has no heartbeat of its own.
    let sightings: [Sighting]?

    /// A rank not heard for longer than this has stopped answering: that is many heartbeat intervals, more than a
    /// lost datagram or a busy scheduler accounts for.
    static let silenceLimit = 3.0

    /// True when a rank below this one waits in the same collective and answers: the lowest such rank reports,
    /// and this one leaves the line to it.
    var aLowerRankReports: Bool {
        guard let sightings else { return false }
        return sightings.prefix(rank).contains { sighting in
            guard case .heard(let status, let ago) = sighting else { return false }
            return ago <= Self.silenceLimit && status.entered == own.entered && status.inside != nil
        }
    }

    var line: String {
        let head = "rank \(rank) (\(hosts[rank])): error: \(collective) \(own.place) has waited \(Int(waited)) s for the "
            + "other ranks (--stall-timeout \(Int(timeout)))"
        guard let sightings else {
            return head + ": a rank or its host stopped answering, e.g. a cut network link; ending the job\n"
        }
        // Ranks that have not entered this collective, each with what it was doing; then ranks that have but
        // still hold it up.
        var missing: [(rank: Int, predicate: Predicate)] = []
        var others: [(rank: Int, predicate: Predicate)] = []
        for (peer, sighting) in sightings.enumerated() where peer != rank {
            switch sighting {
            case .noHeartbeat: missing.append((peer, .noHeartbeat))
            case .neverHeard: missing.append((peer, .neverHeard))
            case .heard(let status, let ago):
                let silent = ago > Self.silenceLimit
                if status.entered < own.entered {
                    missing.append((peer, silent ? .stoppedAnswering(status, ago: ago) : .lastSeen(status, ago: ago)))
                } else if silent {
                    let inside = status.entered == own.entered && status.inside == collective ? collective : nil
                    others.append((peer, .stoppedAnswering(status, ago: ago, insideThis: inside)))
                } else if status.entered == own.entered, let theirs = status.inside, theirs != collective {
                    others.append((peer, .inOtherCollective(theirs, ours: collective)))
                }
            }
        }
        var clauses: [String] = []
        if !missing.isEmpty {
            let ranks = missing.map(\.rank)
            let notArrived = "\(ranksOnHosts(ranks)) \(ranks.count == 1 ? "has" : "have") not arrived"
            let groups = grouped(missing)
            if groups.count == 1 {
                clauses.append(notArrived + ": " + (ranks.count == 1 ? "it " : "they ") + groups[0].predicate.text(plural: ranks.count > 1))
            } else {
                clauses.append(notArrived)
                clauses += groups.map { "\(Self.ranksText($0.ranks)) \($0.predicate.text(plural: $0.ranks.count > 1))" }
            }
        }
        clauses += grouped(others).map { "\(ranksOnHosts($0.ranks)) \($0.predicate.text(plural: $0.ranks.count > 1))" }
        if clauses.isEmpty { clauses.append("every rank has entered it and answers: the MPI transport itself is stuck") }
        return head + "; " + clauses.joined(separator: "; ") + "; ending the job\n"
    }

    /// What the report says of a rank, whose wording depends on how many ranks it is said of.
    enum Predicate: Equatable {
        case noHeartbeat, neverHeard
        case lastSeen(RankStatus, ago: Double)
        case stoppedAnswering(RankStatus, ago: Double, insideThis: Collective? = nil)
        case inOtherCollective(Collective, ours: Collective)

        func text(plural: Bool) -> String {
            switch self {
            case .noHeartbeat:
                return plural ? "have no heartbeat (their UDP sockets could not be made)"
                    : "has no heartbeat (its UDP socket could not be made)"
            case .neverHeard:
                return (plural ? "were" : "was") + " never heard: no heartbeat reached this rank (UDP blocked between the hosts?)"
            case .lastSeen(let status, let ago):
                return (plural ? "were" : "was") + " last seen \(seconds(ago)) s ago \(status.place)"
            case .stoppedAnswering(let status, let ago, let insideThis):
                return "stopped answering \(seconds(ago)) s ago" + (insideThis.map { " inside this \($0)" } ?? "")
                    + " (stopped, or host down or cut off), last seen \(status.place)"
            case .inOtherCollective(let theirs, let ours):
                return "called \(theirs.withArticle) where this rank called \(ours.withArticle): the ranks run different "
                    + "code paths (--check-sync K names the call where they part)"
            }
        }

        /// Tenths under ten seconds, whole seconds above: ranks said alike must read alike.
        private func seconds(_ value: Double) -> String {
            value < 10 ? String(format: "%.1f", value) : String(Int(value))
        }
    }

    /// Ranks whose predicates read the same, in the order of their first rank.
    private func grouped(_ entries: [(rank: Int, predicate: Predicate)]) -> [(ranks: [Int], predicate: Predicate)] {
        var groups: [(ranks: [Int], predicate: Predicate)] = []
        for entry in entries {
            let text = entry.predicate.text(plural: false)
            if let index = groups.firstIndex(where: { $0.predicate.text(plural: false) == text }) {
                groups[index].ranks.append(entry.rank)
            } else {
                groups.append(([entry.rank], entry.predicate))
            }
        }
        return groups
    }

    /// "ranks 2, 3 (host-b) and 5 (host-c)": the ranks grouped by host, hosts in the order of their first rank.
    private func ranksOnHosts(_ ranks: [Int]) -> String {
        var byHost: [(host: String, ranks: [Int])] = []
        for rank in ranks {
            if let index = byHost.firstIndex(where: { $0.host == hosts[rank] }) {
                byHost[index].ranks.append(rank)
            } else {
                byHost.append((hosts[rank], [rank]))
            }
        }
        let parts = byHost.map { "\(Self.numbers($0.ranks)) (\($0.host))" }
        let listed = parts.count == 1 ? parts[0] : parts.dropLast().joined(separator: ", ") + " and " + parts.last!
        return (ranks.count == 1 ? "rank " : "ranks ") + listed
    }

    static func ranksText(_ ranks: [Int]) -> String { (ranks.count == 1 ? "rank " : "ranks ") + numbers(ranks) }

    /// "2, 3, 8-15": runs of three or more as a range.
    static func numbers(_ ranks: [Int]) -> String {
        var parts: [String] = []
        var start = 0
        while start < ranks.count {
            var end = start
            while end + 1 < ranks.count, ranks[end + 1] == ranks[end] + 1 { end += 1 }
            if end - start >= 2 {
                parts.append("\(ranks[start])-\(ranks[end])")
            } else {
                parts += ranks[start...end].map(String.init)
            }
            start = end + 1
        }
        return parts.joined(separator: ", ")
    }
}
