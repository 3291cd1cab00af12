/// Batch normalization over the last axis (Keras axis=-1): each of the C features is normalized over all the
/// other positions of the batch. x and y are (N, ..., C); gamma, beta, moving_mean, moving_variance are [C].
///
/// Training uses the batch statistics (biased variance, as Keras) and updates the moving averages:
/// moving = moving·momentum + batch·(1 - momentum). Inference uses the moving averages.
public struct BatchNormalization: Layer {
    public let momentum: Float
    public let epsilon: Float
    public let features: Int
    public let outputShape: [Int]
    public var parameters: [ParameterView] = []

    private var normalized: [Float] = []  // x̂ of the last forward pass
    private var inverseStd: [Float] = []  // 1 / sqrt(var + ε) per feature, of the statistics that were used
    private var batchStatisticsUsed = true

    public init(momentum: Float = 0.99, epsilon: Float = 1e-3, inputShape: [Int]) throws {
        guard let features = inputShape.last, features > 0 else {
            throw ModelDefinitionError("BatchNormalization: needs an input with a feature axis, got \(inputShape)")
        }
        self.momentum = momentum
        self.epsilon = epsilon
        self.features = features
        outputShape = inputShape
    }

    public var parameterSpecs: [ParameterSpec] {
        [
            ParameterSpec(name: "gamma", shape: [features], initializer: .ones),
            ParameterSpec(name: "beta", shape: [features], initializer: .zeros),
            ParameterSpec(name: "moving_mean", shape: [features], initializer: .zeros, trainable: false),
            ParameterSpec(name: "moving_variance", shape: [features], initializer: .ones, trainable: false),
        ]
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        let c = features
        let rows = x.count / c
        let gamma = store.pointer(parameters[0]), beta = store.pointer(parameters[1])
        let movingMean = store.pointer(parameters[2]), movingVariance = store.pointer(parameters[3])
        var mean = [Float](repeating: 0, count: c)
        var variance = [Float](repeating: 0, count: c)
        if training {
            // Two passes: mean, then the mean squared deviation (no cancellation as with E[x²] - E[x]²).
            x.withPointer { xp in
                for r in 0..<rows { for j in 0..<c { mean[j] += xp[r * c + j] } }
                for j in 0..<c { mean[j] /= Float(rows) }
                for r in 0..<rows {
                    for j in 0..<c {
                        let d = xp[r * c + j] - mean[j]
                        variance[j] = variance[j].addingProduct(d, d)
                    }
                }
            }
            for j in 0..<c {
                variance[j] /= Float(rows)
                movingMean[j] = movingMean[j] * momentum + mean[j] * (1 - momentum)
                movingVariance[j] = movingVariance[j] * momentum + variance[j] * (1 - momentum)
            }
        } else {
            for j in 0..<c {
                mean[j] = movingMean[j]
                variance[j] = movingVariance[j]
            }
        }
        inverseStd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        normalized = [Float](repeating: 0, count: x.count)
        var y = x
        x.withPointer { xp in
            for r in 0..<rows {
                for j in 0..<c {
                    let i = r * c + j
                    normalized[i] = (xp[i] - mean[j]) * inverseStd[j]
                    y.scalars[i] = beta[j].addingProduct(gamma[j], normalized[i])
                }
            }
        }
        batchStatisticsUsed = training
        return y
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        let c = features
        let rows = dy.count / c
        let gamma = store.pointer(parameters[0])
        let dGamma = store.gradient(parameters[0]), dBeta = store.gradient(parameters[1])
        var sumDy = [Float](repeating: 0, count: c)
        var sumDyXhat = [Float](repeating: 0, count: c)
        for r in 0..<rows {
            for j in 0..<c {
                sumDy[j] += dy.scalars[r * c + j]
                sumDyXhat[j] = sumDyXhat[j].addingProduct(dy.scalars[r * c + j], normalized[r * c + j])
            }
        }
        for j in 0..<c {
            dGamma[j] += sumDyXhat[j]
            dBeta[j] += sumDy[j]
        }
        var dx = dy
        if batchStatisticsUsed {
            // In the forward pass this was: x̂ = (x - μ)·s with μ, s = 1/σ from this batch, y = γx̂ + β; so now
            // dx = γ·s/M · (M·dy - Σdy - x̂·Σ(dy·x̂)), the mean and variance carrying gradient back too.
            let m = Float(rows)
            for r in 0..<rows {
                for j in 0..<c {
                    let i = r * c + j
                    let centered = m * dy.scalars[i] - sumDy[j] - normalized[i] * sumDyXhat[j]
                    dx.scalars[i] = gamma[j] * inverseStd[j] / m * centered
                }
            }
        } else {
            // With moving statistics the layer is affine: dx = dy·γ·s.
            for r in 0..<rows { for j in 0..<c { dx.scalars[r * c + j] *= gamma[j] * inverseStd[j] } }
        }
        return dx
    }
}
