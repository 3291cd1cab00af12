import Engine

/// Which optimizer, with Keras names and defaults.
public struct OptimizerSpec: Codable, Equatable, Sendable {
    public enum Name: String, Codable, CaseIterable, Sendable { case sgd, adam, rmsprop }

    public var name: Name
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool

    enum CodingKeys: String, CodingKey { case name, learningRate = "learning_rate", momentum, nesterov }

    public init(_ name: Name, learningRate: Float? = nil, momentum: Float = 0, nesterov: Bool = false) {
        self.name = name
        self.learningRate = learningRate ?? (name == .sgd ? 0.01 : 0.001)
        self.momentum = momentum
        self.nesterov = nesterov
    }

    public func makeOptimizer() -> any Optimizer {
        switch name {
        case .sgd: SGD(learningRate: learningRate, momentum: momentum, nesterov: nesterov)
        case .adam: Adam(learningRate: learningRate)
        case .rmsprop: RMSprop(learningRate: learningRate, momentum: momentum)
        }
    }
}

/// Keras' EarlyStopping: stop when the monitored value (val_loss, or loss without a validation split) has not
/// improved by more than `minDelta` for `patience` epochs; keep the best epoch's weights if asked.
public struct EarlyStoppingSpec: Codable, Equatable, Sendable {
    public var patience: Int
    public var minDelta: Float
    public var restoreBestWeights: Bool

    enum CodingKeys: String, CodingKey { case patience, minDelta = "min_delta", restoreBestWeights = "restore_best_weights" }

    public init(patience: Int, minDelta: Float = 0, restoreBestWeights: Bool = true) {
        self.patience = patience
        self.minDelta = minDelta
        self.restoreBestWeights = restoreBestWeights
    }
}

/// Everything `fit` needs besides the model and the data.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerSpec
    public var loss: Loss
    public var seed: UInt64
    /// Fraction of the training set, taken from its end before any shuffling (as Keras), used for validation.
    public var validationSplit: Double
    public var earlyStopping: EarlyStoppingSpec?
    /// Log a step record every this many steps (0: epoch records only).
    public var logEverySteps: Int
    /// Multiply the learning rate by the number of ranks (Goyal et al.; Horovod's recipe for per-rank batches).
    public var scaleLearningRate: Bool
    /// Ramp the learning rate from 1/ranks of its value up to it over this many epochs (Horovod's warm-up).
    public var warmupEpochs: Double
    /// Compare a checksum of the parameters across ranks every this many steps (0: never).
    public var checkSyncEverySteps: Int

    enum CodingKeys: String, CodingKey {
        case epochs, batchSize = "batch_size", optimizer, loss, seed, validationSplit = "validation_split"
        case earlyStopping = "early_stopping", logEverySteps = "log_every_steps"
        case scaleLearningRate = "scale_lr", warmupEpochs = "warmup_epochs", checkSyncEverySteps = "check_sync"
    }

    public init(epochs: Int, batchSize: Int, optimizer: OptimizerSpec, loss: Loss, seed: UInt64 = 0,
                validationSplit: Double = 0, earlyStopping: EarlyStoppingSpec? = nil, logEverySteps: Int = 100,
                scaleLearningRate: Bool = false, warmupEpochs: Double = 0, checkSyncEverySteps: Int = 0) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.loss = loss
        self.seed = seed
        self.validationSplit = validationSplit
        self.earlyStopping = earlyStopping
        self.logEverySteps = logEverySteps
        self.scaleLearningRate = scaleLearningRate
        self.warmupEpochs = warmupEpochs
        self.checkSyncEverySteps = checkSyncEverySteps
    }

    /// For models from --model-file: Adam, sparse cross-entropy, batch 32, 5 epochs.
    public static let custom = TrainingConfiguration(epochs: 5, batchSize: 32, optimizer: OptimizerSpec(.adam),
                                                     loss: .sparseCategoricalCrossentropy)
}

extension TrainingConfiguration {
    /// The first setting out of its range, as one line, or nil: a configuration read from a checkpoint is held to
    /// the same ranges as the flags that set it, since a damaged or hostile file may hold anything.
    public var problem: String? {
        if !(1...1_000_000).contains(epochs) { return "epochs \(epochs) is outside 1-1000000" }
        if !(1...10_000_000).contains(batchSize) { return "batch_size \(batchSize) is outside 1-10000000" }
        if !(optimizer.learningRate > 0 && optimizer.learningRate.isFinite) {
            return "learning_rate \(optimizer.learningRate) is not a positive finite number"
        }
        if !(optimizer.momentum >= 0 && optimizer.momentum < 1) { return "momentum \(optimizer.momentum) is outside [0, 1)" }
        if !(validationSplit >= 0 && validationSplit < 1) { return "validation_split \(validationSplit) is outside [0, 1)" }
        if let earlyStopping {
            if earlyStopping.patience < 1 { return "early stopping patience \(earlyStopping.patience) is below 1" }
            if !(earlyStopping.minDelta >= 0 && earlyStopping.minDelta.isFinite) {
                return "min_delta \(earlyStopping.minDelta) is not a finite number of 0 or more"
            }
        }
        if logEverySteps < 0 { return "log_every_steps \(logEverySteps) is negative" }
        if !(warmupEpochs >= 0 && warmupEpochs.isFinite) { return "warmup_epochs \(warmupEpochs) is not a finite number of 0 or more" }
        if checkSyncEverySteps < 0 { return "check_sync \(checkSyncEverySteps) is negative" }
        return nil
    }

    /// The optimizer as one phrase: "sgd lr 0.1 momentum 0.9 nesterov".
    public var optimizerText: String {
        "\(optimizer.name.rawValue) lr \(optimizer.learningRate)"
            + (optimizer.momentum > 0 ? " momentum \(optimizer.momentum)" : "") + (optimizer.nesterov ? " nesterov" : "")
    }

    /// Early stopping as one phrase, or nil without it: "early stopping (patience 2, best weights restored)".
    public var earlyStoppingText: String? {
        earlyStopping.map { spec in
            "early stopping (patience \(spec.patience)" + (spec.minDelta > 0 ? ", min_delta \(spec.minDelta)" : "")
                + (spec.restoreBestWeights ? ", best weights restored)" : ", last weights kept)")
        }
    }
}

extension Preset {
    /// The tutorial's own settings (Sources/Engine/Engine.docc/Presets.md). Where a tutorial uses EarlyStopping
    /// without saying how, patience is 2 with the best weights restored; cnn-bn validates on 10% as mlp-bn does.
    public var trainingDefaults: TrainingConfiguration {
        switch self {
        case .mlp:
            TrainingConfiguration(epochs: 10, batchSize: 32, optimizer: OptimizerSpec(.sgd, learningRate: 0.1),
                                  loss: .sparseCategoricalCrossentropy, validationSplit: 0.05,
                                  earlyStopping: EarlyStoppingSpec(patience: 2))
        case .mlpBN:
            TrainingConfiguration(epochs: 10, batchSize: 32, optimizer: OptimizerSpec(.sgd, learningRate: 0.05),
                                  loss: .sparseCategoricalCrossentropy, validationSplit: 0.1)
        case .cnnBN:
            TrainingConfiguration(epochs: 30, batchSize: 32, optimizer: OptimizerSpec(.sgd, learningRate: 0.05),
                                  loss: .sparseCategoricalCrossentropy, validationSplit: 0.1,
                                  earlyStopping: EarlyStoppingSpec(patience: 2))
        case .cnnSmall:
            TrainingConfiguration(epochs: 5, batchSize: 100, optimizer: OptimizerSpec(.sgd, learningRate: 0.01),
                                  loss: .categoricalCrossentropy)
        case .convnetDropout:
            TrainingConfiguration(epochs: 20, batchSize: 32, optimizer: OptimizerSpec(.sgd, learningRate: 0.01),
                                  loss: .meanSquaredError)
        case .convnet:
            TrainingConfiguration(epochs: 5, batchSize: 64, optimizer: OptimizerSpec(.rmsprop, learningRate: 0.001),
                                  loss: .categoricalCrossentropy)
        case .lenet5:
            TrainingConfiguration(epochs: 10, batchSize: 32, optimizer: OptimizerSpec(.adam, learningRate: 0.001),
                                  loss: .sparseCategoricalCrossentropy)
        }
    }
}
