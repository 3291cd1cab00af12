import Engine
import Foundation
import MNIST
import Observability

/// `fit --tensorboard DIR`: TensorBoard event files in the run layout of Keras' TensorBoard callback,
/// `DIR/train` and `DIR/validation`, written by rank 0.
///
/// Tags beginning `batch_` are written every logging interval at the global step (running loss and accuracy,
/// learning rate, global samples/s, each rank's compute and communication seconds as min, mean and max); every
/// other tag at the epoch's number, from 1 (`epoch_loss` and `epoch_accuracy` in both directories, so TensorBoard
/// overlays training and validation; epoch seconds and resident memory; a histogram of every weight and of its
/// gradient of the epoch's last step; in `validation`, a grid of the first digits of the validation set, or of the
/// test set when there is none, that the model gets wrong, each captioned "label>prediction"). The configuration is text at
/// step 0. That split is what a resumed run relies on: it drops from the files the steps and epochs after its
/// checkpoint before it writes them again, so no step is there twice.
public final class TensorBoardLog: TrainingObserver {
    private let train: EventFileWriter
    private let validation: EventFileWriter
    private let model: Sequential
    private let examples: Dataset?
    /// Names of the classes for the grid's captions (their first 10 characters), else the labels' numbers.
    private let classNames: [String]?
    /// What resuming found wrong in the directories' files (a damaged file), for the console.
    public private(set) var warnings: [String] = []

    /// Digits shown in an epoch's grid of mistakes, and samples searched for them.
    static let misclassifiedShown = 64, samplesSearched = 1_000

    /// `host` names the event files, as TensorFlow's do. `examples`: the validation (or test) set whose misclassified digits each epoch shows. `resumingFrom`: the
    /// checkpoint's global step and its history, whose later records the directories lose first; an epoch of the
    /// history they lack (a crash between the checkpoint and the epoch's records) gets its scalars again.
    public init(directory: String, host: String, model: Sequential, examples: Dataset?, classNames: [String]? = nil,
                resumingFrom resumed: (globalStep: Int, history: [EpochRecord])? = nil) throws {
        let directories = [directory + "/train", directory + "/validation"]
        var logged = Set<Int>()
        if let resumed {
            let epochs = resumed.history.count
            for run in directories {
                warnings += try EventFiles.keep(inDirectory: run) { tag, step in
                    let kept = step <= (tag.hasPrefix("batch_") ? resumed.globalStep : epochs)
                    if kept, tag == "epoch_loss", run == directories[0] { logged.insert(step) }
                    return kept
                }
            }
        }
        train = try EventFileWriter(directory: directories[0], host: host)
        validation = try EventFileWriter(directory: directories[1], host: host)
        self.model = model
        self.examples = examples
        self.classNames = classNames
        for record in resumed?.history ?? [] where !logged.contains(record.epoch) { epochScalars(record) }
        train.flush()
        validation.flush()
    }

    /// The configuration, once, at the start of a new run.
    public func configuration(_ markdown: String) {
        train.text("configuration", markdown, step: 0)
        train.flush()
    }

    public func epochBegan(_ epoch: Int, of epochs: Int, steps: Int) {}

    public func stepEnded(_ progress: StepProgress) {}

    public func intervalEnded(step p: StepProgress, globalSamplesPerSecond: Double, times t: RankTimes) {
        let step = p.globalStep
        train.scalar("batch_loss", p.loss, step: step)
        train.scalar("batch_accuracy", p.accuracy, step: step)
        train.scalar("batch_learning_rate", Double(p.learningRate), step: step)
        train.scalar("batch_samples_per_second", globalSamplesPerSecond, step: step)
        for (name, value) in [("min", t.computeMin), ("mean", t.computeMean), ("max", t.computeMax)] {
            train.scalar("batch_compute_seconds/\(name)", value, step: step)
        }
        for (name, value) in [("min", t.communicationMin), ("mean", t.communicationMean), ("max", t.communicationMax)] {
            train.scalar("batch_communication_seconds/\(name)", value, step: step)
        }
        train.flush()
    }

    public func epochEnded(_ r: EpochRecord) {
        epochScalars(r)
        let store = model.store
        for view in store.views {
            let values = UnsafeBufferPointer(start: store.pointer(view), count: view.count)
            train.histogram(view.name, values, step: r.epoch)
            if view.trainable {
                train.histogram(view.name + "/gradient", UnsafeBufferPointer(start: store.gradient(view), count: view.count),
                                step: r.epoch)
            }
        }
        if let examples { misclassified(in: examples, epoch: r.epoch) }
        train.flush()
        validation.flush()
    }

    private func epochScalars(_ r: EpochRecord) {
        let epoch = r.epoch
        train.scalar("epoch_loss", r.loss, step: epoch)
        train.scalar("epoch_accuracy", r.accuracy, step: epoch)
        train.scalar("epoch_seconds", r.seconds, step: epoch)
        train.scalar("epoch_samples_per_second", r.samplesPerSecond, step: epoch)
        train.scalar("epoch_learning_rate", Double(r.learningRate), step: epoch)
        if let resident = r.residentMiB { train.scalar("epoch_resident_mib", resident, step: epoch) }
        if let peak = r.peakResidentMiB { train.scalar("epoch_peak_resident_mib", peak, step: epoch) }
        if let valLoss = r.valLoss, let valAccuracy = r.valAccuracy {
            validation.scalar("epoch_loss", valLoss, step: epoch)
            validation.scalar("epoch_accuracy", valAccuracy, step: epoch)
        }
    }

    private func caption(_ label: Int) -> String { classNames.map { String($0[label].prefix(10)) } ?? String(label) }

    /// The first digits of `data` the model gets wrong, captioned "label>prediction".
    private func misclassified(in data: Dataset, epoch: Int) {
        var images: [[Float]] = [], captions: [String] = []
        let searched = min(data.count, Self.samplesSearched)
        for first in stride(from: 0, to: searched, by: Trainer.evaluationBatchSize) {
            let indices = Array(first..<min(first + Trainer.evaluationBatchSize, searched))
            let (x, labels) = data.batch(indices)
            let output = model.predict(x)
            for (row, label) in labels.scalars.enumerated() where images.count < Self.misclassifiedShown {
                let predicted = predictedClass(output, row: row)
                guard predicted != Int(label) else { continue }
                // The grid is grey: an image of several channels shows their mean.
                let sample = x.scalars[row * x.sampleSize..<(row + 1) * x.sampleSize], channels = data.channels
                images.append(channels == 1 ? Array(sample)
                                  : stride(from: sample.startIndex, to: sample.endIndex, by: channels).map { start in
                                      sample[start..<start + channels].reduce(0, +) / Float(channels)
                                  })
                captions.append("\(caption(Int(label)))>\(caption(predicted))")
            }
        }
        guard !images.isEmpty else { return }
        let grid = DigitGrid.png(images: images, width: data.columns, height: data.rows, captions: captions)
        validation.image("misclassified/label>prediction", png: grid.png, width: grid.width, height: grid.height, step: epoch)
    }

    public func note(_ message: String) {}
}
