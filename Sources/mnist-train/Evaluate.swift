import ArgumentParser
import Checkpoint
import Distributed
import Engine
import Foundation
import MNIST
import Training

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test loss, accuracy, per-class precision, recall and F1, Cohen's kappa and confusion matrix of a saved "
            + "model.")

    @Argument(help: ArgumentHelp("A model saved by fit (.safetensors.zst), a checkpoint, or a checkpoint directory "
                                 + "(its newest checkpoint).", valueName: "file"))
    var file: String
    @OptionGroup var dataOptions: DataOptions
    @Flag(help: "Print JSON instead of tables.") var json = false

    func run() throws {
        try runOnEveryRank(evaluate)
    }

    /// Each rank evaluates its share of the test set; rank 0 prints the sums.
    func evaluate(_ communicator: any Communicator) throws {
        let (model, _, metadata) = try loadSavedModel(file)
        let loss = metadata["training"].flatMap { try? JSONDecoder().decode(TrainingConfiguration.self, from: Data($0.utf8)) }?
            .loss ?? .sparseCategoricalCrossentropy
        let files = dataOptions.files
        let test = try files.loadTest()
        let classes = model.classCount
        try checkModel(model, fits: test, classes: classes, loss: loss, source: file, saved: true)
        try checkLabels(of: test, in: files.path(MNISTFiles.names.testLabels), fit: model, source: file)
        let names = savedClassNames(metadata, classes: classes)
        let evaluation = Trainer.evaluate(model, on: test, loss: loss, communicator: communicator)
        guard communicator.isRoot else { return }
        if json {
            var object: [String: Any] = [
                "loss": evaluation.loss, "accuracy": evaluation.accuracy, "correct": evaluation.correct,
                "count": evaluation.count, "per_class_accuracy": evaluation.perClassAccuracy,
                "confusion_matrix": evaluation.confusion,
            ]
            let report = try JSONSerialization.jsonObject(with: JSONEncoder().encode(evaluation.classification)) as! [String: Any]
            object.merge(report) { $1 }
            object["class_names"] = names
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            print(evaluation.table(classNames: names))
        }
    }
}
