import Foundation
import MNIST
import XCTest

/// Any IDX classification set trains: a 20-class set of 32x32 images made here from MNIST digits, and Fashion-MNIST
/// where Debian's dataset-fashion-mnist is installed (deploy/install-deps.sh --test installs it). Presets follow the
/// image shape and the class count; sets that disagree are refused with one line.
final class AnyIDXSetTests: BinaryTestCase {
    static let fashionMNIST = "/usr/share/datasets/fashion-mnist"

    /// MNIST digits on a 32x32 canvas at (2, 2); half of them (odd indices) with a white bar along the top edge,
    /// which adds 10 to the class: 20 classes a convnet tells apart. (Along the bottom edge convnet's pooling drops
    /// the bar's rows.)
    func writeMarkedDigits(to directory: String, training: Int, test: Int) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mnist = MNISTFiles(directory: dataDirectory)
        for (set, count, images, labels) in [(try mnist.loadTraining(), training, MNISTFiles.names.trainImages, MNISTFiles.names.trainLabels),
                                             (try mnist.loadTest(), test, MNISTFiles.names.testImages, MNISTFiles.names.testLabels)] {
            var canvas = [UInt8](repeating: 0, count: count * 32 * 32), classes = [UInt8](repeating: 0, count: count)
            for sample in 0..<count {
                for row in 0..<28 {
                    for column in 0..<28 {
                        canvas[sample * 1024 + (row + 2) * 32 + column + 2] = set.images[sample * 784 + row * 28 + column]
                    }
                }
                classes[sample] = set.labels[sample]
                if sample % 2 == 1 {
                    classes[sample] += 10
                    for row in 0..<2 { for column in 0..<32 { canvas[sample * 1024 + row * 32 + column] = 255 } }
                }
            }
            try Data(IDXFile(dimensions: [count, 32, 32], bytes: canvas).encoded(magic: IDXFile.imagesMagic))
                .write(to: URL(fileURLWithPath: directory + "/" + images))
            try Data(IDXFile(dimensions: [count], bytes: classes).encoded(magic: IDXFile.labelsMagic))
                .write(to: URL(fileURLWithPath: directory + "/" + labels))
        }
    }

    func testTwentyClassesOf32x32TrainOnTwoRanksResumeAndEvaluateWithNames() throws {
        let data = path("marked")
        try writeMarkedDigits(to: data, training: 6000, test: 1000)
        // Windows line ends, as a file written there has them.
        let names = path("names.txt")
        try ((0..<20).map { $0 < 10 ? "digit \($0)" : "marked \($0 - 10)" }.joined(separator: "\r\n") + "\r\n")
            .write(toFile: names, atomically: true, encoding: .utf8)
        let common = ["fit", "--model", "convnet", "--data", data, "--checkpoint-dir", path("ckpt"),
                      "--output", path("marked.safetensors.zst")]
        let first = try run(common + ["--epochs", "1", "--class-names", names], ranks: 2)
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertTrue(first.output.contains("6000 training samples in 20 classes"), first.output)
        // The names come back from the checkpoint.
        let resumed = try run(common + ["--epochs", "2", "--resume"], ranks: 2)
        XCTAssertEqual(resumed.status, 0, resumed.error)
        XCTAssertTrue(resumed.output.contains("Resuming "), resumed.output)

        let evaluated = try run(["evaluate", path("marked.safetensors.zst"), "--data", data, "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.error)
        // A 20-class model's labels are not MNIST's, and MNIST's images are not its shape.
        let onMNIST = try run(["evaluate", path("marked.safetensors.zst"), "--data", dataDirectory])
        XCTAssertTrue(onMNIST.error.contains("it was trained on other images: use --data with a set of [32, 32, 1] images"),
                      onMNIST.error)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(report["accuracy"] as? Double), 0.8, "20 classes after 2 epochs of 6,000")
        XCTAssertEqual((report["confusion_matrix"] as? [[Int]])?.count, 20)
        XCTAssertEqual((report["class_names"] as? [String])?.last, "marked 9")
        let table = try run(["evaluate", path("marked.safetensors.zst"), "--data", data])
        XCTAssertTrue(table.output.contains("marked 9"), table.output)
        let predicted = try run(["predict", path("marked.safetensors.zst"), "--data", data, "--index", "1"])
        XCTAssertTrue(predicted.output.contains("test sample 1 (label 12 marked 2)"), predicted.output)
    }

    func testCustomModelTakesTheSetsShapeAndClasses() throws {
        let data = path("marked")
        try writeMarkedDigits(to: data, training: 1200, test: 200)
        let model = path("model.json")
        try """
            {"input_shape": [32, 32, 1], "layers": [
              {"type": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2, "activation": "relu"},
              {"type": "Flatten"}, {"type": "Dense", "units": 20, "activation": "softmax"}]}
            """.write(toFile: model, atomically: true, encoding: .utf8)
        let fit = try run(["fit", "--model-file", model, "--data", data, "--epochs", "1", "--output", path("m.safetensors.zst")],
                          ranks: 2)
        XCTAssertEqual(fit.status, 0, fit.error)
        try #"{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 20, "activation": "softmax"}]}"#
            .write(toFile: model, atomically: true, encoding: .utf8)
        let mnistShaped = try run(["fit", "--model-file", model, "--data", data, "--epochs", "1"])
        XCTAssertNotEqual(mnistShaped.status, 0)
        XCTAssertEqual(mnistShaped.error, "Error: --model-file \(model): the model takes inputs of shape [28, 28, 1], but the "
                       + "images are [32, 32, 1]; set \"input_shape\" to [32, 32, 1]\n")
    }

    func testSetsThatDisagreeAreRefusedWithOneLine() throws {
        let data = path("mixed")
        try writeMarkedDigits(to: data, training: 100, test: 20)
        // MNIST's test set beside 32x32 training images.
        for name in [MNISTFiles.names.testImages, MNISTFiles.names.testLabels] {
            let mnist = MNISTFiles(directory: dataDirectory).path(name)
            try FileManager.default.removeItem(atPath: data + "/" + name)
            try FileManager.default.copyItem(atPath: mnist, toPath: data + "/" + (mnist as NSString).lastPathComponent)
        }
        let shapes = try run(["fit", "--data", data, "--epochs", "1"])
        XCTAssertNotEqual(shapes.status, 0)
        XCTAssertTrue(shapes.error.hasSuffix("holds 28x28x1 images, \(data)/\(MNISTFiles.names.trainImages) 32x32x1: use files "
                                             + "of one set\n"), shapes.error)
        XCTAssertEqual(shapes.error.split(separator: "\n").count, 1)

        let classes = path("classes")
        try writeMarkedDigits(to: classes, training: 100, test: 20)
        let tooFew = try run(["fit", "--data", classes, "--classes", "12", "--epochs", "1"])
        XCTAssertEqual(tooFew.error, "Error: --classes 12: the labels in \(classes)/\(MNISTFiles.names.trainLabels) go up to 19; "
                       + "give --classes 20 or more\n")
        // Training labels of MNIST only (0-9) against the 20-class test labels.
        let fewer = path("fewer")
        try writeMarkedDigits(to: fewer, training: 100, test: 20)
        let digitsOnly = IDXFile(dimensions: [100], bytes: (0..<100).map { UInt8($0 % 10) }).encoded(magic: IDXFile.labelsMagic)
        try Data(digitsOnly).write(to: URL(fileURLWithPath: fewer + "/" + MNISTFiles.names.trainLabels))
        let labels = try run(["fit", "--data", fewer, "--epochs", "1"])
        XCTAssertEqual(labels.error, "Error: \(fewer)/\(MNISTFiles.names.testLabels) has label 19, outside the 10 classes of "
                       + "\(fewer)/\(MNISTFiles.names.trainLabels) (0-9): use files of one set, or give --classes 20\n")
        // Class names that do not fit.
        let names = path("names.txt")
        try "one\ntwo\n".write(toFile: names, atomically: true, encoding: .utf8)
        let tooFewNames = try run(["fit", "--data", classes, "--class-names", names, "--epochs", "1"])
        XCTAssertEqual(tooFewNames.error, "Error: --class-names \(names) has 2 names for 20 classes: give one name a line, in "
                       + "label order\n")
        try ((0..<19).map { "c\($0)" } + ["bad\u{1B}[2J"]).joined(separator: "\n").write(toFile: names, atomically: true, encoding: .utf8)
        let escape = try run(["fit", "--data", classes, "--class-names", names, "--epochs", "1"])
        XCTAssertTrue(escape.error.hasPrefix("Error: --class-names \(names): line 20 is empty, longer than 64 characters, or holds "
                                             + "control or format characters"), escape.error)
    }

    /// --classes above what the labels need is kept by the checkpoint: a resume without it goes on with that count.
    func testMoreClassesThanTheLabelsNeedSurviveAResume() throws {
        let data = path("marked")
        try writeMarkedDigits(to: data, training: 300, test: 50)
        let common = ["fit", "--model", "mlp", "--data", data, "--checkpoint-dir", path("ckpt"), "--output", path("m.safetensors.zst")]
        let first = try run(common + ["--epochs", "1", "--classes", "25"])
        XCTAssertEqual(first.status, 0, first.error)
        XCTAssertTrue(first.output.contains("in 25 classes"), first.output)
        let resumed = try run(common + ["--epochs", "2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.error)
        let evaluated = try run(["evaluate", path("m.safetensors.zst"), "--data", data, "--json"])
        XCTAssertEqual((try JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as? [String: Any])?["confusion_matrix"]
                           .flatMap { $0 as? [[Int]] }?.count, 25)
    }

    func testPresetThatCannotTakeTheImagesSaysSo() throws {
        let data = path("small")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        for (images, labels, count) in [(MNISTFiles.names.trainImages, MNISTFiles.names.trainLabels, 40),
                                        (MNISTFiles.names.testImages, MNISTFiles.names.testLabels, 10)] {
            try Data(IDXFile(dimensions: [count, 8, 8], bytes: (0..<count * 64).map { UInt8($0 % 256) })
                        .encoded(magic: IDXFile.imagesMagic)).write(to: URL(fileURLWithPath: data + "/" + images))
            try Data(IDXFile(dimensions: [count], bytes: (0..<count).map { UInt8($0 % 3) }).encoded(magic: IDXFile.labelsMagic))
                .write(to: URL(fileURLWithPath: data + "/" + labels))
        }
        let result = try run(["fit", "--model", "cnn-small", "--data", data, "--epochs", "1"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.error.hasPrefix("Error: --model cnn-small cannot take 8x8x1 images: "), result.error)
        XCTAssertEqual(result.error.split(separator: "\n").count, 1, result.error)
        let mlp = try run(["fit", "--model", "mlp", "--data", data, "--epochs", "1", "--output", path("mlp.safetensors.zst")])
        XCTAssertEqual(mlp.status, 0, "an MLP takes any image: \(mlp.error)")
    }

    /// A preset checkpointed after one epoch, in its accuracy band, then resumed and evaluated; and a custom model.
    func testFashionMNISTTrainsOnTwoRanksWithAPresetAndACustomModel() throws {
        guard FileManager.default.fileExists(atPath: Self.fashionMNIST + "/t10k-labels-idx1-ubyte.gz") else {
            throw XCTSkip("no Fashion-MNIST in \(Self.fashionMNIST): deploy/install-deps.sh --test installs Debian's "
                          + "dataset-fashion-mnist where apt is available")
        }
        let log = path("fashion.jsonl"), saved = path("fashion.safetensors.zst")
        let common = ["fit", "--model", "convnet", "--data", Self.fashionMNIST, "--log", log, "--checkpoint-dir",
                      path("ckpt"), "--output", saved]
        let first = try run(common + ["--epochs", "1"], ranks: 2)
        XCTAssertEqual(first.status, 0, first.error)
        let test = try XCTUnwrap(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["event"] as? String == "test" })
        // The band of one epoch of this preset, measured (README): far below MNIST's, far above chance.
        let accuracy = try XCTUnwrap(test["accuracy"] as? Double)
        XCTAssertGreaterThan(accuracy, 0.80)
        XCTAssertLessThan(accuracy, 0.93)
        let resumed = try run(common + ["--epochs", "2", "--resume"], ranks: 2)
        XCTAssertEqual(resumed.status, 0, resumed.error)
        let evaluated = try run(["evaluate", saved, "--data", Self.fashionMNIST, "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.error)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(evaluated.output.utf8)) as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(report["accuracy"] as? Double), accuracy, "a second epoch helps")

        let model = path("model.json")
        try """
            {"layers": [{"type": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2, "activation": "relu"},
                        {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}
            """.write(toFile: model, atomically: true, encoding: .utf8)
        let custom = try run(["fit", "--model-file", model, "--data", Self.fashionMNIST, "--epochs", "1", "--train-samples",
                              "4000", "--output", path("custom.safetensors.zst")], ranks: 2)
        XCTAssertEqual(custom.status, 0, custom.error)
        XCTAssertTrue(custom.output.contains("Test loss"), custom.output)
    }
}
