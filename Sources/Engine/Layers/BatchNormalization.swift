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
    // Per-feature scratch and the output buffers, kept from step to step.
    private var mean: [Float] = [], variance: [Float] = [], sumDy: [Float] = [], sumDyXhat: [Float] = []
    private var outputs = ReusedTensors(count: 2)
    private var inputGradients = ReusedTensors(count: 1)

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
        resize(&mean, to: c)
        resize(&variance, to: c)
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
        resize(&inverseStd, to: c)
        for j in 0..<c { inverseStd[j] = 1 / (variance[j] + epsilon).squareRoot() }
        resize(&normalized, to: x.count)
        batchStatisticsUsed = training
        let (batchMean, batchInverseStd) = (mean, inverseStd)
        return outputs.next(batch: x.batchSize, sampleShape: outputShape) { yp in
            x.withPointer { xp in
                batchNormalize(xp, rows: rows, features: c, mean: batchMean, inverseStd: batchInverseStd, gamma: gamma,
                               beta: beta, normalized: &normalized, into: yp)
            }
        }
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        let c = features
        let rows = dy.count / c
        let gamma = store.pointer(parameters[0])
        let dGamma = store.gradient(parameters[0]), dBeta = store.gradient(parameters[1])
        resize(&sumDy, to: c)
        resize(&sumDyXhat, to: c)
        dy.withPointer {
            batchGradientSums($0, normalized: normalized, rows: rows, features: c, sumDy: &sumDy, sumDyXhat: &sumDyXhat)
        }
        for j in 0..<c {
            dGamma[j] += sumDyXhat[j]
            dBeta[j] += sumDy[j]
        }
        let (xHat, scale, sums, sumsTimesXHat) = (normalized, inverseStd, sumDy, sumDyXhat)
        let statisticsOfTheBatch = batchStatisticsUsed
        return inputGradients.next(batch: dy.batchSize, sampleShape: outputShape) { dxp in
            dy.withPointer { dyp in
                if statisticsOfTheBatch {
                    // In the forward pass this was: x̂ = (x - μ)·s with μ, s = 1/σ from this batch, y = γx̂ + β; so
                    // now dx = γ·s/M · (M·dy - Σdy - x̂·Σ(dy·x̂)), the mean and variance carrying gradient back too.
                    batchNormInputGradient(dyp, normalized: xHat, rows: rows, features: c, gamma: gamma,
                                           inverseStd: scale, sumDy: sums, sumDyXhat: sumsTimesXHat, into: dxp)
                } else {
                    // With moving statistics the layer is affine: dx = dy·γ·s.
                    for r in 0..<rows { for j in 0..<c { dxp[r * c + j] = dyp[r * c + j] * (gamma[j] * scale[j]) } }
                }
            }
        }
    }
}
