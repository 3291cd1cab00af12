import Engine
import XCTest

/// Data parallelism rests on this: the gradient of a batch equals the sum over any split of it of each part's
/// gradient weighted by its share of the samples. Checked for convnet, a batch of 24 in 2, 3 and 4 parts.
final class BatchSplitTests: XCTestCase {
    func gradient(_ model: Sequential, _ x: Tensor, _ labels: Tensor, rows: Range<Int>, of total: Int) -> [Float] {
        let pixels = 28 * 28
        let part = Tensor(shape: [rows.count, 28, 28, 1], scalars: Array(x.scalars[rows.lowerBound * pixels..<rows.upperBound * pixels]))
        let partLabels = Tensor(shape: [rows.count], scalars: Array(labels.scalars[rows]))
        model.store.zeroGradients()
        let output = model.forward(part, training: true)
        var (_, dy) = Loss.sparseCategoricalCrossentropy.evaluate(output: output, targets: partLabels,
                                                                   outputActivation: model.outputActivation)
        let share = Float(rows.count) / Float(total)
        for i in dy.scalars.indices { dy.scalars[i] *= share }
        model.backward(dy)
        return Array(model.store.gradients)
    }

    func testGradientOfBatchIsShareWeightedSumOfItsParts() throws {
        let model = try Preset.convnet.makeModel(seed: 1)
        let batch = 24
        let x = randomTensor([batch, 28, 28, 1], seed: 5, in: 0, 1)
        let labels = Tensor(shape: [batch], scalars: (0..<batch).map { Float($0 % 10) })
        let whole = gradient(model, x, labels, rows: 0..<batch, of: batch)
        for parts in [2, 3, 4] {
            var sum = [Float](repeating: 0, count: whole.count)
            for p in 0..<parts {
                let part = gradient(model, x, labels, rows: (batch * p / parts)..<(batch * (p + 1) / parts), of: batch)
                for i in sum.indices { sum[i] += part[i] }
            }
            // Same sums in another order: float32 rounding of sums of up to ~16k terms, relative to the largest.
            let scale = whole.map(abs).max()!
            assertClose(sum, whole, atol: 1e-5 * scale, "\(parts) parts")
        }
    }

    /// A step in passes, as the trainer runs it: layers may keep part of a gradient pending (Winograd
    /// convolutions sum theirs in the transformed space) until the last pass completes it.
    func testPassesThatCompleteGradientsOnlyAtTheLastSumToTheBatch() throws {
        for preset in [Preset.convnet, .cnnSmall] {
            let model = try preset.makeModel(seed: 1)
            XCTAssertTrue(model.layers.contains { ($0 as? Conv2D)?.runsWinograd == true }, "\(preset)")
            let batch = 12
            let x = randomTensor([batch, 28, 28, 1], seed: 5, in: 0, 1)
            let labels = Tensor(shape: [batch], scalars: (0..<batch).map { Float($0 % 10) })
            let whole = gradient(model, x, labels, rows: 0..<batch, of: batch)
            model.store.zeroGradients()
            let pixels = 28 * 28
            for first in stride(from: 0, to: batch, by: 5) {
                let rows = first..<min(first + 5, batch)
                let part = Tensor(shape: [rows.count, 28, 28, 1],
                                  scalars: Array(x.scalars[rows.lowerBound * pixels..<rows.upperBound * pixels]))
                let output = model.forward(part, training: true)
                var (_, dy) = Loss.sparseCategoricalCrossentropy.evaluate(
                    output: output, targets: Tensor(shape: [rows.count], scalars: Array(labels.scalars[rows])),
                    outputActivation: model.outputActivation)
                for i in dy.scalars.indices { dy.scalars[i] *= Float(rows.count) / Float(batch) }
                model.backward(dy, inputGradient: false, completesGradients: rows.upperBound == batch)
            }
            let scale = whole.map(abs).max()!
            assertClose(Array(model.store.gradients), whole, atol: 1e-5 * scale, "\(preset)")
        }
    }
}
