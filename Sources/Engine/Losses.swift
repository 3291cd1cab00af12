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
        var gradient = Tensor.empty
        let loss = evaluate(output: output, targets: targets, outputActivation: outputActivation, into: &gradient)
        return (loss, gradient)
    }

    /// The same, with the gradient written into `gradient`, whose storage is reused: training calls it every pass.
    /// One row at a time in scratch on the stack, so that a call allocates nothing once `gradient` is large enough.
    public func evaluate(output: Tensor, targets: Tensor, outputActivation: Activation, into gradient: inout Tensor) -> Float {
        let n = output.batchSize
        let classes = output.sampleSize
        let sparse = self == .sparseCategoricalCrossentropy
        precondition(sparse ? targets.count == n : targets.count == output.count,
                     "\(rawValue): targets of shape \(targets.shape) do not match outputs of shape \(output.shape)")
        gradient.reshape(like: output)
        var total: Double = 0
        let scale = 1 / Float(n)
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 3 * classes) { scratch in
            let t = scratch.baseAddress!, y = t + classes, dy = y + classes
            output.withPointer { outputs in
                targets.withPointer { targetRows in
                    gradient.withMutablePointer { gradients in
                        for r in 0..<n {
                            let z = outputs + r * classes, g = gradients + r * classes
                            if sparse {
                                let label = Int(targetRows[r])
                                precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
                                t.update(repeating: 0, count: classes)
                                t[label] = 1
                            } else {
                                t.update(from: targetRows + r * classes, count: classes)
                            }
                            g.update(repeating: 0, count: classes)
                            switch (self, outputActivation) {
                            case (.meanSquaredError, _):
                                // l = mean_j (y_j - t_j)²; dl/dy_j = 2 (y_j - t_j) / C, through the softmax if there is one.
                                y.update(from: z, count: classes)
                                if outputActivation == .softmax { Activation.softmaxRow(y, count: classes) }
                                for j in 0..<classes {
                                    let d = y[j] - t[j]
                                    total += Double(d * d) / Double(classes)
                                    dy[j] = 2 * d / Float(classes)
                                }
                                if outputActivation == .softmax {
                                    Activation.softmax.backward(output: y, outputGradient: dy, into: g, rows: 1, columns: classes)
                                } else {
                                    g.update(from: dy, count: classes)
                                }
                            case (_, .softmax):
                                // l = Σ_j t_j (lse(z) - z_j); dl/dz_j = softmax(z)_j Σ_k t_k - t_j.
                                y.update(from: z, count: classes)
                                Activation.softmaxRow(y, count: classes)
                                var maximum = z[0], sum: Float = 0, targetMass: Float = 0
                                for j in 1..<classes { maximum = max(maximum, z[j]) }
                                for j in 0..<classes { sum += expf(z[j] - maximum) }
                                let logSumExp = maximum + logf(sum)
                                for j in 0..<classes { targetMass += t[j] }
                                for j in 0..<classes where t[j] != 0 { total += Double(t[j] * (logSumExp - z[j])) }
                                for j in 0..<classes { g[j] = y[j] * targetMass - t[j] }
                            default:
                                // l = -Σ_j t_j log(clip(y_j)); dl/dy_j = -t_j / y_j inside the clip range, 0 outside.
                                for j in 0..<classes where t[j] != 0 {
                                    let clipped = min(max(z[j], Loss.epsilon), 1 - Loss.epsilon)
                                    total -= Double(t[j] * logf(clipped))
                                    g[j] = clipped == z[j] ? -t[j] / clipped : 0
                                }
                            }
                            for j in 0..<classes { g[j] *= scale }
                        }
                    }
                }
            }
        }
        return Float(total / Double(n))
    }

    /// Rows of zeros with a one at each class index.
    public static func oneHot(_ labels: Tensor, classes: Int) -> Tensor {
        Tensor(batch: labels.count, sampleShape: [classes]) { writeOneHot(labels, classes: classes, into: $0) }
    }

    /// `oneHot` into labels.count x classes values at `rows`.
    public static func writeOneHot(_ labels: Tensor, classes: Int, into rows: UnsafeMutablePointer<Float>) {
        rows.update(repeating: 0, count: labels.count * classes)
        for (r, label) in labels.scalars.enumerated() {
            let c = Int(label)
            precondition(c >= 0 && c < classes, "label \(c) outside 0..<\(classes)")
            rows[r * classes + c] = 1
        }
    }
}

/// The class of row `row` of `output`: the index of its largest value, the first of equal ones.
public func predictedClass(_ output: Tensor, row: Int) -> Int {
    let classes = output.sampleSize
    let scores = output.scalars[row * classes..<(row + 1) * classes]
    return scores.indices.max { scores[$0] < scores[$1] }! - row * classes
}

/// Number of rows whose largest output is at the target class (targets as for the sparse loss: indices).
public func correctPredictions(output: Tensor, labels: Tensor) -> Int {
    (0..<output.batchSize).count { predictedClass(output, row: $0) == Int(labels.scalars[$0]) }
}
