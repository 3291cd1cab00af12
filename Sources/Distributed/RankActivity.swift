import Synchronization

/// Where this rank's training stands: epoch, global step and phase. The training loop sets it on the main thread;
/// the stall watchdog's heartbeat thread reads it and tells the other ranks, so that a stall report can say what a
/// rank that has not arrived was doing. Atomics, not a lock: neither thread ever waits for the other.
public final class RankActivity: Sendable {
    public enum Phase: Int, Sendable, CaseIterable {
        case starting, training, evaluation, checkpoint, finishing

        /// The phase as a message words where a rank was: "last seen in training".
        var described: String {
            switch self {
            case .starting: "at start-up"
            case .training: "in training"
            case .evaluation: "in evaluation"
            case .checkpoint: "writing a checkpoint"
            case .finishing: "after training"
            }
        }
    }

    private let epochValue = Atomic<Int>(0)
    private let stepValue = Atomic<Int>(0)
    private let phaseValue = Atomic<Int>(Phase.starting.rawValue)

    public init() {}

    /// The epoch under way, from 1 (0 before the first step).
    public var epoch: Int { epochValue.load(ordering: .relaxed) }
    /// The global step under way, from 1; between steps the last one run.
    public var step: Int { stepValue.load(ordering: .relaxed) }

    public var phase: Phase {
        get { Phase(rawValue: phaseValue.load(ordering: .relaxed))! }
        set { phaseValue.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// Called as a training step begins.
    public func beginStep(epoch: Int, step: Int) {
        epochValue.store(epoch, ordering: .relaxed)
        stepValue.store(step, ordering: .relaxed)
        phase = .training
    }

    /// Runs `body` in `phase`, then returns to the phase before.
    public func during<T>(_ phase: Phase, _ body: () throws -> T) rethrows -> T {
        let before = self.phase
        self.phase = phase
        defer { self.phase = before }
        return try body()
    }
}

extension Communicator {
    /// Runs `body` with this rank's activity, where a stall watchdog keeps one, in `phase`.
    public func during<T>(_ phase: RankActivity.Phase, _ body: () throws -> T) rethrows -> T {
        guard let activity else { return try body() }
        return try activity.during(phase, body)
    }
}
