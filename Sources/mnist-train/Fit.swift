import ArgumentParser
import Checkpoint
import Distributed
import Engine
import Foundation
import MNIST
import Training

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on MNIST, report its test accuracy, and save it.",
        discussion: "Defaults are the tutorial's own settings for the chosen preset; every flag overrides one.")

    @OptionGroup var modelChoice: ModelChoice
    @OptionGroup var dataOptions: DataOptions

    @Option(help: "Epochs to train.") var epochs: Int?
    @Option(help: "Global batch: samples per optimizer step, split across the ranks.") var batchSize: Int?
    @Option(help: "Samples per rank per step instead (global batch = this x ranks), as Horovod.") var perRankBatchSize: Int?
    @Flag(help: "Multiply the learning rate by the number of ranks.") var scaleLr = false
    @Option(help: "Ramp the learning rate up from 1/ranks of its value over this many epochs.") var warmupEpochs: Double = 0
    @Option(help: ArgumentHelp("Every K steps, check that all ranks hold identical parameters.", valueName: "k"))
    var checkSync = 0
    @Option(help: "sgd, adam or rmsprop.", transform: { try oneOf(OptimizerSpec.Name.self, $0) })
    var optimizer: OptimizerSpec.Name?
    @Option(name: .customLong("lr"), help: "Learning rate.") var learningRate: Float?
    @Option(help: "Momentum (SGD, RMSprop).") var momentum: Float?
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(help: "sparse_categorical_crossentropy, categorical_crossentropy or mean_squared_error.",
            transform: { try oneOf(Loss.self, $0) })
    var loss: Loss?
    @Option(help: "Seed of weights, shuffling and dropout: the same seed gives a bit-identical run.") var seed: UInt64 = 0
    @Option(help: "Fraction of the training set, from its end, held out for validation.") var validationSplit: Double?
    @Option(help: "Stop after this many epochs without val_loss improvement (0: never).") var earlyStoppingPatience: Int?
    @Option(help: "Smallest val_loss decrease that counts as improvement.") var minDelta: Float = 0
    @Flag(help: "With early stopping, keep the last weights instead of the best.") var keepLastWeights = false
    @Option(help: ArgumentHelp("Train on the first N training samples only.", valueName: "n")) var trainSamples: Int?
    @Option(help: ArgumentHelp("Append JSON-lines records to this file.", valueName: "file")) var log: String?
    @Option(help: "Log a step record every N steps (0: epochs only).") var logEvery = 100
    @Option(help: ArgumentHelp("auto, bar or epochs: a live progress bar, or one line per epoch. auto draws the bar on "
                               + "a terminal, but not under an MPI launcher, where OpenMPI reports a terminal even when "
                               + "output goes to a file."))
    var progress: ProgressStyle = .auto
    @Option(help: ArgumentHelp("Where to save the trained model (default: <model>.safetensors.zst).", valueName: "file"))
    var output: String?

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let perRankBatchSize, perRankBatchSize < 1 {
            throw ValidationError("--per-rank-batch-size must be at least 1, got \(perRankBatchSize)")
        }
        if batchSize != nil && perRankBatchSize != nil {
            throw ValidationError("--batch-size and --per-rank-batch-size are alternatives; give one")
        }
        if warmupEpochs < 0 { throw ValidationError("--warmup-epochs must be 0 or more") }
        if checkSync < 0 { throw ValidationError("--check-sync must be 0 or more") }
        if let learningRate, !(learningRate > 0) { throw ValidationError("--lr must be positive, got \(learningRate)") }
        if let validationSplit, !(validationSplit >= 0 && validationSplit < 1) {
            throw ValidationError("--validation-split must be in [0, 1), got \(validationSplit)")
        }
        if let earlyStoppingPatience, earlyStoppingPatience < 0 {
            throw ValidationError("--early-stopping-patience must be 0 or more, got \(earlyStoppingPatience)")
        }
        if let trainSamples, trainSamples < 1 { throw ValidationError("--train-samples must be at least 1") }
        if logEvery < 0 { throw ValidationError("--log-every must be 0 or more") }
    }

    /// The preset's (or custom model's) defaults with every given flag applied, for a job of `ranks` ranks.
    func trainingConfiguration(ranks: Int) -> TrainingConfiguration {
        var c = modelChoice.modelFile == nil ? modelChoice.model.trainingDefaults : .custom
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let perRankBatchSize { c.batchSize = perRankBatchSize * ranks }
        c.scaleLearningRate = scaleLr
        c.warmupEpochs = warmupEpochs
        c.checkSyncEverySteps = checkSync
        if let optimizer { c.optimizer = OptimizerSpec(optimizer, learningRate: learningRate) }
        if let learningRate { c.optimizer.learningRate = learningRate }
        if let momentum { c.optimizer.momentum = momentum }
        if nesterov { c.optimizer.nesterov = true }
        if let loss { c.loss = loss }
        c.seed = seed
        if let validationSplit { c.validationSplit = validationSplit }
        if let earlyStoppingPatience {
            c.earlyStopping = earlyStoppingPatience == 0 ? nil : EarlyStoppingSpec(patience: earlyStoppingPatience)
        }
        c.earlyStopping?.minDelta = minDelta
        if keepLastWeights { c.earlyStopping?.restoreBestWeights = false }
        c.logEverySteps = logEvery
        return c
    }

    func run() throws {
        try runOnEveryRank(train)
    }

    func train(_ communicator: any Communicator) throws {
        let definition = try modelChoice.definition()
        let configuration = trainingConfiguration(ranks: communicator.size)
        let files = dataOptions.files
        var trainingSet = try files.loadTraining()
        let testSet = try files.loadTest()
        if let trainSamples { trainingSet = trainingSet.subset(0..<min(trainSamples, trainingSet.count)) }
        let (training, validation) = Trainer.split(trainingSet, validationFraction: configuration.validationSplit)
        let model = try definition.makeModel(seed: configuration.seed)
        let outputPath = output ?? "\(modelChoice.name).safetensors.zst"

        let trainer = Trainer(model: model, configuration: configuration, communicator: communicator)
        // Rank 0 alone prints, logs and saves.
        let console = communicator.isRoot ? ConsoleReporter(isTerminal: progress.drawsBar) : nil
        var logFile: JSONLinesLog?
        if communicator.isRoot, let log {
            let file = try JSONLinesLog(path: log)
            file.record("fit_start", ["model": modelChoice.name, "training_samples": training.count,
                                      "validation_samples": validation?.count ?? 0, "world_size": communicator.size,
                                      "configuration": jsonObject(configuration)])
            logFile = file
        }
        trainer.observers = ([console, logFile] as [(any TrainingObserver)?]).compactMap { $0 }
        let optimizerText = "\(configuration.optimizer.name.rawValue) lr \(configuration.optimizer.learningRate)"
            + (configuration.optimizer.momentum > 0 ? " momentum \(configuration.optimizer.momentum)" : "")
        let ranksText = communicator.size > 1
            ? "\(communicator.size) ranks, global batch \(configuration.batchSize)" : "batch \(configuration.batchSize)"
        console?.note("\(modelChoice.name): \(model.parameterCount) parameters; \(training.count) training samples"
                      + (validation.map { ", \($0.count) for validation" } ?? "")
                      + "; \(optimizerText), \(configuration.loss.rawValue), \(ranksText), "
                      + "\(configuration.epochs) epochs, seed \(configuration.seed)")
        try trainer.fit(training: training, validation: validation)

        let test = trainer.evaluate(testSet)
        console?.note("Test loss \(test.loss.fixed(4)) - test accuracy \((100 * test.accuracy).fixed(2))% "
                      + "(\(test.correct)/\(test.count))")
        logFile?.record("test", ["loss": test.loss, "accuracy": test.accuracy, "correct": test.correct, "count": test.count])
        if communicator.isRoot {
            try ModelFile.save(model, definition: definition, metadata: [
                "name": modelChoice.name,
                "training": String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self),
                "history": String(decoding: try JSONEncoder().encode(trainer.history), as: UTF8.self),
                "test_accuracy": String(test.accuracy),
                "world_size": String(communicator.size),
            ], to: outputPath)
            console?.note("Saved \(outputPath)")
        }
        // Nobody leaves before the model is on disk: a launcher may tear the job down when the first rank exits.
        communicator.barrier()
    }
}

enum ProgressStyle: String, ExpressibleByArgument, CaseIterable {
    case auto, bar, epochs

    var drawsBar: Bool {
        switch self {
        case .bar: true
        case .epochs: false
        case .auto: isatty(STDOUT_FILENO) == 1 && !MPICommunicator.isLaunchedByMPI
        }
    }
}

/// An Encodable value as a JSONSerialization object, to embed it in a log record.
func jsonObject<T: Encodable>(_ value: T) -> Any {
    (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(value))) ?? [:]
}
