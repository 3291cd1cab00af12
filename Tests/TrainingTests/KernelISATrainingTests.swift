import Engine
import MNIST
import Training
import XCTest

/// A short training under every kernel ISA this CPU runs, against the portable path. Every micro-kernel adds the
/// same products in the same order (ckernels.h) and the rest of the engine is the same code under every ISA, so
/// the stated tolerance is none: the weights must agree bit for bit.
final class KernelISATrainingTests: XCTestCase {
    /// 64 random digits, 2 epochs in batches of 32: every layer type the presets use (convolution with 'valid'
    /// and 'same' padding, as GEMM and under both Winograd transforms, pooling, dense, relu, tanh, softmax) through
    /// forward, backward and the optimizer.
    func weightsAfterTraining(_ preset: Preset, under isa: KernelISA) throws -> [Float] {
        let previous = KernelISA.active
        KernelISA.active = isa
        defer { KernelISA.active = previous }
        var rng = SplitMix64(seed: 7)
        let data = Dataset(images: (0..<64 * 784).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                           labels: (0..<64).map { _ in UInt8(rng.next() % 10) }, rows: 28, columns: 28)
        var configuration = preset.trainingDefaults
        configuration.epochs = 2
        configuration.batchSize = 32
        let trainer = Trainer(model: try preset.makeModel(), configuration: configuration)
        try trainer.fit(training: data, validation: nil)
        return Array(trainer.model.store.values)
    }

    func testTrainingIsTheSameUnderEveryISA() throws {
        for preset in [Preset.convnet, .lenet5, .cnnSmall] {
            let portable = try weightsAfterTraining(preset, under: .portable)
            XCTAssertTrue(portable.allSatisfy(\.isFinite), "\(preset): portable weights are not finite")
            for isa in KernelISA.available where isa != .portable {
                let weights = try weightsAfterTraining(preset, under: isa)
                let differing = zip(weights, portable).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "\(preset): \(differing) of \(weights.count) weights differ between \(isa) and portable")
            }
        }
        let missing = KernelISA.allCases.filter { !KernelISA.available.contains($0) }
        if !missing.isEmpty {
            throw XCTSkip("this CPU lacks \(missing.map(\.rawValue).joined(separator: ", ")): trained under the others only")
        }
    }
}
