import Engine
import Foundation
import MNIST

/// This process's resident set, now and at its peak, from /proc/self/status (VmRSS, VmHWM); nil where the
/// kernel does not provide it.
public struct ResidentMemory: Sendable {
    public let bytes: Int
    public let peakBytes: Int

    public init(bytes: Int, peakBytes: Int) {
        self.bytes = bytes
        self.peakBytes = peakBytes
    }

    public static func read() -> ResidentMemory? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        // Lines read "VmRSS:     123456 kB".
        func kibibytes(_ key: String) -> Int? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }) else { return nil }
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        guard let current = kibibytes("VmRSS"), let peak = kibibytes("VmHWM") else { return nil }
        return ResidentMemory(bytes: current * 1024, peakBytes: peak * 1024)
    }
}

/// What one rank holds for training, part by part, to set beside its resident set: the rest is the Swift
/// runtime, the MPI library and the allocator's slack.
public struct MemoryBudget: Sendable {
    /// Images and labels as loaded (UInt8), every set the rank keeps.
    public let datasetBytes: Int
    /// Parameter values, their gradients and non-trainable state (BatchNormalization's moving statistics).
    public let modelBytes: Int
    public let optimizerBytes: Int
    /// The buffers of one pass of samples (the local batch, or `Sequential.samplesPerPass` of it), which layers keep
    /// from pass to pass: every layer's output in the two buffers it takes turns with; the input gradient it hands
    /// back (every layer after the first with weights); what its backward pass keeps besides (the gradient before
    /// a Conv2D's or Dense's activation, unless a pool after applies it; BatchNormalization's normalized input;
    /// Dropout's mask); the im2col columns of each input gradient a convolution computes, for the slice of samples
    /// it works on at a time (none under Winograd); a Winograd convolution's transformed kernel, its gradient and
    /// the kernel they came from; and the trainer's inputs (two buffers), targets and loss gradient. Flatten holds
    /// none. Not counted: the kernels' scratch (packed weight panels, zero-bordered copies of padded inputs, a
    /// block of Winograd tiles).
    public let activationBytes: Int

    public var totalBytes: Int { datasetBytes + modelBytes + optimizerBytes + activationBytes }

    /// With `threads` lanes, the model's gradients and state and a pass's buffers come once a lane, each lane
    /// passing through its share of `localBatch`; the dataset, the values and the optimizer come once a rank.
    public init(model: Sequential, optimizerSlots: Int, datasets: [Dataset], localBatch: Int, threads: Int = 1) {
        datasetBytes = datasets.reduce(0) { $0 + $1.images.count + $1.labels.count }
        let store = model.store
        modelBytes = 4 * (store.values.count + threads * (store.gradients.count + store.state.count))
        optimizerBytes = 4 * optimizerSlots * store.values.count
        let share = (localBatch + threads - 1) / threads
        let pass = min(share, model.samplesPerPass ?? share)
        let classes = model.classCount
        var floats = 2 * model.inputShape.reduce(1, *) + 2 * classes, columns = 0, winograd = 0
        for (i, shape) in model.outputShapes.enumerated() {
            let layer = model.layers[i]
            let output = shape.reduce(1, *), input = (i == 0 ? model.inputShape : model.outputShapes[i - 1]).reduce(1, *)
            // Flatten hands on its input's scalars under another shape: no buffers of its own.
            if !(layer is Flatten) {
                floats += 2 * output + (i > model.firstLayerWithWeights ? input : 0)
            }
            let fused = (layer as? Conv2D)?.nextLayerAppliesActivationGradient ?? false
            if (layer is Conv2D && !fused) || layer is Dense || layer is BatchNormalization || layer is Dropout {
                floats += output
            }
            winograd += (layer as? Conv2D)?.winogradFloats ?? 0
            // A kernel over an image output is a convolution: one patch row per output position.
            let runsGEMM = !((layer as? Conv2D)?.runsWinograd ?? false)
            if shape.count == 3, runsGEMM, i > model.firstLayerWithWeights, let gemm = model.gemmShape(ofLayer: i) {
                let columnsPerSample = gemm.positions * gemm.depth
                columns += columnsPerSample * Conv2D.samplesPerSlice(columnsPerSample: columnsPerSample, batch: pass)
            }
        }
        activationBytes = 4 * threads * (floats * pass + columns + winograd)
    }
}

extension Int {
    /// Bytes as mebibytes, one decimal.
    public var mebibytes: Double { (Double(self) / 1_048_576 * 10).rounded() / 10 }
}
