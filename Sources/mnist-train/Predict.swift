import ArgumentParser
import Checkpoint
import Engine
import Foundation
import MNIST
import Training

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict classes with a saved model: test-set samples or an image file (IDX or PGM), drawn in the terminal.")

    @Argument(help: ArgumentHelp("A model saved by fit (.safetensors.zst), a checkpoint, or a checkpoint directory "
                                 + "(its newest checkpoint).", valueName: "file"))
    var file: String
    @Option(name: .customLong("index"), help: ArgumentHelp("Test-set sample to predict (repeatable).", valueName: "n"))
    var indices: [Int] = []
    @Option(help: ArgumentHelp("An image file instead: IDX (every image in it) or PGM (P2/P5), of the model's input size.",
                               valueName: "file"))
    var image: String?
    @Flag(help: "Invert the image's gray levels (for dark digits on a light background).") var invert = false
    @Flag(help: "Print JSON (each sample's name, prediction and probabilities) instead of drawings.") var json = false
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        if image != nil && !indices.isEmpty { throw ValidationError("--index and --image are alternatives; give one") }
        if image == nil && invert { throw ValidationError("--invert goes with --image") }
    }

    func run() throws {
        let (model, _, metadata) = try loadSavedModel(file)
        let classNames = savedClassNames(metadata, classes: model.classCount)
        // A test label past the model's classes (another set's) shows as its number.
        func named(_ label: Int) -> String {
            guard let classNames, label < classNames.count else { return String(label) }
            return "\(label) \(classNames[label])"
        }
        let samples: Dataset
        var names: [String]
        if let image {
            do { samples = try ImageFile.load(image, invert: invert) } catch { throw CommandError("--image \(error)") }
            names = (0..<samples.count).map { samples.count == 1 ? image : "\(image)[\($0)]" }
        } else {
            let test = try dataOptions.files.loadTest()
            let chosen = indices.isEmpty ? [0] : indices
            if let bad = chosen.first(where: { $0 < 0 || $0 >= test.count }) {
                throw CommandError("--index \(bad) is outside the test set (0..<\(test.count))")
            }
            let pixels = test.pixelsPerSample
            samples = Dataset(images: chosen.flatMap { test.images[$0 * pixels..<($0 + 1) * pixels] },
                              labels: chosen.map { test.labels[$0] }, rows: test.rows, columns: test.columns,
                              channels: test.channels)
            names = chosen.map { "test sample \($0) (label \(named(Int(test.labels[$0]))))" }
        }
        guard samples.sampleShape == model.inputShape else {
            throw CommandError("\(image.map { "--image \($0)" } ?? "the test set"): the model \(file) takes \(model.inputShape) "
                                   + "inputs, the images are \(samples.sampleShape)")
        }
        // In batches, as evaluation runs: an IDX file of many images must not become one huge batch.
        var rows: [[Float]] = []
        for start in stride(from: 0, to: samples.count, by: Trainer.evaluationBatchSize) {
            let (x, _) = samples.batch(start..<min(start + Trainer.evaluationBatchSize, samples.count))
            let probabilities = model.predict(x)
            let classes = probabilities.sampleSize
            rows += (0..<x.batchSize).map { Array(probabilities.scalars[$0 * classes..<($0 + 1) * classes]) }
        }
        if json {
            let objects = rows.enumerated().map { i, p in
                let predicted = p.indices.max { p[$0] < p[$1] }!
                var object: [String: Any] = ["sample": names[i], "predicted": predicted, "probabilities": p.map(Double.init)]
                object["predicted_name"] = classNames?[predicted]
                return object
            }
            print(String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        for (i, p) in rows.enumerated() {
            let best = p.indices.max { p[$0] < p[$1] }!
            print(draw(samples, i))
            print("\(names[i]): predicted \(named(best)) (\(String(format: "%.1f", 100 * p[best]))%)")
            print(p.enumerated().map { "\($0.offset): \(String(format: "%.3f", $0.element))" }.joined(separator: "  ") + "\n")
        }
    }

    /// The image in shades of gray (the mean of its channels), two characters per pixel so it keeps its proportions.
    func draw(_ data: Dataset, _ index: Int) -> String {
        let shades = [" ", "░", "▒", "▓", "█"]
        let (pixels, channels) = (data.pixelsPerSample, data.channels)
        return (0..<data.rows).map { row in
            (0..<data.columns).map { column in
                let first = index * pixels + (row * data.columns + column) * channels
                let value = data.images[first..<first + channels].reduce(0) { $0 + Int($1) } / channels
                return String(repeating: shades[min(4, value * 5 / 256)], count: 2)
            }.joined()
        }.joined(separator: "\n")
    }
}
