@testable import Checkpoint
import SystemZlib
import Distributed
import Engine
import Foundation
import MNIST
import Training
import XCTest

/// Thousands of seeded mutations of valid files through every reader of outside input: IDX (raw and gzip), the
/// zstd frame, safetensors, a model's weights and training state on resume, model JSON, PGM. Each mutation must
/// give a valid result or a one-line error: never a crash (which ends this test process), never an error that
/// floods the terminal, never a peak memory near the caps. A failure prints the reader and the seed.
final class ReaderMutationTests: XCTestCase {
    static let mutations = 2_000

    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "mutation-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    /// Runs `read` on `mutations` mutations of `valid`; returns how many were accepted.
    @discardableResult
    func mutating(_ valid: [UInt8], reader: String, seed: UInt64, file: StaticString = #filePath, line: UInt = #line,
                  _ read: ([UInt8]) throws -> Void) -> Int {
        XCTAssertNoThrow(try read(valid), "\(reader): the unmutated file must be read", file: file, line: line)
        resetPeakMemory()
        var mutator = Mutator(seed: seed)
        var accepted = 0
        for index in 0..<Self.mutations {
            let mutated = mutator.mutate(valid)
            do {
                try read(mutated)
                accepted += 1
            } catch {
                let message = "\(error)"
                if message.contains("\n") || message.count > 600 {
                    XCTFail("\(reader), seed \(seed), mutation \(index): not a one-line error: \(message.prefix(600))",
                            file: file, line: line)
                    return accepted
                }
            }
        }
        let peak = peakResidentMiB()
        XCTAssertLessThan(peak, 400, "\(reader): peak resident memory \(peak) MiB", file: file, line: line)
        print("\(reader): \(Self.mutations) mutations, \(accepted) read as valid, the rest refused; peak \(peak) MiB")
        return accepted
    }

    /// Writes `bytes` to a file for readers that take a path.
    func file(_ bytes: [UInt8], _ name: String) -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    // MARK: Readers

    func testIDXFiles() throws {
        var rng = SplitMix64(seed: 7)
        let images = IDXFile(dimensions: [16, 28, 28], bytes: (0..<16 * 784).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            .encoded(magic: IDXFile.imagesMagic)
        let labels = IDXFile(dimensions: [16], bytes: (0..<16).map { UInt8($0 % 10) }).encoded(magic: IDXFile.labelsMagic)
        let labelsPath = file(labels, "labels")
        mutating(images, reader: "IDX images", seed: 1) { try Dataset(imagesPath: file($0, "images"), labelsPath: labelsPath) }
        mutating(labels, reader: "IDX labels", seed: 2) {
            _ = try IDXFile(contentsOf: file($0, "labels-mutated"), magic: IDXFile.labelsMagic)
        }
        mutating(gzip(images), reader: "gzip IDX", seed: 3) {
            _ = try IDXFile(contentsOf: file($0, "images.gz"), magic: IDXFile.imagesMagic)
        }
        // Images with channels (magic 2052): a fourth size in the header.
        let colour = IDXFile(dimensions: [16, 8, 8, 3], bytes: (0..<16 * 192).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            .encoded(magic: IDXFile.imagesWithChannelsMagic)
        mutating(colour, reader: "IDX images with channels", seed: 4) {
            _ = try Dataset(imagesPath: file($0, "colour"), labelsPath: labelsPath)
        }
    }

    func testCheckpointFramesAndSafetensors() throws {
        let (contents, data) = try checkpoint()
        let plain = try contents.encoded()
        mutating(try Zstd.compress(plain, level: 3), reader: "zstd frame", seed: 4) {
            try resume(try CheckpointFile.decode($0, path: "mutated"), on: data)
        }
        mutating(plain, reader: "safetensors", seed: 5) {
            try resume(try SafeTensors(decoding: $0, path: "mutated"), on: data)
        }
    }

    func testTrainingStateInACheckpoint() throws {
        let (contents, data) = try checkpoint()
        for (offset, key) in ["training", "progress", "optimizer", "early_stopping", "rng_states", "model"].enumerated() {
            let text = Array(try XCTUnwrap(contents.metadata[key], key).utf8)
            mutating(text, reader: "checkpoint \(key)", seed: 10 + UInt64(offset)) {
                var forged = contents
                forged.metadata[key] = String(decoding: $0, as: UTF8.self)
                try resume(forged, on: data)
            }
        }
    }

    func testModelDefinitions() throws {
        let json = Array(#"""
        {"input_shape": [28, 28, 1], "layers": [
          {"type": "Conv2D", "filters": 4, "kernel_size": [3, 3], "strides": 1, "padding": "same", "activation": "relu",
           "kernel_initializer": "he_normal", "use_bias": true},
          {"type": "MaxPooling2D", "pool_size": 2, "strides": [2, 2], "padding": "valid"},
          {"type": "BatchNormalization", "momentum": 0.99, "epsilon": 0.001}, {"type": "Dropout", "rate": 0.25},
          {"type": "Flatten"}, {"type": "Dense", "units": 16, "activation": "tanh"}, {"type": "Activation", "activation": "selu"},
          {"type": "Dense", "units": 10, "activation": "softmax"}]}
        """#.utf8)
        let accepted = mutating(json, reader: "model JSON", seed: 20) {
            let model = try JSONDecoder().decode(ModelDefinition.self, from: Data($0)).makeModel()
            _ = model.summary()
        }
        XCTAssertGreaterThan(accepted, 0, "some mutations (a number changed within range) still define a model")
    }

    func testPGMImages() throws {
        let text = Array(("P2\n# a digit\n28 28\n255\n" + (0..<784).map { String($0 % 256) }.joined(separator: " ") + "\n").utf8)
        mutating(text, reader: "PGM P2", seed: 30) { _ = try ImageFile.pgm($0, path: "mutated.pgm") }
        let binary = Array("P5 28 28 255\n".utf8) + (0..<784).map { UInt8($0 % 256) }
        mutating(binary, reader: "PGM P5", seed: 31) { _ = try ImageFile.pgm($0, path: "mutated.pgm") }
    }

    // MARK: Inputs and the resume path

    /// A small model's checkpoint stopped mid-epoch (epoch 2, step 2 of 4) by Adam with early stopping (best
    /// weights kept), and its data: a resume has steps left to train, so forged counters meet the training loop.
    func checkpoint() throws -> (SafeTensors, Dataset) {
        var rng = SplitMix64(seed: 9)
        let data = Dataset(images: (0..<16 * 784).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                           labels: (0..<16).map { UInt8($0 % 10) }, rows: 28, columns: 28)
        let definition = ModelDefinition(inputShape: [28, 28, 1], layers: [
            .conv2D(2, kernelSize: 3, activation: .relu), .maxPooling2D(), .batchNormalization(), .flatten,
            .dense(10, activation: .softmax),
        ])
        let configuration = TrainingConfiguration(epochs: 3, batchSize: 4, optimizer: OptimizerSpec(.adam),
                                                  loss: .sparseCategoricalCrossentropy,
                                                  earlyStopping: EarlyStoppingSpec(patience: 3))
        let trainer = Trainer(model: try definition.makeModel(), configuration: configuration)
        var steps = 0
        trainer.stopRequested = {
            steps += 1
            return steps == 6
        }
        XCTAssertFalse(try trainer.fit(training: data, validation: nil), "stopped mid-epoch")
        XCTAssertEqual(trainer.progress.epoch, 1)
        XCTAssertEqual(trainer.progress.stepInEpoch, 2)
        let metadata = ["name": "tiny", "format": CheckpointFile.formatName, "format_version": CheckpointFile.formatVersion]
        return (try trainer.snapshot(definition: definition, metadata: metadata), data)
    }

    /// What `fit --resume` does with checkpoint contents: the model, the settings held to their ranges, the
    /// training state restored, the model checked against the data, then training (at most 3 epochs here).
    func resume(_ contents: SafeTensors, on data: Dataset) throws {
        let (model, _) = try ModelFile.model(in: contents, path: "mutated")
        guard let text = contents.metadata["training"],
              var configuration = try? JSONDecoder().decode(TrainingConfiguration.self, from: Data(text.utf8)) else {
            throw CheckpointError("mutated: no training settings")
        }
        if let problem = configuration.problem { throw CheckpointError("mutated is damaged: \(problem)") }
        configuration.epochs = min(configuration.epochs, 3)
        let trainer = Trainer(model: model, configuration: configuration)
        try trainer.restore(from: contents, path: "mutated")
        try ModelCheck.check(model, sampleShape: data.sampleShape, classes: 10, loss: configuration.loss)
        try trainer.fit(training: data, validation: nil)
        _ = trainer.evaluate(data)
    }

    func gzip(_ bytes: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        _ = deflateInit2_(&stream, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(compressBound(UInt(bytes.count))) + 64)
        let written = bytes.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target -> Int in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                _ = deflate(&stream, Z_FINISH)
                return target.count - Int(stream.avail_out)
            }
        }
        return Array(output[0..<written])
    }

    /// Resets this process's peak resident set (Linux: "5" to /proc/self/clear_refs), so that the peak read
    /// after a reader's mutations is that reader's.
    func resetPeakMemory() {
        _ = try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }

    func peakResidentMiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }
}
