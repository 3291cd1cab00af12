import ArgumentParser
import Checkpoint
import Engine
import Foundation
import InputChecks
import MNIST
import Report
import Training

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One self-contained HTML page of a run: its curves, time per rank, confusion heatmap, per-class metrics "
            + "and the test digits it gets wrong.")

    @Argument(help: ArgumentHelp("The run's JSON log (fit --log); its last run is shown.", valueName: "log")) var log: String
    @Argument(help: ArgumentHelp("The model that run saved, or one of its checkpoints (a file or a checkpoint directory).",
                                 valueName: "model"))
    var model: String
    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("The HTML file to write.", valueName: "file"))
    var output: String
    @OptionGroup var dataOptions: DataOptions

    func run() throws {
        let runLog = try RunLog(path: log)
        let (network, _, metadata) = try loadSavedModel(model)
        try checkBelongs(metadata, to: runLog)
        try WritablePath.checkFile(output, what: "--output \(output)")
        let loss = metadata["training"].flatMap { try? JSONDecoder().decode(TrainingConfiguration.self, from: Data($0.utf8)) }?
            .loss ?? .sparseCategoricalCrossentropy
        let files = dataOptions.files
        let test = try files.loadTest()
        try checkModel(network, fits: test, classes: network.classCount, loss: loss, source: model, saved: true)
        try checkLabels(of: test, in: files.path(MNISTFiles.names.testLabels), fit: network, source: model)
        let evaluation = Trainer.evaluate(network, on: test, loss: loss)
        let report = HTMLReport(log: runLog, modelFile: model, modelName: metadata["name"] ?? runLog.model ?? "model",
                                parameterCount: network.parameterCount, evaluation: evaluation,
                                classNames: savedClassNames(metadata, classes: network.classCount),
                                mistakes: mistakes(of: network, on: test), imageSize: (test.rows, test.columns))
        try AtomicFile.write(Array(report.html.utf8), to: output)
        print("wrote \(output): \(runLog.epochs.count) epochs of \(log), test accuracy \((100 * evaluation.accuracy).fixed(2))%, "
              + "\(evaluation.count - evaluation.correct) test images wrong")
    }

    /// The model must be the one the log's run trained: the same name, and the same training loss in every epoch
    /// both record (a checkpoint holds the epochs up to it).
    func checkBelongs(_ metadata: [String: String], to runLog: RunLog) throws {
        if let logged = runLog.model, let saved = metadata["name"], logged != saved {
            throw CommandError("\(model) holds \(shown(saved)), but \(log)'s run trained \(shown(logged)): give the model that run saved")
        }
        guard let text = metadata["history"], let history = try? JSONDecoder().decode([EpochRecord].self, from: Data(text.utf8)) else { return }
        let logged = Dictionary(runLog.epochs.map { ($0.epoch, $0) }) { $1 }
        for epoch in history {
            guard let record = logged[epoch.epoch] else {
                throw CommandError("\(model) was trained \(counted(history.count, "epoch")), but \(log)'s run logs "
                                       + "\(runLog.epochs.count): give the log of the run that saved it")
            }
            guard abs(record.loss - epoch.loss) <= 1e-9 * max(1, abs(epoch.loss)) else {
                throw CommandError("\(model) is not the model of \(log)'s run: its epoch \(epoch.epoch) training loss is "
                                       + "\(epoch.loss.fixed(4)), the log's \(record.loss.fixed(4)); give the model that run saved")
            }
        }
    }

    /// The test images the model gets wrong, most confident first, as greyscale (channels averaged).
    func mistakes(of network: Sequential, on test: Dataset) -> [HTMLReport.Mistake] {
        var wrong: [HTMLReport.Mistake] = []
        let pixels = test.pixelsPerSample, channels = test.channels
        for start in stride(from: 0, to: test.count, by: Trainer.evaluationBatchSize) {
            let (x, _) = test.batch(start..<min(start + Trainer.evaluationBatchSize, test.count))
            let probabilities = network.predict(x), classes = probabilities.sampleSize
            for row in 0..<x.batchSize {
                let p = probabilities.scalars[row * classes..<(row + 1) * classes]
                let predicted = p.indices.max { p[$0] < p[$1] }! - row * classes
                let index = start + row, label = Int(test.labels[index])
                guard predicted != label else { continue }
                let image = test.images[index * pixels..<(index + 1) * pixels]
                let grey = stride(from: image.startIndex, to: image.endIndex, by: channels).map { first in
                    UInt8(image[first..<first + channels].reduce(0) { $0 + Int($1) } / channels)
                }
                wrong.append(HTMLReport.Mistake(index: index, pixels: grey, label: label, predicted: predicted,
                                                probability: Double(p[row * classes + predicted])))
            }
        }
        return wrong.sorted { $0.probability > $1.probability }
    }
}
