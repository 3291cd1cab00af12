/// What one epoch measured, as `fit` reports and logs it.
public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var seconds: Double
    public var samplesPerSecond: Double
    public var learningRate: Float
    public var samplesSeen: Int
    /// Resident set at the epoch's end and its peak so far, MiB, the largest over ranks: flat from epoch to epoch
    /// when nothing grows. nil where /proc is not available.
    public var residentMiB: Double?
    public var peakResidentMiB: Double?
    /// Each rank's compute and communication seconds in the epoch (since the resume, in a resumed one), as min,
    /// mean and max over ranks. nil in checkpoints written before they were kept.
    public var computeSeconds: Spread?
    public var communicationSeconds: Spread?

    enum CodingKeys: String, CodingKey {
        case epoch, loss, accuracy, valLoss = "val_loss", valAccuracy = "val_accuracy", seconds
        case samplesPerSecond = "samples_per_second", learningRate = "learning_rate", samplesSeen = "samples_seen"
        case residentMiB = "resident_mib", peakResidentMiB = "peak_resident_mib"
        case computeSeconds = "compute_seconds", communicationSeconds = "communication_seconds"
    }
}

/// A figure over ranks.
public struct Spread: Codable, Equatable, Sendable {
    public var min, mean, max: Double

    public init(min: Double, mean: Double, max: Double) { (self.min, self.mean, self.max) = (min, mean, max) }
}

/// Running figures within an epoch, for the progress bar and step records.
public struct StepProgress: Sendable {
    public var epoch: Int
    public var step: Int
    public var steps: Int
    /// Steps since the run began, across epochs and resumes.
    public var globalStep: Int
    public var loss: Double
    public var accuracy: Double
    public var elapsed: Double
    public var samplesSeen: Int
    public var learningRate: Float
}

/// Seconds each rank spent computing and communicating over a logging interval, reduced across ranks, so a
/// slow rank shows up as a wide min-max spread.
public struct RankTimes: Sendable {
    public var computeMin, computeMean, computeMax: Double
    public var communicationMin, communicationMean, communicationMax: Double
}

/// Receives `fit`'s progress: a console printer, a log file, or both.
public protocol TrainingObserver: AnyObject {
    func epochBegan(_ epoch: Int, of epochs: Int, steps: Int)
    func stepEnded(_ progress: StepProgress)
    func epochEnded(_ record: EpochRecord)
    func intervalEnded(step: StepProgress, globalSamplesPerSecond: Double, times: RankTimes)
    func note(_ message: String)
}
