import Engine
import Foundation
import MNIST

/// Trains and evaluates a Sequential model, the way Keras' fit and evaluate do.
public final class Trainer {
    public let model: Sequential
    public let configuration: TrainingConfiguration
    public private(set) var optimizer: any Optimizer
    public private(set) var history: [EpochRecord] = []
    public private(set) var samplesSeen = 0
    public var observers: [any TrainingObserver] = []

    public init(model: Sequential, configuration: TrainingConfiguration) {
        self.model = model
        self.configuration = configuration
        optimizer = configuration.optimizer.makeOptimizer()
    }

    /// Keras' validation_split: the last fraction of the training set, before any shuffling.
    public static func split(_ data: Dataset, validationFraction: Double) -> (training: Dataset, validation: Dataset?) {
        let validationCount = Int((Double(data.count) * validationFraction).rounded(.down))
        guard validationCount > 0 else { return (data, nil) }
        return (data.subset(0..<data.count - validationCount), data.subset(data.count - validationCount..<data.count))
    }

    /// Trains for the configured epochs (fewer if early stopping ends it) and returns the history.
    @discardableResult
    public func fit(training: Dataset, validation: Dataset?) -> [EpochRecord] {
        let batchSize = configuration.batchSize
        let sampler = Sampler(count: training.count, seed: configuration.seed)
        // The last batch of an epoch is smaller when the set does not divide evenly, as in Keras.
        let steps = (training.count + batchSize - 1) / batchSize
        var stopper = configuration.earlyStopping.map { EarlyStopping($0) }
        for epoch in 0..<configuration.epochs {
            observers.forEach { $0.epochBegan(epoch + 1, of: configuration.epochs, steps: steps) }
            let start = Date()
            let order = sampler.permutation(epoch: epoch)
            var lossSum = 0.0, correct = 0, seen = 0
            for step in 0..<steps {
                let indices = order[step * batchSize..<min((step + 1) * batchSize, training.count)]
                let (x, labels) = training.batch(indices)
                let result = trainStep(x, labels: labels)
                lossSum += result.loss * Double(indices.count)
                correct += result.correct
                seen += indices.count
                samplesSeen += indices.count
                let progress = StepProgress(epoch: epoch + 1, step: step + 1, steps: steps, loss: lossSum / Double(seen),
                                            accuracy: Double(correct) / Double(seen),
                                            elapsed: Date().timeIntervalSince(start), samplesSeen: samplesSeen,
                                            learningRate: optimizer.learningRate)
                observers.forEach { $0.stepEnded(progress) }
            }
            let seconds = Date().timeIntervalSince(start)
            let validationResult = validation.map { evaluate($0) }
            let record = EpochRecord(epoch: epoch + 1, loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                     valLoss: validationResult?.loss, valAccuracy: validationResult?.accuracy,
                                     seconds: seconds, samplesPerSecond: Double(seen) / seconds,
                                     learningRate: optimizer.learningRate, samplesSeen: samplesSeen)
            history.append(record)
            observers.forEach { $0.epochEnded(record) }
            if var current = stopper {
                let stop = current.update(monitored: record.valLoss ?? record.loss, epoch: epoch + 1, model: model)
                stopper = current
                if stop {
                    observers.forEach { $0.note("early stopping: \(current.monitorName(validation != nil)) has not improved for "
                                                + "\(current.spec.patience) epochs") }
                    break
                }
            }
        }
        if let stopper, stopper.spec.restoreBestWeights, let best = stopper.bestEpoch, best != history.count {
            stopper.restoreBest(into: model)
            observers.forEach { $0.note("restored the weights of epoch \(best), the best by \(stopper.monitorName(validation != nil))") }
        }
        return history
    }

    /// One optimizer step on one batch; returns the batch's mean loss and its correct predictions.
    public func trainStep(_ x: Tensor, labels: Tensor) -> (loss: Double, correct: Int) {
        model.store.zeroGradients()
        let output = model.forward(x, training: true)
        let (loss, gradient) = configuration.loss.evaluate(output: output, targets: targets(labels, classes: output.sampleSize),
                                                           outputActivation: model.outputActivation)
        model.backward(gradient)
        optimizer.step(model.store)
        return (Double(loss), correctPredictions(output: output, labels: labels))
    }

    /// Loss, accuracy and confusion matrix in inference mode.
    public func evaluate(_ data: Dataset, batchSize: Int = 500) -> Evaluation {
        Trainer.evaluate(model, on: data, loss: configuration.loss, batchSize: batchSize)
    }

    public static func evaluate(_ model: Sequential, on data: Dataset, loss: Loss, batchSize: Int = 500) -> Evaluation {
        var lossSum = 0.0, correct = 0
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: 10), count: 10)
        for start in stride(from: 0, to: data.count, by: batchSize) {
            let range = start..<min(start + batchSize, data.count)
            let (x, labels) = data.batch(range)
            let output = model.forward(x, training: false)
            let classes = output.sampleSize
            let (batchLoss, _) = loss.evaluate(output: output, targets: targets(labels, classes: classes, loss: loss),
                                               outputActivation: model.outputActivation)
            lossSum += Double(batchLoss) * Double(range.count)
            for row in 0..<range.count {
                let scores = output.scalars[row * classes..<(row + 1) * classes]
                let predicted = scores.indices.max { scores[$0] < scores[$1] }! - row * classes
                let label = Int(labels.scalars[row])
                if predicted == label { correct += 1 }
                if label < 10 && predicted < 10 { confusion[label][predicted] += 1 }
            }
        }
        return Evaluation(loss: data.count == 0 ? 0 : lossSum / Double(data.count), correct: correct, count: data.count,
                          confusion: confusion)
    }

    private func targets(_ labels: Tensor, classes: Int) -> Tensor {
        Trainer.targets(labels, classes: classes, loss: configuration.loss)
    }

    static func targets(_ labels: Tensor, classes: Int, loss: Loss) -> Tensor {
        loss == .sparseCategoricalCrossentropy ? labels : Loss.oneHot(labels, classes: classes)
    }
}

/// Keras' EarlyStopping state: the best monitored value, epochs since it, and the weights at it.
struct EarlyStopping {
    let spec: EarlyStoppingSpec
    private(set) var best = Double.infinity
    private(set) var bestEpoch: Int?
    private var wait = 0
    private var bestValues: [Float] = []
    private var bestState: [Float] = []

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
        return wait >= spec.patience
    }

    func restoreBest(into model: Sequential) {
        guard !bestValues.isEmpty || !bestState.isEmpty else { return }
        _ = model.store.values.update(fromContentsOf: bestValues)
        _ = model.store.state.update(fromContentsOf: bestState)
    }
}
