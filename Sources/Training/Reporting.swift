import Distributed
import InputChecks
import Foundation

/// Prints progress as Keras does: on a terminal a live progress bar with ETA and running metrics, otherwise one
/// line per epoch. Every epoch ends with time, samples/s, loss, accuracy, val_loss, val_accuracy.
///
/// The bar is redrawn in place with a carriage return, so it must never be wider than the terminal: a line that
/// wraps cannot be redrawn, and every redraw would leave a new line behind. It fits `columns`, shortening its
/// bar and then dropping figures from the right.
public final class ConsoleReporter: TrainingObserver {
    private let isTerminal: Bool
    private let columns: Int
    private var lastDraw = Date.distantPast
    private var epochs = 0
    private var steps = 0
    /// True while the bar's line is open (no newline yet): a note must end it first.
    private var barIsOpen = false
    private let write: (String) -> Void

    public init(isTerminal: Bool, columns: Int = terminalColumns(),
                write: @escaping (String) -> Void = writeStandardOutput) {
        self.isTerminal = isTerminal
        self.columns = columns
        self.write = write
    }

    public func epochBegan(_ epoch: Int, of epochs: Int, steps: Int) {
        self.epochs = epochs
        self.steps = steps
        if isTerminal { write("Epoch \(epoch)/\(epochs)\n") }
    }

    public func stepEnded(_ p: StepProgress) {
        guard isTerminal, p.step == p.steps || Date().timeIntervalSince(lastDraw) >= 0.1 else { return }
        lastDraw = Date()
        let eta = p.elapsed / Double(p.step) * Double(p.steps - p.step)
        write("\r" + ConsoleReporter.barLine(step: p.step, of: p.steps, figures: [
            "ETA: \(Int(eta.rounded()))s", "loss: \(p.loss.fixed(4))", "accuracy: \(p.accuracy.fixed(4))",
        ], columns: columns) + "\u{1B}[K")
        barIsOpen = true
    }

    /// `step/steps [====>....] - figure - figure`, at most `columns - 1` wide (the last column stays free, as some
    /// terminals wrap on it): the bar shrinks from 30 to 10 cells, then figures are dropped from the end, then
    /// the bar goes.
    public static func barLine(step: Int, of steps: Int, figures: [String], columns: Int) -> String {
        let counter = String(step).padded(String(steps).count) + "/\(steps)"
        let room = columns - 1
        for kept in stride(from: figures.count, through: 0, by: -1) {
            let tail = figures.prefix(kept).map { " - " + $0 }.joined()
            let width = min(30, room - counter.count - 3 - tail.count)
            guard width >= 10 else { continue }
            let done = width * step / steps
            let bar = String(repeating: "=", count: max(0, done - 1)) + (done > 0 ? (step == steps ? "=" : ">") : "")
                + String(repeating: ".", count: width - done)
            return "\(counter) [\(bar)]\(tail)"
        }
        return String(counter.prefix(max(0, room)))
    }

    public func epochEnded(_ r: EpochRecord) {
        // Keras' end-of-epoch line keeps the step count on a terminal; a log file gets the epoch number instead.
        var line = isTerminal ? "\r\u{1B}[K\(steps)/\(steps) - " : "Epoch \(r.epoch)/\(epochs) - "
        line += "\(r.seconds.fixed(1))s - \(Int(r.samplesPerSecond.rounded())) samples/s - loss: \(r.loss.fixed(4))"
            + " - accuracy: \(r.accuracy.fixed(4))"
        if let valLoss = r.valLoss, let valAccuracy = r.valAccuracy {
            line += " - val_loss: \(valLoss.fixed(4)) - val_accuracy: \(valAccuracy.fixed(4))"
        }
        barIsOpen = false
        write(line + "\n")
    }

    public func intervalEnded(step: StepProgress, globalSamplesPerSecond: Double, times: RankTimes) {}

    public func note(_ message: String) {
        if barIsOpen { write("\n") }
        barIsOpen = false
        write(message + "\n")
    }
}

/// The terminal's width: standard output's window size, else $COLUMNS, else 80 (the default terminal; an MPI
/// launcher's forwarded output has no window size).
public func terminalColumns() -> Int {
    var size = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
    if let text = ProcessInfo.processInfo.environment["COLUMNS"], let columns = Int(text), columns > 0 { return columns }
    return 80
}

/// The `--log FILE` record stream: JSON lines, one per epoch and one every N steps, each with its wall time.
/// A log that cannot be written (a full disk) costs one warning, never the training.
public final class JSONLinesLog: TrainingObserver {
    private let descriptor: Int32
    private let path: String
    private var failed = false
    private let started = Date()

    /// Opens `path` for appending (creating it), so a log continues across runs.
    public init(path: String) throws {
        self.path = path
        // O_NONBLOCK so that a FIFO named as the log cannot hold the open; it is refused below.
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw TrainingError("cannot open the log file \(path): \(String(cString: strerror(errno))); check the "
                                    + "directory exists and is writable")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw TrainingError("the log file \(path) is not a regular file; name a file")
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
    }

    deinit { close(descriptor) }

    private func append(_ bytes: [UInt8]) {
        guard !failed, !writeFully(descriptor, bytes) else { return }
        failed = true
        writeStandardError("warning: cannot write to the log \(path) (\(String(cString: strerror(errno)))); "
                           + "training goes on without it\n")
    }

    /// Appends one record: `event` plus the given fields plus the wall time.
    public func record(_ event: String, _ fields: [String: Any]) {
        var object = fields
        object["event"] = event
        object["wall_time"] = Date().timeIntervalSince1970
        object["elapsed"] = Date().timeIntervalSince(started)
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        append([UInt8](data) + [0x0A])
    }

    public func epochBegan(_ epoch: Int, of epochs: Int, steps: Int) {}

    public func stepEnded(_ p: StepProgress) {}

    /// A step record at every logging interval: running metrics, global samples/s, and each rank's compute and
    /// communication seconds over the interval as min, mean and max across ranks.
    public func intervalEnded(step p: StepProgress, globalSamplesPerSecond: Double, times t: RankTimes) {
        record("step", ["epoch": p.epoch, "step": p.step, "steps": p.steps, "loss": p.loss, "accuracy": p.accuracy,
                        "learning_rate": Double(p.learningRate), "samples_seen": p.samplesSeen,
                        "samples_per_second": globalSamplesPerSecond,
                        "compute_seconds": ["min": t.computeMin, "mean": t.computeMean, "max": t.computeMax],
                        "communication_seconds": ["min": t.communicationMin, "mean": t.communicationMean,
                                                  "max": t.communicationMax]])
    }

    public func epochEnded(_ r: EpochRecord) {
        guard let data = try? JSONEncoder().encode(r),
              let fields = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return }
        record("epoch", fields)
    }

    public func note(_ message: String) { record("note", ["message": message]) }

    /// On resume: appends the epochs of `history` after the last one the log at `logPath` records. A crash between
    /// a checkpoint and its epoch's log record leaves that epoch out of the log, never in it twice.
    public func appendEpochsMissing(from history: [EpochRecord], logPath: String) {
        let lines = ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n")
        let logged = lines.compactMap { line -> Int? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  object["event"] as? String == "epoch" else { return nil }
            return object["epoch"] as? Int
        }.max() ?? 0
        for record in history where record.epoch > logged { epochEnded(record) }
    }
}

public struct TrainingError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The CPU's model name as /proc/cpuinfo gives it, for logs and reports; nil where there is none.
public func cpuModelName() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
          let colon = line.firstIndex(of: ":") else { return nil }
    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
}

/// "1 rank", "2 ranks": a count and its noun, for the lines the training and its commands print.
public func counted(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
