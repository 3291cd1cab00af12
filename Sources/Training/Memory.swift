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
    /// One pass of samples as kept for backward (the local batch, or `Sequential.samplesPerPass` of it): every
    /// layer's output in the two buffers it takes turns with, the input gradient it hands back (every layer after
    /// the first with weights; Flatten has neither), and the im2col columns of each input gradient a convolution computes (all but the first
    /// layer with weights) for the slice of samples it works on at a time. Not counted: the zero-bordered copies
    /// of padded inputs, which last one call.
    public let activationBytes: Int

    public var totalBytes: Int { datasetBytes + modelBytes + optimizerBytes + activationBytes }

    public init(model: Sequential, optimizerSlots: Int, datasets: [Dataset], localBatch: Int) {
        datasetBytes = datasets.reduce(0) { $0 + $1.images.count + $1.labels.count }
        let store = model.store
        modelBytes = 4 * (store.values.count + store.gradients.count + store.state.count)
        optimizerBytes = 4 * optimizerSlots * store.values.count
        let pass = min(localBatch, model.samplesPerPass ?? localBatch)
        var floats = 0, columns = 0
        for (i, shape) in model.outputShapes.enumerated() {
            let inputShape = i == 0 ? model.inputShape : model.outputShapes[i - 1]
            // Flatten hands on its input's scalars under another shape: no buffers of its own.
            if !(model.layers[i] is Flatten) {
                floats += 2 * shape.reduce(1, *) + (i > model.firstLayerWithWeights ? inputShape.reduce(1, *) : 0)
            }
            // A kernel over an image output is a convolution: one patch row per output position.
            if shape.count == 3, i > model.firstLayerWithWeights, let gemm = model.gemmShape(ofLayer: i) {
                let columnsPerSample = gemm.positions * gemm.depth
                columns += columnsPerSample * Conv2D.samplesPerSlice(columnsPerSample: columnsPerSample, batch: pass)
            }
        }
        activationBytes = 4 * (floats * pass + columns)
    }
}

extension Int {
    /// Bytes as mebibytes, one decimal.
    public var mebibytes: Double { (Double(self) / 1_048_576 * 10).rounded() / 10 }
}
