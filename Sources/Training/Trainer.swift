import Distributed
import Engine
import Foundation
import MNIST
import Observability

/// Trains and evaluates a Sequential model the way Keras' fit and evaluate do, on one rank or many.
///
/// Data parallelism, in order of the step:
/// 1. Every rank draws the same permutation from (seed, epoch) and cuts the same global batches from it.
/// 2. Rank r takes its contiguous share of each global batch (`Communicator.share`): sizes differ by at most one,
///    and a rank may hold none of a small last batch; every rank still runs every step, so none waits forever.
/// 3. Each rank scales its loss gradient by (its samples / global batch samples), so one in-place sum-allreduce of
///    the flat gradient buffer yields exactly the mean gradient over the global batch, as one process computes it.
/// 4. Every rank applies the same optimizer update to the same parameters: the copies stay identical.
/// BatchNormalization normalizes with per-rank batch statistics; its moving averages are averaged across ranks
/// before every evaluation and at the end, so all ranks hold the same model.
public final class Trainer {
    public let model: Sequential
    public let configuration: TrainingConfiguration
    public let communicator: any Communicator
    public internal(set) var optimizer: any Optimizer
    /// Where training stands; a checkpoint saves it and a resumed run starts from it.
    public internal(set) var progress = TrainingProgress()
    var stopper: EarlyStopping?
    /// Receive progress; attach them on rank 0 only.
    public var observers: [any TrainingObserver] = []
    /// Called on every rank when a checkpoint is due; it must save and return on all of them.
    public var checkpoint: ((CheckpointReason) throws -> Void)?
    /// Save a checkpoint every this many steps (0: only at epoch ends and on a stop request).
    public var checkpointEverySteps = 0
    /// Polled after every step on every rank; true on any rank makes all of them checkpoint and stop.
    public var stopRequested: () -> Bool = { false }
    /// Records every rank's spans (`--timeline`); attach it on every rank.
    public var timeline: TimelineLog?

    /// The rank's worker threads, and a lane of the step for each: lane 0 trains `model` itself.
    public let workers: WorkerThreads
    private let lanes: [TrainingLane]
    private var stepMetrics = [Double](repeating: 0, count: 4)

    static let fault = ProcessInfo.processInfo.environment["MNIST_TRAIN_FAULT"]

    public var history: [EpochRecord] { progress.history }
    public var samplesSeen: Int { progress.samplesSeen }

    /// `workers` split each rank's share of a step among their threads (one by default), each with a copy of the
    /// model over the same weights, and add up their gradients in a fixed order before the one allreduce: R ranks
    /// of T threads train as R·T ranks would, within rounding.
    public init(model: Sequential, configuration: TrainingConfiguration, communicator: any Communicator = SingleProcess(),
                workers: WorkerThreads = WorkerThreads(count: 1)) {
        self.model = model
        self.configuration = configuration
        self.communicator = communicator
        self.workers = workers
        optimizer = configuration.optimizer.makeOptimizer()
        stopper = configuration.earlyStopping.map { EarlyStopping($0) }
        // All ranks start from rank 0's weights, whatever their seeding. Each lane of each rank draws its own
        // dropout masks: lane t of rank r as rank r·T + t of a job of single-threaded ranks.
        communicator.broadcast(model.store.values)
        communicator.broadcast(model.store.state)
        let origin = model.rng.state
        func generator(lane: Int) -> SplitMix64 {
            let global = communicator.rank * workers.count + lane
            return SplitMix64(seed: global == 0 ? origin : origin ^ UInt64(global) &* 0x9E37_79B9_7F4A_7C15)
        }
        model.rng = generator(lane: 0)
        lanes = [TrainingLane(model: model, index: 0)]
            + (1..<workers.count).map { TrainingLane(model: model.replica(rng: generator(lane: $0)), index: $0) }
    }

    /// Every lane's dropout generator, lane by lane: what a checkpoint saves for this rank.
    var laneGenerators: [SplitMix64] {
        get { lanes.map(\.model.rng) }
        set { for (lane, generator) in zip(lanes, newValue) { lane.model.rng = generator } }
    }

    /// Keras' validation_split: the last fraction of the training set, before any shuffling.
    public static func split(_ data: Dataset, validationFraction: Double) -> (training: Dataset, validation: Dataset?) {
        let validationCount = Int((Double(data.count) * validationFraction).rounded(.down))
        guard validationCount > 0 else { return (data, nil) }
        return (data.subset(0..<data.count - validationCount), data.subset(data.count - validationCount..<data.count))
    }

    /// Trains from `progress` to the configured epochs (fewer if early stopping ends it, or a stop request).
    /// Returns false when it stopped on request before the end.
    @discardableResult
    public func fit(training: Dataset, validation: Dataset?) throws -> Bool {
        let batchSize = configuration.batchSize
        let sampler = Sampler(count: training.count, seed: configuration.seed)
        // The last global batch of an epoch is smaller when the set does not divide evenly, as in Keras.
        let steps = (training.count + batchSize - 1) / batchSize
        let baseLearningRate = configuration.optimizer.learningRate
        var stopAfterEpoch = false
        guard progress.stepInEpoch < steps else {
            throw TrainingError("the checkpoint's step \(progress.stepInEpoch) of its epoch is past the epoch's \(steps) steps: "
                                    + "it is damaged, or of other data")
        }
        if let stopper, stopper.patienceRanOut {
            observers.forEach { $0.note("early stopping had already ended this run after epoch \(progress.epoch)") }
        }
        defer { communicator.activity?.phase = .finishing }
        while progress.epoch < configuration.epochs, !(stopper?.patienceRanOut ?? false) {
            let epoch = progress.epoch
            observers.forEach { $0.epochBegan(epoch + 1, of: configuration.epochs, steps: steps) }
            // A resumed epoch keeps counting the time it had already run.
            let start = Date().addingTimeInterval(-progress.epochSeconds)
            var interval = IntervalTimer()
            // This rank's compute and communication seconds in the epoch: the intervals' as each one ends.
            var epochTimes = IntervalTimer()
            let order = sampler.permutation(epoch: epoch)
            while progress.stepInEpoch < steps {
                let step = progress.stepInEpoch
                communicator.activity?.beginStep(epoch: epoch + 1, step: progress.globalStep + 1)
                let stepStart = timeline == nil ? 0 : monotonicNanoseconds()
                // The timeline traces each logging interval's last step in detail (see TimelineLog).
                let endsInterval = configuration.logEverySteps > 0 && (step + 1) % configuration.logEverySteps == 0 || step + 1 == steps
                tracedStep = timeline != nil && endsInterval ? progress.globalStep + 1 : nil
                optimizer.learningRate = learningRate(base: baseLearningRate, epochProgress: Double(epoch) + Double(step) / Double(steps))
                let global = order[step * batchSize..<min((step + 1) * batchSize, training.count)]
                let mine = communicator.share(of: global.count)
                let local = global[(global.startIndex + mine.lowerBound)..<(global.startIndex + mine.upperBound)]
                // For the --check-sync test (MNIST_TRAIN_FAULT): a code path that one rank alone takes.
                if Self.fault == "extra-barrier-on-rank-1", communicator.rank == 1, progress.globalStep == 2 { communicator.barrier() }
                // [loss sum, correct, samples, stop requests]: one small allreduce after the gradients'.
                let rankTotals = trainStep(local, of: training, globalCount: global.count, timer: &interval)
                stepMetrics[0] = rankTotals.lossSum
                stepMetrics[1] = rankTotals.correct
                stepMetrics[2] = rankTotals.samples
                stepMetrics[3] = stopRequested() ? 1 : 0
                let communicationStart = Date()
                communicator.allreduce(&stepMetrics, .sum)
                interval.communication += Date().timeIntervalSince(communicationStart)
                timeline?.record(.step, step: progress.globalStep + 1, since: stepStart)
                // As Keras' TerminateOnNaN: stop at the first non-finite loss, before it reaches a checkpoint, so
                // the last one saved is the last good state. Every rank sees the same sum and stops together.
                guard stepMetrics[0].isFinite else {
                    throw TrainingError("the loss became \(stepMetrics[0]) at epoch \(epoch + 1), step \(step + 1): training "
                                            + "diverged (is the learning rate too large?); the last checkpoint, if any, is kept")
                }
                for i in 0..<3 { progress.epochTotals[i] += stepMetrics[i] }
                progress.samplesSeen += global.count
                progress.stepInEpoch += 1
                progress.globalStep += 1
                interval.samples += global.count
                if configuration.checkSyncEverySteps > 0, progress.globalStep % configuration.checkSyncEverySteps == 0 {
                    try checkParametersInSync(step: progress.globalStep)
                }
                let totals = progress.epochTotals
                let stepProgress = StepProgress(epoch: epoch + 1, step: step + 1, steps: steps, globalStep: progress.globalStep, loss: totals[0] / totals[2],
                                                accuracy: totals[1] / totals[2], elapsed: Date().timeIntervalSince(start),
                                                samplesSeen: progress.samplesSeen, learningRate: optimizer.learningRate)
                observers.forEach { $0.stepEnded(stepProgress) }
                if configuration.logEverySteps > 0, endsInterval {
                    let times = interval.reduced(over: communicator)
                    let samplesPerSecond = Double(interval.samples) / times.wall
                    observers.forEach { $0.intervalEnded(step: stepProgress, globalSamplesPerSecond: samplesPerSecond, times: times.ranks) }
                    timeline?.gather()
                    epochTimes.add(interval)
                    interval.restart()
                }
                // A stop request on an epoch's last step ends the epoch first, whose checkpoint follows below.
                let lastStep = step + 1 == steps
                progress.epochSeconds = Date().timeIntervalSince(start)
                if stepMetrics[3] > 0 {
                    stopAfterEpoch = true
                    if !lastStep {
                        try saveCheckpoint(.stopRequested)
                        return false
                    }
                } else if checkpointEverySteps > 0, progress.globalStep % checkpointEverySteps == 0, !lastStep {
                    try saveCheckpoint(.steps)
                }
            }
            let seconds = Date().timeIntervalSince(start)
            let validationResult = validation.map { evaluate($0) }
            let totals = progress.epochTotals
            var record = EpochRecord(epoch: epoch + 1, loss: totals[0] / totals[2], accuracy: totals[1] / totals[2],
                                     valLoss: validationResult?.loss, valAccuracy: validationResult?.accuracy,
                                     seconds: seconds, samplesPerSecond: totals[2] / seconds,
                                     learningRate: optimizer.learningRate, samplesSeen: progress.samplesSeen)
            epochTimes.add(interval)
            let times = epochTimes.reduced(over: communicator).ranks
            record.computeSeconds = Spread(min: times.computeMin, mean: times.computeMean, max: times.computeMax)
            record.communicationSeconds = Spread(min: times.communicationMin, mean: times.communicationMean,
                                                 max: times.communicationMax)
            if let memory = residentMemoryOfLargestRank() {
                record.residentMiB = memory.bytes.mebibytes
                record.peakResidentMiB = memory.peakBytes.mebibytes
            }
            progress.history.append(record)
            progress.epoch += 1
            progress.stepInEpoch = 0
            progress.epochTotals = [0, 0, 0]
            progress.epochSeconds = 0
            var stop = false
            if var current = stopper {
                stop = current.update(monitored: record.valLoss ?? record.loss, epoch: epoch + 1, model: model)
                stopper = current
            }
            // The checkpoint goes before the log record, so a crash between them never records an epoch twice.
            try saveCheckpoint(.epochEnd)
            timeline?.gather()
            observers.forEach { $0.epochEnded(record) }
            if stop, let stopper {
                observers.forEach { $0.note("early stopping: \(stopper.monitorName(validation != nil)) has not improved for "
                                            + "\(stopper.spec.patience) epochs") }
                break
            }
            if stopAfterEpoch { return false }
        }
        if let stopper, stopper.spec.restoreBestWeights, let best = stopper.bestEpoch, best != progress.history.count {
            stopper.restoreBest(into: model)
            copyStateToLanes()
            observers.forEach { $0.note("restored the weights of epoch \(best), the best by \(stopper.monitorName(validation != nil))") }
        }
        synchronizeBatchNormalizationStatistics()
        try checkWeightsFinite()
        return true
    }

    /// Saves a checkpoint, if one is attached, of weights that are all finite: an update that overflowed must
    /// not replace the last good checkpoint.
    func saveCheckpoint(_ reason: CheckpointReason) throws {
        guard let checkpoint else { return }
        try checkWeightsFinite()
        let start = monotonicNanoseconds()
        try communicator.during(.checkpoint) { try checkpoint(reason) }
        timeline?.record(.checkpoint, step: progress.globalStep, since: start)
    }

    /// Throws when a weight is NaN or infinite, as after an update that overflowed. Every rank holds the same
    /// weights, so every rank throws together.
    func checkWeightsFinite() throws {
        guard model.store.values.allSatisfy(\.isFinite) else {
            throw TrainingError("the weights became non-finite by epoch \(progress.epoch + 1), step \(progress.stepInEpoch): "
                                    + "training diverged (is the learning rate too large?); the last checkpoint, if any, is kept")
        }
    }

    /// The learning rate for a point in training: scaled by the rank count if asked, and warmed up linearly from
    /// 1/ranks of that over `warmupEpochs` (Horovod's recipe).
    func learningRate(base: Float, epochProgress: Double) -> Float {
        let ranks = Float(communicator.size)
        let target = configuration.scaleLearningRate ? base * ranks : base
        guard configuration.warmupEpochs > 0, epochProgress < configuration.warmupEpochs else { return target }
        let fraction = Float(epochProgress / configuration.warmupEpochs)
        return target * (1 / ranks + (1 - 1 / ranks) * fraction)
    }

    /// The global step that `trainStep` traces in detail into `timeline`, if the next one is.
    private var tracedStep: Int?

    /// Forward, backward, allreduce and update for this rank's share of one global batch.
    /// Returns this rank's loss sum, correct predictions and samples, to be summed across ranks.
    @discardableResult
    public func trainStep(_ indices: ArraySlice<Int>, of data: Dataset, globalCount: Int, timer: inout IntervalTimer)
        -> (lossSum: Double, correct: Double, samples: Double) {
        let computeStart = Date()
        let lanes = lanes, loss = configuration.loss, workers = workers
        for lane in lanes { lane.tracedStep = tracedStep }
        var ownShareDone = computeStart
        if lanes.count > 1 { model.prepareSharedState(workers: workers) }
        // Each lane takes a contiguous share, as ranks do of the global batch.
        workers.run { lane in
            let share = workers.share(of: indices.count, worker: lane)
            lanes[lane].train(indices[(indices.startIndex + share.lowerBound)..<(indices.startIndex + share.upperBound)],
                              of: data, globalCount: globalCount, loss: loss)
            if lane == 0 { ownShareDone = Date() }
        }
        if lanes.count > 1 {
            sumLaneGradients()
            timer.synchronization += Date().timeIntervalSince(ownShareDone)
        }
        var metrics = (lossSum: 0.0, correct: 0.0, samples: 0.0)
        for lane in lanes {
            metrics.lossSum += lane.totals.lossSum
            metrics.correct += lane.totals.correct
            metrics.samples += lane.totals.samples
        }
        let communicationStart = Date()
        timer.compute += communicationStart.timeIntervalSince(computeStart)
        var mark: UInt64 = 0
        func trace(_ kind: SpanKind) {
            if let tracedStep, let timeline { mark = timeline.record(kind, step: tracedStep, since: mark) }
        }
        // A traced step meets the other ranks at a barrier first: its wait for the slowest rank is then a span
        // of its own, and the allreduce's span is the transfer alone.
        if tracedStep != nil, let timeline {
            for lane in lanes {
                timeline.spans.append(contentsOf: lane.spans)
                lane.spans.removeAll()
            }
            mark = monotonicNanoseconds()
            communicator.barrier()
            trace(.wait)
        }
        communicator.allreduce(model.store.gradients, .sum)
        trace(.allreduce)
        let updateStart = Date()
        timer.communication += updateStart.timeIntervalSince(communicationStart)
        optimizer.step(model.store, workers: workers)
        trace(.optimizer)
        timer.compute += Date().timeIntervalSince(updateStart)
        return metrics
    }

    /// Adds every other lane's gradients into lane 0's, lane by lane in order for each value, whichever worker sums
    /// it: the same bits for any split of the buffer.
    private func sumLaneGradients() {
        let target = model.store.gradients, sources = lanes.dropFirst().map(\.model.store.gradients), workers = workers
        workers.run { worker in
            let part = workers.share(of: target.count, worker: worker)
            for source in sources {
                for i in part { target[i] += source[i] }
            }
        }
    }

    /// Stops with an error naming the step if any rank's parameters differ from the others'.
    func checkParametersInSync(step: Int) throws {
        // FNV-1a over the bit patterns; its two 32-bit halves travel exactly as Doubles.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for value in model.store.values { hash = (hash ^ UInt64(value.bitPattern)) &* 0x100_0000_01B3 }
        var high = [Double(hash >> 32), Double(hash & 0xFFFF_FFFF)]
        var low = high
        communicator.allreduce(&high, .max)
        communicator.allreduce(&low, .min)
        guard high == low else {
            throw TrainingError("--check-sync: parameters differ across ranks at step \(step) (rank \(communicator.rank) "
                                    + "checksum \(String(hash, radix: 16))); the ranks are no longer training one model")
        }
    }

    /// The largest resident set over ranks, now and at peak; every rank must call it (one small allreduce).
    public func residentMemoryOfLargestRank() -> ResidentMemory? {
        let mine = ResidentMemory.read()
        var bytes = [Double(mine?.bytes ?? -1), Double(mine?.peakBytes ?? -1)]
        communicator.allreduce(&bytes, .max)
        guard bytes[0] >= 0 else { return nil }
        return ResidentMemory(bytes: Int(bytes[0]), peakBytes: Int(bytes[1]))
    }

    /// Averages BatchNormalization's moving statistics across the lanes and then the ranks, so every copy holds
    /// the same model.
    func synchronizeBatchNormalizationStatistics() {
        let state = model.store.state
        if lanes.count > 1, !state.isEmpty {
            // In Double: a sum of a few floats is exact there, so lanes that hold the same value keep it.
            let others = lanes.dropFirst().map(\.model.store.state), count = Double(lanes.count)
            for i in state.indices {
                state[i] = Float(others.reduce(Double(state[i])) { $0 + Double($1[i]) } / count)
            }
        }
        communicator.allreduce(state, .average)
        copyStateToLanes()
    }

    /// Gives every lane the model's state (BatchNormalization's moving statistics), as after a load or a sync.
    func copyStateToLanes() {
        for lane in lanes.dropFirst() { _ = lane.model.store.state.update(fromContentsOf: model.store.state) }
    }

    /// Batches of 100 at most: larger ones took longer and several times the memory (figures in
    /// deploy/benchmarks/README.md). Evaluation goes in passes no larger than training's
    /// (`Sequential.samplesPerPass`), so that the layers' buffers, which keep the largest size they have served,
    /// stay at training's size.
    public static let evaluationBatchSize = 100

    /// Loss, accuracy and confusion matrix in inference mode, each rank evaluating its share, summed exactly.
    public func evaluate(_ data: Dataset, batchSize: Int = Trainer.evaluationBatchSize) -> Evaluation {
        let start = monotonicNanoseconds()
        let result = communicator.during(.evaluation) {
            synchronizeBatchNormalizationStatistics()
            return Trainer.evaluate(lanes.map(\.model), on: data, loss: configuration.loss, batchSize: batchSize,
                                    communicator: communicator, workers: workers)
        }
        timeline?.record(.evaluation, step: progress.globalStep, since: start)
        return result
    }

    /// The model must fit the data (`ModelCheck`): one output per class, a label below the class count.
    public static func evaluate(_ model: Sequential, on data: Dataset, loss: Loss, batchSize: Int = evaluationBatchSize,
                                communicator: any Communicator = SingleProcess()) -> Evaluation {
        evaluate([model], on: data, loss: loss, batchSize: batchSize, communicator: communicator,
                 workers: WorkerThreads(count: 1))
    }

    /// The same with a copy of the model for each worker (`Sequential.replica`), each evaluating its share of
    /// the rank's share.
    static func evaluate(_ copies: [Sequential], on data: Dataset, loss: Loss, batchSize: Int, communicator: any Communicator,
                         workers: WorkerThreads) -> Evaluation {
        let classes = copies[0].classCount
        // [loss sum, correct, confusion matrix row by row] for each copy, added in copy order: the counts are whole
        // numbers, exact in Double; the loss sum depends on the split, as it does over ranks.
        let width = 2 + classes * classes, count = copies.count
        var sums = [Double](repeating: 0, count: width * count)
        let mine = communicator.share(of: data.count)
        if count > 1 { copies[0].prepareSharedState(workers: workers) }
        sums.withUnsafeMutableBufferPointer { sums in
            let sums = sums
            workers.run { lane in
                let part = workers.share(of: mine.count, worker: lane)
                addEvaluationSums(copies[lane], on: data, (mine.lowerBound + part.lowerBound)..<(mine.lowerBound + part.upperBound),
                                  loss: loss, batchSize: batchSize, into: sums.baseAddress! + lane * width)
            }
        }
        var total = Array(sums[0..<width])
        for lane in 1..<count { for i in 0..<width { total[i] += sums[lane * width + i] } }
        communicator.allreduce(&total, .sum)
        let confusion = (0..<classes).map { row in (0..<classes).map { Int(total[2 + row * classes + $0]) } }
        return Evaluation(loss: data.count == 0 ? 0 : total[0] / Double(data.count), correct: Int(total[1]),
                          count: data.count, confusion: confusion)
    }

    /// Adds the loss sum, correct predictions and confusion matrix of `model` over the samples `range` into `sums`.
    private static func addEvaluationSums(_ model: Sequential, on data: Dataset, _ samples: Range<Int>, loss: Loss,
                                          batchSize: Int, into sums: UnsafeMutablePointer<Double>) {
        let classes = model.classCount
        let batchSize = min(batchSize, model.samplesPerPass ?? batchSize)
        for start in stride(from: samples.lowerBound, to: samples.upperBound, by: batchSize) {
            let range = start..<min(start + batchSize, samples.upperBound)
            let (x, labels) = data.batch(range)
            let output = model.forward(x, training: false)
            let (batchLoss, _) = loss.evaluate(output: output, targets: targets(labels, classes: classes, loss: loss),
                                               outputActivation: model.outputActivation)
            sums[0] += Double(batchLoss) * Double(range.count)
            for row in 0..<range.count {
                let predicted = predictedClass(output, row: row)
                let label = Int(labels.scalars[row])
                if predicted == label { sums[1] += 1 }
                sums[2 + label * classes + predicted] += 1
            }
        }
    }

    public static func targets(_ labels: Tensor, classes: Int, loss: Loss) -> Tensor {
        loss == .sparseCategoricalCrossentropy ? labels : Loss.oneHot(labels, classes: classes)
    }
}

/// Why a checkpoint is being written.
public enum CheckpointReason: String, Sendable {
    case steps, epochEnd = "epoch", stopRequested = "signal"
}

/// Where training stands: what a checkpoint must hold to continue at the exact next sample.
public struct TrainingProgress: Codable, Equatable, Sendable {
    /// The epoch in progress, from 0.
    public var epoch = 0
    /// Steps of that epoch already done.
    public var stepInEpoch = 0
    public var globalStep = 0
    public var samplesSeen = 0
    /// Loss sum, correct predictions and samples of the epoch in progress, summed over ranks.
    public var epochTotals: [Double] = [0, 0, 0]
    /// Seconds the epoch in progress has run.
    public var epochSeconds = 0.0
    public var history: [EpochRecord] = []

    enum CodingKeys: String, CodingKey {
        case epoch, stepInEpoch = "step_in_epoch", globalStep = "global_step", samplesSeen = "samples_seen"
        case epochTotals = "epoch_totals", epochSeconds = "epoch_seconds", history
    }

    public init() {}

    /// The first field out of its range, or nil: read from a checkpoint, it may hold anything.
    var problem: String? {
        if epoch < 0 || stepInEpoch < 0 || globalStep < 0 || samplesSeen < 0 {
            return "negative position (epoch \(epoch), step_in_epoch \(stepInEpoch), global_step \(globalStep))"
        }
        // 2^53 steps or samples is beyond any run, and counting on from a larger value could overflow.
        if [epoch, stepInEpoch, globalStep, samplesSeen].contains(where: { $0 > 1 << 53 }) {
            return "a position past 2^53 (global_step \(globalStep), samples_seen \(samplesSeen))"
        }
        if epochTotals.count != 3 || !epochTotals.allSatisfy({ $0.isFinite && $0 >= 0 }) {
            return "epoch_totals \(epochTotals.prefix(4)) is not three finite numbers of 0 or more"
        }
        if !(epochSeconds.isFinite && epochSeconds >= 0) { return "epoch_seconds \(epochSeconds) is not a finite time" }
        if history.count != epoch || history.enumerated().contains(where: { $0.element.epoch != $0.offset + 1 }) {
            return "its history does not list epochs 1 to \(epoch)"
        }
        return nil
    }
}

/// Compute and communication seconds of this rank over one logging interval.
public struct IntervalTimer {
    public var compute = 0.0
    public var communication = 0.0
    /// The part of `compute` the calling thread spent waiting for the other lanes and adding their gradients.
    public var synchronization = 0.0
    /// Samples of the global batches in the interval, all ranks together.
    var samples = 0
    var start = Date()

    public init() {}

    mutating func restart() {
        compute = 0
        communication = 0
        synchronization = 0
        samples = 0
        start = Date()
    }

    mutating func add(_ other: IntervalTimer) {
        compute += other.compute
        communication += other.communication
    }

    /// Min, mean and max across ranks of compute and communication time, and this interval's wall time.
    func reduced(over communicator: any Communicator) -> (ranks: RankTimes, wall: Double) {
        var maxima = [compute, communication], minima = maxima, sums = maxima
        communicator.allreduce(&maxima, .max)
        communicator.allreduce(&minima, .min)
        communicator.allreduce(&sums, .sum)
        let n = Double(communicator.size)
        return (RankTimes(computeMin: minima[0], computeMean: sums[0] / n, computeMax: maxima[0],
                          communicationMin: minima[1], communicationMean: sums[1] / n, communicationMax: maxima[1]),
                Date().timeIntervalSince(start))
    }
}

/// Keras' EarlyStopping state: the best monitored value, epochs since it, and the weights at it.
struct EarlyStopping {
    let spec: EarlyStoppingSpec
    var best = Double.infinity
    var bestEpoch: Int?
    var wait = 0
    var bestValues: [Float] = []
    var bestState: [Float] = []

    init(_ spec: EarlyStoppingSpec) { self.spec = spec }

    func monitorName(_ hasValidation: Bool) -> String { hasValidation ? "val_loss" : "loss" }

    /// Records an epoch's monitored value; true when training should stop.
    mutating func update(monitored: Double, epoch: Int, model: Sequential) -> Bool {
        if monitored < best - Double(spec.minDelta) {
            best = monitored
            bestEpoch = epoch
            wait = 0
            if spec.restoreBestWeights {
                bestValues = Array(model.store.values)
                bestState = Array(model.store.state)
            }
            return false
        }
        wait += 1
        return patienceRanOut
    }

    /// True once the monitored value has gone `patience` epochs without improving; a resumed run then trains no more.
    var patienceRanOut: Bool { wait >= spec.patience }

    func restoreBest(into model: Sequential) {
        guard !bestValues.isEmpty || !bestState.isEmpty else { return }
        _ = model.store.values.update(fromContentsOf: bestValues)
        _ = model.store.state.update(fromContentsOf: bestState)
    }
}
