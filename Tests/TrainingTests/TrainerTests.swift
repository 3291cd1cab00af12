import Distributed
import Engine
import MNIST
@testable import Training
import XCTest

/// A world of `size` ranks seen from one of them: collectives leave the data as it is, except that with
/// `peerDiffers` the max reduction reports a larger value from some other rank.
final class FakeCommunicator: Communicator {
    let rank: Int, size: Int
    let host = "test"
    var peerDiffers = false

    init(rank: Int = 0, size: Int) {
        self.rank = rank
        self.size = size
    }

    func allreduce(_ buffer: UnsafeMutableBufferPointer<Float>, _ operation: ReduceOperation) {}
    func allreduce(_ buffer: UnsafeMutableBufferPointer<Double>, _ operation: ReduceOperation) {
        if peerDiffers && operation == .max { for i in buffer.indices { buffer[i] += 1 } }
    }
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {}
    func gather(_ values: [Double], root: Int) -> [[Double]] { rank == root ? [values] : [] }
    func barrier() {}
    func abort(code: Int32) -> Never { fatalError("abort \(code)") }
}

final class TrainerTests: XCTestCase {
    func trainer(size: Int, scale: Bool, warmup: Double, communicator: FakeCommunicator? = nil) throws -> Trainer {
        var configuration = TrainingConfiguration(epochs: 1, batchSize: 8, optimizer: OptimizerSpec(.sgd, learningRate: 0.1),
                                                  loss: .sparseCategoricalCrossentropy)
        configuration.scaleLearningRate = scale
        configuration.warmupEpochs = warmup
        return Trainer(model: try Preset.mlp.makeModel(), configuration: configuration,
                       communicator: communicator ?? FakeCommunicator(size: size))
    }

    func testPassesOfAFewSamplesAddUpToTheWholeBatchGradient() throws {
        // convnet goes 6 samples a pass: 20 samples are passes of 6, 6, 6 and 2. With SGD at lr 1 and no
        // allreduce, the step moves the weights by exactly its gradient.
        let trained = try Preset.convnet.makeModel(), byHand = try Preset.convnet.makeModel()
        XCTAssertEqual(trained.samplesPerPass, 6)
        XCTAssertNil(try Preset.cnnBN.makeModel().samplesPerPass, "BatchNormalization needs the whole batch")
        var rng = SplitMix64(seed: 3)
        let data = Dataset(images: (0..<20 * 784).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                           labels: (0..<20).map { _ in UInt8(rng.next() % 10) }, rows: 28, columns: 28)
        let start = Array(trained.store.values)
        let configuration = TrainingConfiguration(epochs: 1, batchSize: 20, optimizer: OptimizerSpec(.sgd, learningRate: 1),
                                                  loss: .sparseCategoricalCrossentropy)
        let trainer = Trainer(model: trained, configuration: configuration, communicator: FakeCommunicator(size: 1))
        var timer = IntervalTimer()
        _ = trainer.trainStep(Array(0..<20)[...], of: data, globalCount: 20, timer: &timer)
        let stepped = zip(start, trained.store.values).map { $0 - $1 }

        byHand.store.zeroGradients()
        let (x, labels) = data.batch(Array(0..<20)[...])
        let output = byHand.forward(x, training: true)
        let gradient = Loss.sparseCategoricalCrossentropy.evaluate(
            output: output, targets: Trainer.targets(labels, classes: 10, loss: .sparseCategoricalCrossentropy),
            outputActivation: byHand.outputActivation).gradient
        byHand.backward(gradient, inputGradient: false)
        let whole = Array(byHand.store.gradients)
        let scale = whole.map(abs).max()!
        let worst = zip(stepped, whole).map { abs($0 - $1) }.max()!
        XCTAssertLessThanOrEqual(worst / scale, 1e-5, "passes and the whole batch differ by \(worst) (largest gradient \(scale))")
    }

    func testLearningRateScalingAndWarmup() throws {
        // Horovod's recipe on 4 ranks: lr x 4, warmed up from lr x 4 / 4 over 2 epochs.
        let scaled = try trainer(size: 4, scale: true, warmup: 2)
        XCTAssertEqual(scaled.learningRate(base: 0.1, epochProgress: 0), 0.1, accuracy: 1e-7)
        XCTAssertEqual(scaled.learningRate(base: 0.1, epochProgress: 1), 0.25, accuracy: 1e-7)
        XCTAssertEqual(scaled.learningRate(base: 0.1, epochProgress: 2), 0.4, accuracy: 1e-7)
        XCTAssertEqual(scaled.learningRate(base: 0.1, epochProgress: 7.5), 0.4, accuracy: 1e-7)
        // Without --scale-lr the target stays the base rate; one rank has nothing to warm up from.
        XCTAssertEqual(try trainer(size: 4, scale: false, warmup: 0).learningRate(base: 0.1, epochProgress: 0), 0.1)
        XCTAssertEqual(try trainer(size: 1, scale: true, warmup: 2).learningRate(base: 0.1, epochProgress: 0), 0.1)
    }

    func testCheckSyncStopsWhenARankDiffers() throws {
        let communicator = FakeCommunicator(size: 2)
        let subject = try trainer(size: 2, scale: false, warmup: 0, communicator: communicator)
        XCTAssertNoThrow(try subject.checkParametersInSync(step: 10))
        communicator.peerDiffers = true
        XCTAssertThrowsError(try subject.checkParametersInSync(step: 20)) { error in
            XCTAssertTrue(String(describing: error).contains("parameters differ across ranks at step 20"), "\(error)")
        }
    }

    /// An update that overflows leaves a finite loss for its step but infinite weights: they must never reach a
    /// checkpoint, so the last checkpoint stays the last good state.
    func testWeightsThatOverflowAreNeverCheckpointed() throws {
        let subject = try trainer(size: 1, scale: false, warmup: 0)
        var saved = 0
        subject.checkpoint = { _ in saved += 1 }
        try subject.saveCheckpoint(.steps)
        XCTAssertEqual(saved, 1)
        subject.model.store.values[17] = .infinity
        XCTAssertThrowsError(try subject.saveCheckpoint(.epochEnd)) { error in
            XCTAssertTrue("\(error)".contains("the weights became non-finite"), "\(error)")
        }
        XCTAssertEqual(saved, 1, "infinite weights reached a checkpoint")
    }

    func testEarlyStoppingFollowsKerasRules() throws {
        // Keras' EarlyStopping(patience=2, min_delta=0.01, restore_best_weights=True) on this val_loss sequence
        // (Keras 3.15 fed the same values stops after epoch 6 and restores epoch 4):
        // epoch 3 improves by less than min_delta (wait 1), epoch 4 by more (a new best), epochs 5 and 6 do not,
        // so training stops after epoch 6 and the weights of epoch 4 come back.
        let model = try Preset.mlp.makeModel()
        var stopper = EarlyStopping(EarlyStoppingSpec(patience: 2, minDelta: 0.01))
        let valLoss = [1.0, 0.9, 0.895, 0.85, 0.845, 0.86]
        var stoppedAfter: Int?
        for (index, value) in valLoss.enumerated() {
            let epoch = index + 1
            model.store.values.update(repeating: Float(epoch))  // marks whose weights these are
            if stopper.update(monitored: value, epoch: epoch, model: model) {
                stoppedAfter = epoch
                break
            }
        }
        XCTAssertEqual(stoppedAfter, 6)
        XCTAssertEqual(stopper.bestEpoch, 4)
        XCTAssertEqual(stopper.best, 0.85)
        XCTAssertTrue(stopper.patienceRanOut)
        stopper.restoreBest(into: model)
        XCTAssertTrue(model.store.values.allSatisfy { $0 == 4 })
    }

    func testShareSplitsEveryItemExactlyOnce() {
        for size in 1...5 {
            for count in [0, 1, 3, 64, 65] {
                let shares = (0..<size).map { FakeCommunicator(rank: $0, size: size).share(of: count) }
                XCTAssertEqual(shares.flatMap { Array($0) }, Array(0..<count), "\(count) items on \(size) ranks")
                XCTAssertLessThanOrEqual(shares.map(\.count).max()! - shares.map(\.count).min()!, 1)
            }
        }
    }

    func testMemoryBudgetCountsEachPartOnce() throws {
        // Conv2D(4, 3x3) on 28x28x1 -> 26x26x4, Flatten -> 2704, Dense(10): 40 + 27,050 parameters.
        let model = try Sequential([.conv2D(4, kernelSize: 3), .flatten, .dense(10)], inputShape: [28, 28, 1])
        let data = Dataset(images: [UInt8](repeating: 0, count: 5 * 784), labels: [UInt8](repeating: 0, count: 5),
                           rows: 28, columns: 28)
        let budget = MemoryBudget(model: model, optimizerSlots: 2, datasets: [data, data], localBatch: 3)
        XCTAssertEqual(budget.datasetBytes, 2 * 5 * 785)
        XCTAssertEqual(budget.modelBytes, 4 * 2 * 27_090, "values and gradients")
        XCTAssertEqual(budget.optimizerBytes, 4 * 2 * 27_090, "two slots, as Adam's m and v")
        // Per sample: the conv output 2704 and the dense output 10 twice each (the buffers they take turns with),
        // and once more each for the gradient before their activation; dense's input gradient 2704; the trainer's
        // two input buffers (784) and its targets and loss gradient (10 each). Flatten holds nothing; the first
        // convolution computes no input gradient, so it holds neither one nor columns.
        let trainer = 2 * 784 + 2 * 10
        let perSample = 3 * 2704 + 3 * 10 + 2704 + trainer
        XCTAssertEqual(budget.activationBytes, 4 * 3 * perSample)
        XCTAssertEqual(budget.totalBytes,
                       budget.datasetBytes + budget.modelBytes + budget.optimizerBytes + budget.activationBytes)
        // 200 samples go 48 at a time (512 KiB of the largest output, 10,816 bytes a sample).
        XCTAssertEqual(model.samplesPerPass, 48)
        let large = MemoryBudget(model: model, optimizerSlots: 2, datasets: [data], localBatch: 200)
        XCTAssertEqual(large.activationBytes, 4 * 48 * perSample)
        // Two threads: each lane has its own gradients and passes through its half of the batch (2 of 3 samples,
        // rounded up); the values, optimizer and dataset come once.
        let threaded = MemoryBudget(model: model, optimizerSlots: 2, datasets: [data, data], localBatch: 3, threads: 2)
        XCTAssertEqual(threaded.modelBytes, 4 * 3 * 27_090, "values once, gradients twice")
        XCTAssertEqual(threaded.optimizerBytes, budget.optimizerBytes)
        XCTAssertEqual(threaded.datasetBytes, budget.datasetBytes)
        XCTAssertEqual(threaded.activationBytes, 4 * 2 * 2 * perSample)
        // A second convolution (output 2304) returns an input gradient (2704) and holds columns for it: 24x24
        // positions x 36 values a sample.
        let deeper = try Sequential([.conv2D(4, kernelSize: 3), .conv2D(4, kernelSize: 3), .flatten, .dense(10)],
                                    inputShape: [28, 28, 1])
        let deep = MemoryBudget(model: deeper, optimizerSlots: 2, datasets: [data], localBatch: 3)
        XCTAssertEqual(deep.activationBytes, 4 * 3 * (3 * 2704 + 3 * 2304 + 2704 + 3 * 10 + 2304 + trainer + 576 * 36))
        // A ReLU convolution before a pool leaves its activation's gradient to the pool: no buffer for it. The
        // pool's outputs (676) twice and its input gradient (2704); dense's input gradient is the pool's size.
        let pooled = try Sequential([.conv2D(4, kernelSize: 3, activation: .relu), .maxPooling2D(), .flatten, .dense(10)],
                                    inputShape: [28, 28, 1])
        let fused = MemoryBudget(model: pooled, optimizerSlots: 2, datasets: [data], localBatch: 3)
        XCTAssertEqual(fused.activationBytes, 4 * 3 * (2 * 2704 + 2 * 676 + 2704 + 3 * 10 + 676 + trainer))
    }

    func testResidentMemoryReadsThisProcess() throws {
        let before = try XCTUnwrap(ResidentMemory.read(), "/proc/self/status is there on Linux")
        // Touch 64 MiB: the resident set and its peak must grow by most of it.
        var block = [UInt8](repeating: 1, count: 64 << 20)
        block[block.count - 1] = 2
        let after = try XCTUnwrap(ResidentMemory.read())
        withExtendedLifetime(block) {}
        XCTAssertGreaterThan(after.bytes - before.bytes, 60 << 20)
        XCTAssertGreaterThanOrEqual(after.peakBytes, after.bytes)
    }
}
