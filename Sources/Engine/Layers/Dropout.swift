/// Inverted dropout: while training, each value is kept with probability 1 - rate and scaled by 1 / (1 - rate),
/// so inference is the identity. The mask comes from the model's seeded generator: same seed, same masks.
public struct Dropout: Layer {
    public let rate: Float
    public let outputShape: [Int]

    /// The scaled mask of the last training forward pass: 0 or 1 / (1 - rate); unused when `masked` is false.
    private var mask: [Float] = []
    private var masked = false
    private var outputs = ReusedTensors(count: 2)
    private var inputGradients = ReusedTensors(count: 1)

    public init(rate: Float, inputShape: [Int]) throws {
        guard rate >= 0, rate < 1 else { throw ModelDefinitionError("Dropout: rate must be in [0, 1), got \(rate)") }
        self.rate = rate
        outputShape = inputShape
    }

    public mutating func forward(_ x: Tensor, store: ParameterStore, training: Bool,
                                 rng: inout SplitMix64) -> Tensor {
        masked = training && rate > 0
        guard masked else { return x }
        let scale = 1 / (1 - rate)
        resize(&mask, to: x.count)
        for i in 0..<x.count { mask[i] = rng.nextUnitFloat() >= rate ? scale : 0 }
        let mask = mask
        return outputs.next(batch: x.batchSize, sampleShape: outputShape) { yp in
            x.withPointer { xp in for i in 0..<x.count { yp[i] = xp[i] * mask[i] } }
        }
    }

    public mutating func backward(_ dy: Tensor, store: ParameterStore) -> Tensor {
        // In the forward pass this was: y = x ⊙ mask; so now: dx = dy ⊙ mask (identity outside training).
        guard masked else { return dy }
        let mask = mask
        return inputGradients.next(batch: dy.batchSize, sampleShape: outputShape) { dxp in
            dy.withPointer { dyp in for i in 0..<dy.count { dxp[i] = dyp[i] * mask[i] } }
        }
    }
}
