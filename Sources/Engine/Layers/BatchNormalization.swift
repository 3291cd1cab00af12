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
            x.withPointer { batchStatistics($0, rows: rows, features: c, mean: &mean, variance: &variance) }
            for j in 0..<c {
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
        if normalized.count != x.count { normalized = [Float](repeating: 0, count: x.count) }
        var y = Tensor(uninitialized: x.shape)
        x.withPointer { xp in
            y.withMutablePointer { yp in
                batchNormalize(xp, rows: rows, features: c, mean: mean, inverseStd: inverseStd, gamma: gamma,
                               beta: beta, normalized: &normalized, into: yp)
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
        dy.withPointer {
            batchGradientSums($0, normalized: normalized, rows: rows, features: c, sumDy: &sumDy, sumDyXhat: &sumDyXhat)
        }
        for j in 0..<c {
            dGamma[j] += sumDyXhat[j]
            dBeta[j] += sumDy[j]
        }
        var dx = batchStatisticsUsed ? Tensor(uninitialized: dy.shape) : dy
        if batchStatisticsUsed {
            // In the forward pass this was: x̂ = (x - μ)·s with μ, s = 1/σ from this batch, y = γx̂ + β; so now
            // dx = γ·s/M · (M·dy - Σdy - x̂·Σ(dy·x̂)), the mean and variance carrying gradient back too.
            dy.withPointer { dyp in
                dx.withMutablePointer {
                    batchNormInputGradient(dyp, normalized: normalized, rows: rows, features: c, gamma: gamma,
                                           inverseStd: inverseStd, sumDy: sumDy, sumDyXhat: sumDyXhat, into: $0)
                }
            }
        } else {
            // With moving statistics the layer is affine: dx = dy·γ·s.
            for r in 0..<rows { for j in 0..<c { dx.scalars[r * c + j] *= gamma[j] * inverseStd[j] } }
        }
        return dx
    }
}
