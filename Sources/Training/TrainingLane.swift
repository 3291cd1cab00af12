import Engine
import MNIST
import Observability

/// One worker thread's share of a rank's step: a copy of the model over the same weights with gradients of its
/// own (lane 0 is the trainer's model itself), and the buffers of its passes, kept from step to step.
final class TrainingLane {
    let model: Sequential
    // A pass's inputs, targets and loss gradient, kept from pass to pass: the steady state allocates none. Images
    // take turns between two buffers, as the first layer keeps its input until its next forward pass.
    private var passImages = ReusedTensors(count: 2)
    private var passLabels = ReusedTensors(count: 1)
    private var passTargets = ReusedTensors(count: 1)
    private var lossGradient = Tensor.empty
    /// The last `train`'s loss sum, correct predictions and samples.
    private(set) var totals = (lossSum: 0.0, correct: 0.0, samples: 0.0)
    /// This lane's worker index, its row in the timeline.
    let index: Int
    /// The global step to time pass by pass into `spans` (`--timeline`), if the next `train` is traced.
    var tracedStep: Int?
    var spans = SpanBuffer()

    init(model: Sequential, index: Int) {
        self.model = model
        self.index = index
    }

    /// Forward and backward over `indices` a pass at a time, into this lane's gradients (zeroed first), the loss
    /// gradient scaled by each pass's share of the `globalCount` samples of the step.
    func train(_ indices: ArraySlice<Int>, of data: Dataset, globalCount: Int, loss: Loss) {
        model.store.zeroGradients()
        totals = (0, 0, 0)
        // A few samples a pass, each pass's layer outputs still in cache when backward reads them.
        let perPass = model.samplesPerPass ?? max(indices.count, 1)
        for first in stride(from: indices.startIndex, to: indices.endIndex, by: perPass) {
            let pass = indices[first..<min(first + perPass, indices.endIndex)]
            var mark = tracedStep == nil ? 0 : monotonicNanoseconds()
            let x = passImages.next(batch: pass.count, sampleShape: data.sampleShape) { data.writeImages(pass, into: $0) }
            let labels = passLabels.next(batch: pass.count, sampleShape: []) { data.writeLabels(pass, into: $0) }
            if let step = tracedStep { mark = spans.record(.data, lane: index, step: step, since: mark) }
            let output = model.forward(x, training: true)
            let targets = loss == .sparseCategoricalCrossentropy ? labels
                : passTargets.next(batch: pass.count, sampleShape: model.outputShapes.last!) {
                    Loss.writeOneHot(labels, classes: output.sampleSize, into: $0)
                }
            let passLoss = loss.evaluate(output: output, targets: targets, outputActivation: model.outputActivation,
                                         into: &lossGradient)
            if let step = tracedStep { mark = spans.record(.forward, lane: index, step: step, since: mark) }
            // The loss is the mean over the pass's samples; the step wants the mean over the global batch.
            let share = Float(pass.count) / Float(globalCount)
            let count = lossGradient.count
            lossGradient.withMutablePointer { for i in 0..<count { $0[i] *= share } }
            model.backward(lossGradient, inputGradient: false, completesGradients: pass.endIndex == indices.endIndex)
            if let step = tracedStep { spans.record(.backward, lane: index, step: step, since: mark) }
            totals.lossSum += Double(passLoss) * Double(pass.count)
            totals.correct += Double(correctPredictions(output: output, labels: labels))
            totals.samples += Double(pass.count)
        }
    }
}
