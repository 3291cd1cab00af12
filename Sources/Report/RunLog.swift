import Foundation
import InputChecks
import Training

/// The last run in a `fit --log` file: its start, its epochs and step records, the test result. A log is
/// appended to across runs, so a run begins at its last `fit_start`; a resumed run goes on in the same run, and
/// an epoch or step logged twice (a crash after its checkpoint, then a resume) counts once, the later record.
public struct RunLog {
    /// One `step` record: the running figures of an epoch at a logging interval.
    public struct Step: Decodable, Equatable, Sendable {
        public let epoch: Int, step: Int, steps: Int
        public let loss: Double, accuracy: Double
        public let learningRate: Double
        public let samplesPerSecond: Double
        public let computeSeconds: Spread, communicationSeconds: Spread

        /// Where in training the record falls, in epochs: 1.5 is halfway through the second.
        public var position: Double { Double(epoch - 1) + Double(step) / Double(steps) }

        enum CodingKeys: String, CodingKey {
            case epoch, step, steps, loss, accuracy
            case learningRate = "learning_rate", samplesPerSecond = "samples_per_second"
            case computeSeconds = "compute_seconds", communicationSeconds = "communication_seconds"
        }
    }

    public struct Test: Decodable, Equatable, Sendable {
        public let loss: Double, accuracy: Double
        public let correct: Int, count: Int
    }

    public let path: String
    /// The `fit_start` record's fields (model, world_size, threads, configuration, host, cpu, kernels...).
    public let start: [String: Any]
    public let epochs: [EpochRecord]
    public let steps: [Step]
    public let test: Test?
    /// World sizes of the resumes, in order.
    public let resumedWorldSizes: [Int]
    /// Unix seconds of the run's first and last records.
    public let began: Double, ended: Double

    public var model: String? { start["model"] as? String }
    public var worldSize: Int? { start["world_size"] as? Int }

    /// Reads and checks `path`. A line that is not a JSON record (a log cut short by a crash ends in one) is one
    /// line naming the file and the line.
    public init(path: String) throws {
        self.path = path
        let bytes: [UInt8]
        do { bytes = try RegularFile.contents(path, limit: InputLimits.checkpointBytes, what: path) } catch let error as InputError {
            throw ReportError(error.description)
        }
        var records: [(line: Int, object: [String: Any], data: Data)] = []
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        let lastLine = lines.lastIndex { !$0.isEmpty }
        for (index, line) in lines.enumerated() where !line.isEmpty {
            let data = Data(line)
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], object["event"] is String else {
                let last = index == lastLine
                throw ReportError("\(path): line \(index + 1) is not a whole JSON record\(last ? " (the log was cut short)" : ""); "
                                      + "give the log fit wrote, or delete that line")
            }
            records.append((index + 1, object, data))
        }
        guard let startIndex = records.lastIndex(where: { $0.object["event"] as? String == "fit_start" }) else {
            throw ReportError("\(path) holds no fit_start record: give the file fit --log wrote")
        }
        let run = records[startIndex...]
        func decoded<T: Decodable>(_ type: T.Type, _ record: (line: Int, object: [String: Any], data: Data)) throws -> T {
            do { return try JSONDecoder().decode(T.self, from: record.data) } catch {
                throw ReportError("\(path): line \(record.line) is not the \"\(record.object["event"]!)\" record fit writes; give the log fit wrote")
            }
        }
        var epochs: [Int: EpochRecord] = [:], steps: [[Int]: Step] = [:]
        var test: Test?, resumes: [Int] = []
        for record in run {
            switch record.object["event"] as? String {
            case "epoch":
                let epoch = try decoded(EpochRecord.self, record)
                epochs[epoch.epoch] = epoch
            case "step":
                let step = try decoded(Step.self, record)
                steps[[step.epoch, step.step]] = step
            case "test": test = try decoded(Test.self, record)
            case "resume": resumes.append(record.object["world_size"] as? Int ?? 0)
            default: break
            }
        }
        start = run.first!.object
        self.epochs = epochs.values.sorted { $0.epoch < $1.epoch }
        self.steps = steps.values.sorted { ($0.epoch, $0.step) < ($1.epoch, $1.step) }
        self.test = test
        resumedWorldSizes = resumes
        began = run.first!.object["wall_time"] as? Double ?? 0
        ended = run.last!.object["wall_time"] as? Double ?? began
    }
}

public struct ReportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
