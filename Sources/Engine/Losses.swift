#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Losses with Keras names, averaged over the batch.
///
/// `evaluate` takes the model's forward output and its `outputActivation`. With a softmax head the output is
/// logits and cross-entropy is computed as log-sum-exp minus the target logit: finite for logits of any size,
/// with gradient (softmax - target) / N. Without one, cross-entropy reads the output as probabilities clipped to
/// [1e-7, 1 - 1e-7], as Keras does for `from_logits=False`.
public enum Loss: String, Codable, Sendable, CaseIterable {
    case sparseCategoricalCrossentropy = "sparse_categorical_crossentropy"
    case categoricalCrossentropy = "categorical_crossentropy"
    case meanSquaredError = "mean_squared_error"

    static let epsilon: Float = 1e-7

    /// Mean loss over the batch, and its gradient with respect to `output`.
    /// `targets` holds class indices (N) for the sparse loss, and target rows (N, C) for the others.
    public func evaluate(output: Tensor, targets: Tensor, outputActivation: Activation) -> (loss: Float, gradient: Tensor) {
        let n = output.batchSize
        let classes = output.sampleSize
        let dense = self == .sparseCategoricalCrossentropy ? Loss.oneHot(targets, classes: classes) : targets
        precondition(dense.count == output.count,
                     "\(rawValue): targets of shape \(targets.shape) do not match outputs of shape \(output.shape)")
        var gradient = Tensor(zeros: output.shape)
        var total: Double = 0
        let scale = 1 / Float(n)
        for r in 0..<n {
            let z = Array(output.scalars[r * classes..<(r + 1) * classes])
            let t = Array(dense.scalars[r * classes..<(r + 1) * classes])
            var g = [Float](repeating: 0, count: classes)
            switch (self, outputActivation) {
            case (.meanSquaredError, _):
                // l = mean_j (y_j - t_j)²; dl/dy_j = 2 (y_j - t_j) / C, through the softmax if there is one.
                let y = outputActivation == .softmax ? Loss.softmax(z) : z
                var dy = [Float](repeating: 0, count: classes)
                for j in 0..<classes {
                    let d = y[j] - t[j]
                    total += Double(d * d) / Double(classes)
                    dy[j] = 2 * d / Float(classes)
                }
                g = dy
                if outputActivation == .softmax {
                    y.withUnsafeBufferPointer { yp in
                        dy.withUnsafeBufferPointer { dyp in
                            g.withUnsafeMutableBufferPointer {
                                Activation.softmax.backward(output: yp.baseAddress!, outputGradient: dyp.baseAddress!,
                                                            into: $0.baseAddress!, rows: 1, columns: classes)
                            }
                        }
                    }
                }
            case (_, .softmax):
                // l = Σ_j t_j (lse(z) - z_j); dl/dz_j = softmax(z)_j Σ_k t_k - t_j.
                let p = Loss.softmax(z)
                let maximum = z.max()!
                let logSumExp = maximum + logf(z.reduce(0) { $0 + expf($1 - maximum) })
                let targetMass = t.reduce(0, +)
                for j in 0..<classes where t[j] != 0 { total += Double(t[j] * (logSumExp - z[j])) }
                for j in 0..<classes { g[j] = p[j] * targetMass - t[j] }
            default:
                // l = -Σ_j t_j log(clip(y_j)); dl/dy_j = -t_j / y_j inside the clip range, 0 outside.
                for j in 0..<classes where t[j] != 0 {
                    let y = min(max(z[j], Loss.epsilon), 1 - Loss.epsilon)
                    total -= Double(t[j] * logf(y))
                    g[j] = y == z[j] ? -t[j] / y : 0
                }
            }
            for j in 0..<classes { gradient.scalars[r * classes + j] = g[j] * scale }
        }
        return (Float(total / Double(n)), gradient)
    }

    /// Rows of zeros with a one at each class index.
    public static func oneHot(_ labels: Tensor, classes: Int) -> Tensor {
        var out = Tensor(zeros: [labels.count, classes])
        for (r, label) in labels.scalars.enumerated() {
            let c = Int(label)
            precondition(c >= 0 && c < classes, "label \(c) outside 0..<\(classes)")
            out.scalars[r * classes + c] = 1
        }
        return out
    }

    static func softmax(_ z: [Float]) -> [Float] {
        var p = z
        p.withUnsafeMutableBufferPointer { Activation.softmaxRow($0.baseAddress!, count: z.count) }
        return p
    }
}

/// Number of rows whose largest output is at the target class (targets as for the sparse loss: indices).
public func correctPredictions(output: Tensor, labels: Tensor) -> Int {
    let classes = output.sampleSize
    var correct = 0
    for r in 0..<output.batchSize {
        let row = output.scalars[r * classes..<(r + 1) * classes]
        let predicted = row.indices.max { row[$0] < row[$1] }! - r * classes
        if predicted == Int(labels.scalars[r]) { correct += 1 }
    }
    return correct
}
