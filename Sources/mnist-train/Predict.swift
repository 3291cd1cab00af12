import ArgumentParser
import Checkpoint
import Engine
import Foundation
import MNIST

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict digits with a saved model: test-set samples or an image file (IDX or PGM), drawn in the terminal.")

    @Argument(help: ArgumentHelp("A model saved by fit (.safetensors.zst), a checkpoint, or a checkpoint directory "
                                 + "(its newest checkpoint).", valueName: "file"))
    var file: String
    @Option(name: .customLong("index"), help: ArgumentHelp("Test-set sample to predict (repeatable).", valueName: "n"))
    var indices: [Int] = []
    @Option(help: ArgumentHelp("An image file instead: IDX (every image in it) or PGM (P2/P5), 28x28.", valueName: "file"))
    var image: String?
    @Flag(help: "Invert the image's gray levels (for dark digits on a light background).") var invert = false
    @Flag(help: "Print JSON (each sample's name, prediction and probabilities) instead of drawings.") var json = false
    @OptionGroup var dataOptions: DataOptions

    func validate() throws {
        if image != nil && !indices.isEmpty { throw ValidationError("--index and --image are alternatives; give one") }
        if image == nil && invert { throw ValidationError("--invert goes with --image") }
    }

    func run() throws {
        let (model, _, _) = try ModelFile.load(try modelFilePath(file))
        let samples: Dataset
        var names: [String]
        if let image {
            samples = try ImageFile.load(image, invert: invert)
            names = (0..<samples.count).map { samples.count == 1 ? image : "\(image)[\($0)]" }
        } else {
            let test = try dataOptions.files.loadTest()
            let chosen = indices.isEmpty ? [0] : indices
            if let bad = chosen.first(where: { $0 < 0 || $0 >= test.count }) {
                throw CommandError("--index \(bad) is outside the test set (0..<\(test.count))")
            }
            let pixels = test.rows * test.columns
            samples = Dataset(images: chosen.flatMap { test.images[$0 * pixels..<($0 + 1) * pixels] },
                              labels: chosen.map { test.labels[$0] }, rows: test.rows, columns: test.columns)
            names = chosen.map { "test sample \($0) (label \(test.labels[$0]))" }
        }
        guard samples.sampleShape == model.inputShape else {
            throw CommandError("the model takes \(model.inputShape) inputs, the images are \(samples.sampleShape)")
        }
        let (x, _) = samples.batch(0..<samples.count)
        let probabilities = model.predict(x)
        let classes = probabilities.sampleSize
        let rows = (0..<samples.count).map { Array(probabilities.scalars[$0 * classes..<($0 + 1) * classes]) }
        if json {
            let objects = rows.enumerated().map { i, p in
                ["sample": names[i], "predicted": p.indices.max { p[$0] < p[$1] }!, "probabilities": p.map(Double.init)]
                    as [String: Any]
            }
            print(String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        for (i, p) in rows.enumerated() {
            let best = p.indices.max { p[$0] < p[$1] }!
            print(draw(samples, i))
            print("\(names[i]): predicted \(best) (\(String(format: "%.1f", 100 * p[best]))%)")
            print(p.enumerated().map { "\($0.offset): \(String(format: "%.3f", $0.element))" }.joined(separator: "  ") + "\n")
        }
    }

    /// The digit in shades of gray, two characters per pixel so it keeps its proportions.
    func draw(_ data: Dataset, _ index: Int) -> String {
        let shades = [" ", "░", "▒", "▓", "█"]
        let pixels = data.rows * data.columns
        return (0..<data.rows).map { row in
            (0..<data.columns).map { column in
                let value = Int(data.images[index * pixels + row * data.columns + column])
                return String(repeating: shades[min(4, value * 5 / 256)], count: 2)
            }.joined()
        }.joined(separator: "\n")
    }
}

/// Images to predict from a file: IDX images (magic 2051) or a PGM (P2 text or P5 binary).
enum ImageFile {
    static func load(_ path: String, invert: Bool) throws -> Dataset {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
            throw CommandError("--image \(path): no such file, or empty")
        }
        let bytes = [UInt8](data)
        var dataset: Dataset
        if bytes.starts(with: [0x50, 0x32]) || bytes.starts(with: [0x50, 0x35]) {
            dataset = try pgm(bytes, path: path)
        } else {
            let images = try IDXFile(contentsOf: path, magic: IDXFile.imagesMagic,
                                     hint: "--image takes a PGM (P2 or P5) or an IDX image file")
            guard images.dimensions.count == 3 else { throw CommandError("--image \(path): not an IDX image file") }
            dataset = Dataset(images: images.bytes, labels: [UInt8](repeating: 0, count: images.dimensions[0]),
                              rows: images.dimensions[1], columns: images.dimensions[2])
        }
        if invert {
            dataset = Dataset(images: dataset.images.map { 255 - $0 }, labels: dataset.labels, rows: dataset.rows,
                              columns: dataset.columns)
        }
        return dataset
    }

    /// A P2 or P5 PGM, scaled to 0-255.
    static func pgm(_ bytes: [UInt8], path: String) throws -> Dataset {
        var i = 2
        func token() throws -> Int {
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "#") { while i < bytes.count && bytes[i] != 0x0A { i += 1 } }
                else if bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
                else { break }
            }
            let start = i
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            guard let value = Int(String(decoding: bytes[start..<i], as: UTF8.self)) else {
                throw CommandError("--image \(path): malformed PGM header")
            }
            return value
        }
        let width = try token(), height = try token(), maxValue = try token()
        guard width > 0, height > 0, (1...255).contains(maxValue) else {
            throw CommandError("--image \(path): PGM of \(width)x\(height), max \(maxValue) is not supported (8-bit only)")
        }
        var pixels: [Int]
        if bytes[1] == UInt8(ascii: "5") {
            i += 1  // the single whitespace after maxval
            guard bytes.count - i >= width * height else { throw CommandError("--image \(path): PGM is truncated") }
            pixels = bytes[i..<i + width * height].map(Int.init)
        } else {
            pixels = try (0..<width * height).map { _ in try token() }
        }
        return Dataset(images: pixels.map { UInt8(min(255, $0 * 255 / maxValue)) }, labels: [0], rows: height, columns: width)
    }
}
