import ArgumentParser
import Checkpoint
import Distributed
import Engine
import Foundation
import InputChecks
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
    @Option(help: "Ramp the learning rate up from 1/ranks of its value over this many epochs (default 0).")
    var warmupEpochs: Double?
    @Option(help: ArgumentHelp("Every K steps, check that all ranks hold identical parameters, and compare every "
                                   + "collective across ranks before it runs (default 0: never).",
                               valueName: "k"))
    var checkSync: Int?
    @Option(help: "sgd, adam or rmsprop.", transform: { try oneOf(OptimizerSpec.Name.self, $0) })
    var optimizer: OptimizerSpec.Name?
    @Option(name: .customLong("lr"), help: "Learning rate.") var learningRate: Float?
    @Option(help: "Momentum (SGD, RMSprop).") var momentum: Float?
    @Flag(help: "Nesterov momentum (SGD).") var nesterov = false
    @Option(help: "sparse_categorical_crossentropy, categorical_crossentropy or mean_squared_error.",
            transform: { try oneOf(Loss.self, $0) })
    var loss: Loss?
    @Option(help: "Seed of weights, shuffling and dropout (default 0): the same seed gives a bit-identical run.")
    var seed: UInt64?
    @Option(help: "Fraction of the training set, from its end, held out for validation.") var validationSplit: Double?
    @Flag(help: "Validate on the test set after every epoch instead (Keras' validation_data=(x_test, y_test)).")
    var validateOnTest = false
    @Option(help: "Stop after this many epochs without val_loss improvement (0: never).") var earlyStoppingPatience: Int?
    @Option(help: "Smallest val_loss decrease that counts as improvement (default 0).") var minDelta: Float?
    @Flag(help: "With early stopping, keep the last weights instead of the best.") var keepLastWeights = false
    @Option(help: ArgumentHelp("Train on the first N training samples only.", valueName: "n")) var trainSamples: Int?
    @Option(help: ArgumentHelp("Classes of the data (default: the largest training label + 1).", valueName: "n"))
    var classes: Int?
    @Option(help: ArgumentHelp("Names of the classes, one a line in label order, for predict, evaluate and TensorBoard; "
                                   + "saved with the model.", valueName: "file"))
    var classNames: String?
    @Option(help: ArgumentHelp("Worker threads in each rank (default: $MNIST_TRAIN_THREADS, else the cores the rank may "
                                   + "use). One rank of N threads trains as N ranks of one would.", valueName: "n"))
    var threads: Int?
    @Option(help: ArgumentHelp("Append JSON-lines records to this file.", valueName: "file")) var log: String?
    @Option(help: "Log a step record every N steps (default 100; 0: epochs only).") var logEvery: Int?
    @Option(help: ArgumentHelp("Write TensorBoard event files here (DIR/train, DIR/validation), rank 0 only; a resumed run "
                                   + "continues them.", valueName: "dir"))
    var tensorboard: String?
    @Option(help: ArgumentHelp("Write a Chrome trace of every rank's steps here (open it in Perfetto or chrome://tracing); "
                                   + "a resumed run continues it.", valueName: "file"))
    var timeline: String?
    @Flag(help: "Print only the test result (and errors): no header, progress or notes.") var quiet = false
    @Option(help: ArgumentHelp("auto, bar or epochs: a live progress bar, or one line per epoch. auto draws the bar on "
                               + "a terminal, but not under an MPI launcher, where OpenMPI reports a terminal even when "
                               + "output goes to a file."))
    var progress: ProgressStyle = .auto
    @Option(help: ArgumentHelp("Where to save the trained model (default: <model>.safetensors.zst).", valueName: "file"))
    var output: String?
    @Option(help: ArgumentHelp("Write training checkpoints here: every epoch, every --checkpoint-every-steps, and on "
                               + "SIGINT, SIGTERM or SIGUSR1.", valueName: "dir"))
    var checkpointDir: String?
    @Option(help: ArgumentHelp("Also checkpoint every N steps.", valueName: "n")) var checkpointEverySteps = 0
    @Option(name: .customLong("keep-checkpoints"), help: "Checkpoints to keep (besides the best with --save-best; default 3).")
    var keepCheckpointsFlag: Int?
    var keepCheckpoints: Int { keepCheckpointsFlag ?? 3 }
    @Flag(help: "Keep the checkpoint with the best val_loss (loss without validation) as well.") var saveBest = false
    @Flag(help: "Delete the checkpoints of an earlier run in --checkpoint-dir and start a new run there.")
    var overwriteCheckpoints = false
    @Option(help: "zstd level of checkpoints and the saved model (1-19).") var compressionLevel: Int32 = 3
    @Option(help: ArgumentHelp("End the job when a collective waits this long for the other ranks (a host down or "
                               + "cut off); 0: wait forever.", valueName: "seconds"))
    var stallTimeout: Double = defaultStallTimeout
    @Option(help: ArgumentHelp("Continue from a checkpoint: alone, the newest in --checkpoint-dir; or a checkpoint file, "
                               + "or a checkpoint directory.", valueName: "file|dir"))
    var resume: String?
    @Option(help: ArgumentHelp("Start a new run from a saved model's (or checkpoint's, or a .keras file's) weights: "
                               + "fine-tuning. Without --model it trains that model with its saved settings. Keras' "
                               + "weights alone (.weights.h5) go into the model --model-file or --model names.",
                               valueName: "file"))
    var initFrom: String?

    /// What a bare `--resume` stands for (see `normalizingResume`).
    static let newestInCheckpointDirectory = ":latest"

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1, got \(epochs)") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if let perRankBatchSize, perRankBatchSize < 1 {
            throw ValidationError("--per-rank-batch-size must be at least 1, got \(perRankBatchSize)")
        }
        if batchSize != nil && perRankBatchSize != nil {
            throw ValidationError("--batch-size and --per-rank-batch-size are alternatives; give one")
        }
        if let warmupEpochs, !(warmupEpochs >= 0 && warmupEpochs.isFinite) {
            throw ValidationError("--warmup-epochs must be a finite number of 0 or more")
        }
        if let checkSync, checkSync < 0 { throw ValidationError("--check-sync must be 0 or more") }
        if let minDelta, !(minDelta >= 0 && minDelta.isFinite) { throw ValidationError("--min-delta must be a finite number of 0 or more") }
        if let learningRate, !(learningRate > 0 && learningRate.isFinite) {
            throw ValidationError("--lr must be a positive finite number, got \(learningRate)")
        }
        if let momentum, !(momentum >= 0 && momentum < 1) { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        if let validationSplit, !(validationSplit >= 0 && validationSplit < 1) {
            throw ValidationError("--validation-split must be in [0, 1), got \(validationSplit)")
        }
        if validateOnTest && (validationSplit ?? 0) > 0 {
            throw ValidationError("--validate-on-test and --validation-split are alternatives; give one")
        }
        if let earlyStoppingPatience, earlyStoppingPatience < 0 {
            throw ValidationError("--early-stopping-patience must be 0 or more, got \(earlyStoppingPatience)")
        }
        if let trainSamples, trainSamples < 1 { throw ValidationError("--train-samples must be at least 1") }
        if let classes, !(2...256).contains(classes) {
            throw ValidationError("--classes must be in 2-256 (labels are bytes), got \(classes)")
        }
        if let logEvery, logEvery < 0 { throw ValidationError("--log-every must be 0 or more") }
        if checkpointEverySteps < 0 { throw ValidationError("--checkpoint-every-steps must be 0 or more") }
        if let keepCheckpointsFlag, keepCheckpointsFlag < 1 { throw ValidationError("--keep-checkpoints must be at least 1") }
        if checkpointDir == nil, let flag = [(saveBest, "--save-best"), (checkpointEverySteps > 0, "--checkpoint-every-steps"),
                                             (keepCheckpointsFlag != nil, "--keep-checkpoints")].first(where: \.0)?.1 {
            throw ValidationError("\(flag) goes with --checkpoint-dir DIR; add it, or leave out \(flag)")
        }
        if !(stallTimeout >= 0) { throw ValidationError("--stall-timeout must be 0 or more seconds") }
        if !(1...19).contains(compressionLevel) { throw ValidationError("--compression-level must be in 1-19") }
        if initFrom != nil && resume != nil {
            throw ValidationError("--init-from starts a new run and --resume continues one; give one")
        }
        if overwriteCheckpoints && (checkpointDir == nil || resume != nil) {
            throw ValidationError("--overwrite-checkpoints goes with --checkpoint-dir, and not with --resume")
        }
        if resume == Self.newestInCheckpointDirectory && checkpointDir == nil {
            throw ValidationError("--resume without a file needs --checkpoint-dir to find the newest checkpoint in")
        }
    }

    /// `base` (the preset's or custom model's defaults, or a resumed checkpoint's settings) with every flag the
    /// user gave applied, for a job of `ranks` ranks. A flag not given leaves the base's value.
    func trainingConfiguration(_ base: TrainingConfiguration, ranks: Int) -> TrainingConfiguration {
        var c = base
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let perRankBatchSize { c.batchSize = perRankBatchSize * ranks }
        if scaleLr { c.scaleLearningRate = true }
        if let warmupEpochs { c.warmupEpochs = warmupEpochs }
        if let checkSync { c.checkSyncEverySteps = checkSync }
        if let optimizer { c.optimizer = OptimizerSpec(optimizer, learningRate: learningRate) }
        if let learningRate { c.optimizer.learningRate = learningRate }
        if let momentum { c.optimizer.momentum = momentum }
        if nesterov { c.optimizer.nesterov = true }
        if let loss { c.loss = loss }
        if let seed { c.seed = seed }
        if let validationSplit { c.validationSplit = validationSplit }
        if validateOnTest { c.validationSplit = 0 }
        if let earlyStoppingPatience {
            c.earlyStopping = earlyStoppingPatience == 0 ? nil : EarlyStoppingSpec(patience: earlyStoppingPatience)
        }
        if let minDelta { c.earlyStopping?.minDelta = minDelta }
        if keepLastWeights { c.earlyStopping?.restoreBestWeights = false }
        if let logEvery { c.logEverySteps = logEvery }
        return c
    }

    func run() throws {
        try runOnEveryRank(stallTimeout: stallTimeout, train)
    }

    func train(_ communicator: any Communicator) throws {
        // Before any data: the Swift runtime and the MPI library.
        let startupMemory = ResidentMemory.read()
        // Rank 0 writes every file; it claims the checkpoint directory before anything else is done.
        let lock = communicator.isRoot ? try checkpointDir.map(claimCheckpointDirectory) : nil
        defer { withExtendedLifetime(lock) {} }
        // From here on a stop signal is kept for the first step's end, which checkpoints and stops.
        if checkpointDir != nil { StopSignals.install() }
        // A closed pipe on standard output must not end the training: the write fails, the run goes on.
        signal(SIGPIPE, SIG_IGN)
        let files = dataOptions.files
        var trainingSet = try files.loadTraining()
        let testSet = try files.loadTest()
        try DataSetCheck.checkShapes(training: trainingSet, test: testSet, files: files)

        // A resumed run reads the checkpoint once, on rank 0, and every rank takes its bytes.
        let resumed = try resume.map { try readCheckpoint($0, communicator) }
        // --train-samples, else the resumed run's own.
        let samples = try trainSamples ?? resumed?.contents.metadata["train_samples"].map { text in
            guard let count = Int(text), count >= 1 else { throw CheckpointError("\(resumed!.path) is damaged: train_samples \(shown(text))") }
            return count
        }
        if let samples {
            guard samples <= trainingSet.count else {
                throw CommandError("--train-samples \(samples) is more than the \(trainingSet.count) training samples in "
                                       + "\(files.directory)")
            }
            trainingSet = trainingSet.subset(0..<samples)
        }
        // Fine-tuning: a new run from a saved model's weights; without --model it takes that model and its settings.
        let initial = try initFrom.map {
            try loadInitialModel($0, choice: modelChoice, inputShape: trainingSet.sampleShape,
                                 classes: classes ?? trainingSet.classesInLabels)
        }
        let resumedModel = try resumed.map { try ModelFile.model(in: $0.contents, path: $0.path) }
        // The class count: --classes, else a saved model's own (it cannot change), else the training labels'.
        let savedModel = resumedModel.map { (model: $0.0, source: resumed!.path) }
            ?? initial.map { (model: $0.model, source: "--init-from \(initFrom!)") }
        let classCount = try DataSetCheck.classes(
            training: trainingSet, test: testSet, files: files,
            fixed: classes.map { (count: $0, by: "--classes \($0)",
                                  advice: "give --classes \(trainingSet.classesInLabels) or more") }
                ?? savedModel.map { (count: $0.model.classCount, by: "\($0.source) (a model of \($0.model.classCount) classes)",
                                advice: "use the data it was trained on") })
        // A model the user did not choose is not built: a resumed or fine-tuned run takes the saved one.
        var definition = try modelChoice.isExplicit || savedModel == nil
            ? modelChoice.definition(inputShape: trainingSet.sampleShape, classes: classCount)
            : resumedModel?.1 ?? initial!.definition
        var name = modelChoice.name
        var base = try modelChoice.trainingDefaults()
        if let resumed, let savedDefinition = resumedModel?.1 {
            if modelChoice.isExplicit && savedDefinition != definition {
                throw CheckpointError("\(resumed.path) is a checkpoint of \(shown(resumed.contents.metadata["name"] ?? "another model")), "
                                          + "not of \(name); resume it without --model, or start a new run")
            }
            definition = savedDefinition
            name = modelName(resumed.contents.metadata["name"]) ?? "model"
            base = try decode(TrainingConfiguration.self, resumed.contents.metadata["training"], resumed.path)
            if let problem = base.problem { throw CheckpointError("\(resumed.path) is damaged: \(problem)") }
        }
        if let initial, let initFrom {
            if modelChoice.isExplicit && initial.definition != definition {
                let held = shown(initial.metadata["name"] ?? "another model")
                throw CommandError("--init-from \(initFrom) holds \(held)\(held == name ? " of another input shape or class count" : ""), "
                                       + "not this run's \(name): leave out --model and --model-file to fine-tune that model")
            }
            if !modelChoice.isExplicit {
                definition = initial.definition
                name = modelName(initial.metadata["name"]) ?? "model"
                if let saved = initial.metadata["training"] {
                    base = try decode(TrainingConfiguration.self, saved, initFrom)
                } else if let keras = try kerasTrainingDefaults(try modelFilePath(initFrom)) {
                    base = keras
                }
            }
        }
        let configuration = trainingConfiguration(base, ranks: communicator.size)
        if let problem = ignoredFlag(in: configuration, model: name) { throw CommandError(problem) }
        if let problem = configuration.problem { throw CommandError("the run's settings do not hold: \(problem)") }
        if let resumed, let problem = incompatibility(configuration, with: base) {
            throw CheckpointError("\(resumed.path): \(problem)")
        }
        // `consume` frees the whole set once split: with a validation split it would otherwise stay resident
        // beside its two parts (figures in deploy/benchmarks/README.md).
        let (training, heldOut) = Trainer.split(consume trainingSet, validationFraction: configuration.validationSplit)
        let validation = validateOnTest ? testSet : heldOut
        let dataChecksum = checkpointDir != nil || resumed != nil ? datasetChecksum(training, heldOut) : nil
        if let resumed, let saved = resumed.contents.metadata["dataset_sha256"], saved != dataChecksum {
            throw CheckpointError("\(resumed.path) was trained on other data (dataset SHA-256 \(saved.prefix(12))…, "
                                      + "this run's \(dataChecksum!.prefix(12))…); pass the same --data and --train-samples")
        }
        let model = try definition.makeModel(seed: configuration.seed)
        if let initial {
            _ = model.store.values.update(fromContentsOf: initial.model.store.values)
            _ = model.store.state.update(fromContentsOf: initial.model.store.state)
        }
        try checkModel(model, fits: training, classes: classCount, loss: configuration.loss,
                       source: savedModel?.source ?? modelChoice.source, saved: savedModel != nil && !modelChoice.isExplicit)
        // --class-names, else those the resumed or initial model was saved with.
        let names = try classNames.map { try readClassNames($0, classes: classCount) }
            ?? resumed.flatMap { savedClassNames($0.contents.metadata, classes: classCount) }
            ?? initial.flatMap { savedClassNames($0.metadata, classes: classCount) }
        let namesJSON = try names.map { try SafeTensors.metadataJSON($0) }
        let outputPath = output ?? "\(name).safetensors.zst"
        if communicator.isRoot {
            try WritablePath.checkFile(outputPath, what: "--output \(outputPath)")
            if let log { try WritablePath.checkFile(log, what: "--log \(log)") }
        }
        let plan = try ThreadPlan.make(requested: threads)
        // --check-sync: from here on every collective is first compared across ranks (CheckedCollectives).
        let checked = configuration.checkSyncEverySteps > 0 && communicator.size > 1 ? CheckedCollectives(communicator) : nil
        let trainer = Trainer(model: model, configuration: configuration, communicator: checked ?? communicator,
                              workers: plan.makeWorkers())
        checked?.currentStep = { [unowned trainer] in trainer.progress.globalStep + 1 }
        var saved = (ranks: communicator.size, threads: plan.threads)
        if let resumed { saved = try trainer.restore(from: resumed.contents, path: resumed.path) }
        // The trace before the log and TensorBoard: a --timeline that is refused must leave no record of a run.
        trainer.timeline = try timeline.map { try TimelineLog(path: $0, communicator: trainer.communicator,
                                                                   resumedAt: resumed.map { _ in trainer.progress.globalStep }) }

        // Rank 0 alone prints, logs and saves.
        let console = communicator.isRoot && !quiet ? ConsoleReporter(isTerminal: progress.drawsBar) : nil
        var logFile: JSONLinesLog?
        if communicator.isRoot, let log {
            let file = try JSONLinesLog(path: log)
            if let resumed {
                file.record("resume", ["checkpoint": resumed.path, "epoch": trainer.progress.epoch + 1,
                                       "step_in_epoch": trainer.progress.stepInEpoch, "global_step": trainer.progress.globalStep,
                                       "world_size": communicator.size, "saved_world_size": saved.ranks,
                                       "threads": plan.threads, "saved_threads": saved.threads])
                file.appendEpochsMissing(from: trainer.history, logPath: log)
            } else {
                file.record("fit_start", ["model": name, "init_from": initFrom ?? NSNull(), "training_samples": training.count,
                                          "classes": classCount,
                                          "validation_samples": validation?.count ?? 0, "world_size": communicator.size,
                                          "threads": plan.threads, "configuration": jsonObject(configuration),
                                          "host": communicator.host, "cpu": cpuModelName() ?? NSNull(),
                                          "kernels": KernelISA.active.rawValue])
            }
            logFile = file
        }
        var tensorBoard: TensorBoardLog?
        if communicator.isRoot, let tensorboard {
            let board = try TensorBoardLog(directory: tensorboard, host: communicator.host, model: model,
                                           examples: validation ?? testSet, classNames: names, resumingFrom: resumed.map { _ in (trainer.progress.globalStep, trainer.history) })
            if resumed == nil {
                board.configuration("`mnist-train fit`: \(name), \(counted(communicator.size, "rank")) x "
                                    + "\(counted(plan.threads, "thread")), \(training.count) training samples\n\n"
                                    + settingsText(configuration, ranks: communicator.size, threads: plan.threads))
            }
            board.warnings.forEach { console?.note("warning: " + $0) }
            tensorBoard = board
        }
        trainer.observers = ([console, logFile, tensorBoard] as [(any TrainingObserver)?]).compactMap { $0 }
        if let resumed {
            if trainer.progress.epoch >= configuration.epochs {
                console?.note("\(resumed.path) ends a complete run (\(trainer.progress.epoch) epochs, --epochs "
                              + "\(configuration.epochs)): nothing left to train; testing and saving its model. To train on, "
                              + "give --epochs more than \(trainer.progress.epoch)")
            } else {
                console?.note("Resuming \(resumed.path): epoch \(trainer.progress.epoch + 1), after step "
                              + "\(trainer.progress.stepInEpoch) (global step \(trainer.progress.globalStep))")
            }
            if saved.ranks != communicator.size || saved.threads != plan.threads {
                // Threads are named only when they changed.
                let (before, now) = saved.threads == plan.threads
                    ? (counted(saved.ranks, "rank"), String(communicator.size))
                    : ("\(counted(saved.ranks, "rank")) of \(counted(saved.threads, "thread"))",
                       "\(counted(communicator.size, "rank")) of \(counted(plan.threads, "thread"))")
                console?.note("The checkpoint was saved by \(before), this job has \(now): the global batch and sample "
                              + "order stay the same; dropout masks and float summation order change")
            }
            resumed.warnings.forEach { console?.note($0) }
        } else {
            console?.note("\(name): \(model.parameterCount) parameters; \(training.count) training samples in \(classCount) classes"
                          + (validateOnTest ? ", validating on the \(testSet.count) test samples"
                                : heldOut.map { ", \($0.count) for validation (split \(configuration.validationSplit))" } ?? "")
                          + "; " + settingsText(configuration, ranks: communicator.size, threads: plan.threads)
                          + (initFrom.map { "; starting from the weights of \($0)" } ?? ""))
        }
        if let warning = plan.oversubscription { console?.note(warning) }
        // Fine-tuning starts from where the weights stand: the test figures before the first step tell a user at
        // once whether they arrived whole (a model trained in Keras gives Keras' own accuracy here).
        if let initFrom {
            let before = trainer.evaluate(testSet)
            let figures = "test loss \(before.loss.fixed(4)) - test accuracy \((100 * before.accuracy).fixed(2))%"
            console?.note("Before the first step, \(initFrom) gives \(figures) (\(before.correct)/\(before.count))")
            logFile?.record("init_test", ["loss": before.loss, "accuracy": before.accuracy, "correct": before.correct,
                                          "count": before.count])
        }

        if let checkpointDir {
            let directory = CheckpointDirectory(path: checkpointDir, keep: keepCheckpoints)
            var metadata = ["name": name, "dataset_sha256": dataChecksum ?? ""]
            metadata["train_samples"] = samples.map(String.init)
            metadata["class_names"] = namesJSON
            trainer.stopRequested = { StopSignals.requested }
            trainer.checkpointEverySteps = checkpointEverySteps
            trainer.checkpoint = { reason in
                let start = Date()
                let contents = try trainer.snapshot(definition: definition, metadata: metadata)
                if communicator.isRoot {
                    let isBest = saveBest && reason == .epochEnd && trainer.isBestEpochJustEnded
                    let saved = try directory.save(contents, globalStep: trainer.progress.globalStep, isBest: isBest,
                                                   level: compressionLevel)
                    logFile?.record("checkpoint", ["path": saved.path, "bytes": saved.bytes, "reason": reason.rawValue,
                                                   "seconds": Date().timeIntervalSince(start),
                                                   "global_step": trainer.progress.globalStep])
                    if reason == .stopRequested { console?.note("Checkpoint saved: \(saved.path)") }
                }
                trainer.communicator.barrier()
            }
        }
        // Every start-up check has passed: only now may --overwrite-checkpoints delete the earlier run.
        if overwriteCheckpoints, communicator.isRoot, let checkpointDir {
            try CheckpointDirectory(path: checkpointDir, keep: keepCheckpoints).removeRun()
        }
        guard try trainer.fit(training: training, validation: validation) else {
            let stopLine = "Stopped by a signal at epoch \(trainer.progress.epoch + 1), step \(trainer.progress.stepInEpoch); "
                + "continue with: \(continuingCommand(ranks: communicator.size))"
            // Even under --quiet: without it a stopped run cannot be told from a finished one.
            if let console { console.note(stopLine) } else if communicator.isRoot { print(stopLine) }
            logFile?.record("stopped", ["global_step": trainer.progress.globalStep])
            trainer.timeline?.finish()
            trainer.communicator.barrier()
            return
        }

        let test = trainer.evaluate(testSet)
        trainer.timeline?.finish()
        let testLine = "Test loss \(test.loss.fixed(4)) - test accuracy \((100 * test.accuracy).fixed(2))% "
            + "(\(test.correct)/\(test.count))"
        if let console { console.note(testLine) } else if communicator.isRoot { print(testLine) }
        logFile?.record("test", ["loss": test.loss, "accuracy": test.accuracy, "correct": test.correct, "count": test.count])
        let budget = MemoryBudget(model: model, optimizerSlots: trainer.optimizer.slotNames.count,
                                  datasets: [training, testSet] + (heldOut.map { [$0] } ?? []),
                                  localBatch: communicator.share(of: configuration.batchSize).count, threads: plan.threads)
        if let resident = trainer.residentMemoryOfLargestRank() {
            reportMemory(resident, budget: budget, startup: startupMemory, console: console, log: logFile)
        }
        if communicator.isRoot {
            var metadata = [
                "name": name,
                "training": try SafeTensors.metadataJSON(configuration),
                "history": try SafeTensors.metadataJSON(trainer.history),
                "test_accuracy": String(test.accuracy),
                "world_size": String(communicator.size),
            ]
            metadata["class_names"] = namesJSON
            try ModelFile.save(model, definition: definition, metadata: metadata, to: outputPath, level: compressionLevel)
            console?.note("Saved \(outputPath)")
        }
        // Nobody leaves before the model is on disk: a launcher may tear the job down when the first rank exits.
        trainer.communicator.barrier()
    }

    /// One line and one log record: the largest rank's resident set beside what training holds and what the
    /// process held before loading anything.
    func reportMemory(_ resident: ResidentMemory, budget: MemoryBudget, startup: ResidentMemory?,
                      console: ConsoleReporter?, log: JSONLinesLog?) {
        let startupMiB = startup?.bytes.mebibytes
        console?.note("Memory per rank: resident at the end \(resident.bytes.mebibytes) MiB (peak \(resident.peakBytes.mebibytes)); "
                      + "training holds \(budget.totalBytes.mebibytes) MiB (dataset \(budget.datasetBytes.mebibytes), "
                      + "model \(budget.modelBytes.mebibytes), optimizer \(budget.optimizerBytes.mebibytes), one pass's "
                      + "activations \(budget.activationBytes.mebibytes))"
                      + (startupMiB.map { "; \($0) MiB before loading data (runtime, MPI)" } ?? ""))
        var fields: [String: Any] = [
            "resident_mib": resident.bytes.mebibytes, "peak_resident_mib": resident.peakBytes.mebibytes,
            "dataset_mib": budget.datasetBytes.mebibytes, "model_mib": budget.modelBytes.mebibytes,
            "optimizer_mib": budget.optimizerBytes.mebibytes, "activations_mib": budget.activationBytes.mebibytes,
            "training_total_mib": budget.totalBytes.mebibytes]
        fields["startup_resident_mib"] = startupMiB
        log?.record("memory", fields)
    }

    /// A model name read from a file, if it is safe as the stem of the default output file: a plain name of
    /// letters, digits, '.', '_' and '-', not hidden, at most 64 characters. A name such as "../../x" from a
    /// hostile file must not choose where the model is written.
    func modelName(_ text: String?) -> String? {
        guard let text, (1...64).contains(text.count), !text.hasPrefix("."),
              text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else { return nil }
        return text
    }

    /// Every setting of the run, as the first line shows it.
    func settingsText(_ c: TrainingConfiguration, ranks: Int, threads: Int) -> String {
        var parts = [c.optimizerText, c.loss.rawValue]
        if threads > 1 { parts.append("\(threads) threads a rank") }
        if ranks > 1 {
            let share = Double(c.batchSize) / Double(ranks)
            let perRank = share == share.rounded() ? "\(Int(share))" : "\(c.batchSize / ranks)-\(c.batchSize / ranks + 1)"
            parts.append("\(ranks) ranks, global batch \(c.batchSize) (\(perRank) a rank)")
        } else {
            parts.append("batch \(c.batchSize)")
        }
        if c.scaleLearningRate { parts.append("lr scaled by \(ranks) ranks to \(c.optimizer.learningRate * Float(ranks))") }
        if c.warmupEpochs > 0 { parts.append("lr warmed up from 1/\(ranks) over \(c.warmupEpochs) epochs") }
        parts.append(c.epochs == 1 ? "1 epoch" : "\(c.epochs) epochs")
        parts.append("seed \(c.seed)")
        parts.append("\(KernelISA.active.rawValue) kernels")
        if let early = c.earlyStoppingText { parts.append(early) }
        if c.checkSyncEverySteps > 0 { parts.append("parameters compared across ranks every \(c.checkSyncEverySteps) steps") }
        if let checkpointDir {
            parts.append("checkpoints in \(checkpointDir) every epoch"
                             + (checkpointEverySteps > 0 ? " and every \(checkpointEverySteps) steps" : ""))
        }
        return parts.joined(separator: ", ")
    }

    /// This run's own command line with `--resume` added: it continues the same run, with the same output, log
    /// and settings. Under an MPI launcher the launcher's own flags are unknown here; only the rank count is given.
    /// Flags that start a run (and --resume with a file) are left out: the command continues from the newest
    /// checkpoint in --checkpoint-dir.
    func continuingCommand(ranks: Int) -> String {
        var arguments: [String] = []
        var skipValue = false
        for (index, argument) in CommandLine.arguments.enumerated() {
            if skipValue { skipValue = false; continue }
            if argument.hasPrefix("--init-from=") || argument.hasPrefix("--resume=") || argument == "--overwrite-checkpoints" {
                continue
            }
            if argument == "--init-from" { skipValue = true; continue }
            if argument == "--resume" {
                let next = index + 1 < CommandLine.arguments.count ? CommandLine.arguments[index + 1] : nil
                skipValue = next.map { !$0.hasPrefix("-") } ?? false
                continue
            }
            arguments.append(argument)
        }
        arguments.append("--resume")
        let quoted = arguments.map { argument in
            argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
                ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }
        return (MPICommunicator.isLaunchedByMPI ? "mpirun -np \(ranks) " : "") + quoted.joined(separator: " ")
    }

    /// Makes the checkpoint directory, locks it for this job, and refuses to mix this run's checkpoints with
    /// another run's there: a new run needs --overwrite-checkpoints (whose deletion waits until every start-up
    /// check has passed), and a run resumed from elsewhere needs a directory that holds no other run.
    func claimCheckpointDirectory(_ path: String) throws -> CheckpointLock {
        try WritablePath.prepareDirectory(path, what: "--checkpoint-dir \(path)")
        let lock = try CheckpointLock(directory: path)
        let directory = CheckpointDirectory(path: path, keep: keepCheckpoints)
        guard directory.holdsARun, !overwriteCheckpoints else { return lock }
        let newest = directory.checkpointFiles().last.map { ", newest \($0)" } ?? ""
        guard let resume else {
            throw CheckpointError("--checkpoint-dir \(path) holds another run's checkpoints\(newest): continue that run "
                                      + "with --resume, start over there with --overwrite-checkpoints, or choose "
                                      + "another directory")
        }
        let source = resume == Self.newestInCheckpointDirectory ? path : resume
        let sourceDirectory = isDirectory(source) ? source : (source as NSString).deletingLastPathComponent
        guard sameDirectory(sourceDirectory, path) else {
            throw CheckpointError("--checkpoint-dir \(path) holds another run's checkpoints\(newest), and --resume \(resume) "
                                      + "is elsewhere: the two runs would mix there; give an empty --checkpoint-dir")
        }
        return lock
    }

    func sameDirectory(_ a: String, _ b: String) -> Bool {
        var first = stat(), second = stat()
        return stat(a.isEmpty ? "." : a, &first) == 0 && stat(b, &second) == 0
            && first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    /// Rank 0 finds and reads the checkpoint (a file, a directory's newest valid one, or --checkpoint-dir's), checks
    /// it whole, and broadcasts its bytes; every rank decodes the same contents.
    func readCheckpoint(_ argument: String, _ communicator: any Communicator) throws -> ResumedCheckpoint {
        var found: ResumedCheckpoint?
        var bytes: [UInt8] = []
        if communicator.isRoot {
            let target = argument == Self.newestInCheckpointDirectory ? checkpointDir! : argument
            guard FileManager.default.fileExists(atPath: target) else {
                throw CheckpointError("--resume \(target): no such file or directory")
            }
            // Every rank takes the contents of these same bytes, rank 0 included: a file that changes after it was
            // chosen cannot give the ranks different states.
            if isDirectory(target) {
                let newest = try CheckpointDirectory(path: target, keep: keepCheckpoints).newestValid()
                bytes = newest.bytes
                found = ResumedCheckpoint(path: newest.path, contents: newest.contents, warnings: newest.warnings)
            } else {
                bytes = try CheckpointFile.raw(target)
                found = ResumedCheckpoint(path: target, contents: try CheckpointFile.decode(bytes, path: target), warnings: [])
            }
        }
        guard communicator.size > 1 else { return found! }
        // Same collectives in the same order on every rank: sizes, then the file, then its path.
        var pathBytes = Array((found?.path ?? "").utf8)
        var sizes = [UInt64(bytes.count), UInt64(pathBytes.count)]
        communicator.broadcast(&sizes)
        if !communicator.isRoot {
            bytes = [UInt8](repeating: 0, count: Int(sizes[0]))
            pathBytes = [UInt8](repeating: 0, count: Int(sizes[1]))
        }
        communicator.broadcast(&bytes)
        communicator.broadcast(&pathBytes)
        if let found { return found }
        let path = String(decoding: pathBytes, as: UTF8.self)
        return ResumedCheckpoint(path: path, contents: try CheckpointFile.decode(bytes, path: path), warnings: [])
    }

    /// A flag given that this run would not use: the optimizer or early stopping it configures is not the run's.
    func ignoredFlag(in configuration: TrainingConfiguration, model: String) -> String? {
        let optimizer = configuration.optimizer.name
        if momentum != nil && optimizer == .adam || nesterov && optimizer != .sgd {
            let flag = nesterov ? "--nesterov" : "--momentum"
            return "\(flag) does not apply to \(optimizer.rawValue), which \(model) trains with: add --optimizer sgd, "
                + "or leave out \(flag)"
        }
        if configuration.earlyStopping == nil, minDelta != nil || keepLastWeights {
            let flag = minDelta != nil ? "--min-delta" : "--keep-last-weights"
            return "\(flag) applies to early stopping, which this run does not use: add --early-stopping-patience N, "
                + "or leave out \(flag)"
        }
        return nil
    }

    /// Why the run cannot continue the checkpoint's, if it cannot: the sample order depends on these.
    func incompatibility(_ configuration: TrainingConfiguration, with saved: TrainingConfiguration) -> String? {
        if configuration.batchSize != saved.batchSize {
            return "it was trained with global batch \(saved.batchSize), not \(configuration.batchSize): the sample order "
                + "would change; resume with the same global batch (--per-rank-batch-size follows the rank count)"
        }
        if configuration.seed != saved.seed { return "it was trained with seed \(saved.seed), not \(configuration.seed)" }
        if configuration.validationSplit != saved.validationSplit {
            return "it was trained with --validation-split \(saved.validationSplit), not \(configuration.validationSplit)"
        }
        return nil
    }

    func decode<T: Decodable>(_ type: T.Type, _ text: String?, _ path: String) throws -> T {
        guard let text, let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
            throw CheckpointError("\(path) is not a training checkpoint (its metadata lacks the training settings)")
        }
        return value
    }

    /// SHA-256 of the training and validation samples this run uses.
    func datasetChecksum(_ training: Dataset, _ validation: Dataset?) -> String {
        SHA256.hex(training.images + training.labels + (validation.map { $0.images + $0.labels } ?? []))
    }
}

struct ResumedCheckpoint {
    let path: String
    let contents: SafeTensors
    let warnings: [String]
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
