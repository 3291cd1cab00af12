/// A layer of a Sequential model: forward and backward side by side, over batches whose first dimension is N.
///
/// A layer is built for one per-sample input shape. Its weights live in the model's `ParameterStore`; the layer
/// keeps what its backward pass needs from the last forward pass (its input, output, mask...) and the buffers it
/// writes into from pass to pass (`ReusedTensors`).
/// Backward takes the gradient of the loss with respect to the layer's output, adds the gradients of its weights
/// into the store (accumulating, `+=`), and returns the gradient with respect to its input.
public protocol Layer {
    /// Output shape of one sample (no batch dimension).
    var outputShape: [Int] { get }
    /// The weights this layer owns, in Keras order.
    var parameterSpecs: [ParameterSpec] { get }
    /// Where those weights live; set by the model when it lays out the store, same order as `parameterSpecs`.
    var parameters: [ParameterView] { get set }

    mutating func forward(_ input: Tensor, store: ParameterStore, training: Bool, rng: inout SplitMix64) -> Tensor
    mutating func backward(_ outputGradient: Tensor, store: ParameterStore) -> Tensor
    /// The same, but with `inputGradient` false the layer may skip its input gradient and return an empty
    /// tensor: training does so for the first layer with weights, whose input gradient nothing uses.
    mutating func backward(_ outputGradient: Tensor, store: ParameterStore, inputGradient: Bool) -> Tensor
    /// Adds into `store`'s gradients what backward passes have left pending: a layer may sum part of its
    /// gradients over a step's passes in its own form first (Conv2D under Winograd, in the transformed space).
    /// The model calls it after the last pass of a step, before the gradients are read.
    mutating func completeGradients(store: ParameterStore)
    /// Brings up to date what the layer derives from its weights and shares with the model's replicas (which
    /// share the weights), the work split among `workers`. Called before replicas run passes side by side: their
    /// passes then only read it.
    mutating func prepareSharedState(store: ParameterStore, workers: WorkerThreads)
}

extension Layer {
    public mutating func backward(_ outputGradient: Tensor, store: ParameterStore, inputGradient: Bool) -> Tensor {
        backward(outputGradient, store: store)
    }

    public mutating func completeGradients(store: ParameterStore) {}

    public mutating func prepareSharedState(store: ParameterStore, workers: WorkerThreads) {}

    public var parameterSpecs: [ParameterSpec] { [] }
    public var parameters: [ParameterView] {
        get { [] }
        set { precondition(newValue.isEmpty, "\(Self.self) has no parameters") }
    }
}

/// Why a layer cannot be built on its input: named so the user can fix the model definition.
public struct ModelDefinitionError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Makes `buffer` hold at least `count` scalars, allocating only when it must grow, so that steps and the
/// uneven passes of one step reuse memory. The contents are unspecified: callers overwrite the entries they use.
func resize(_ buffer: inout [Float], to count: Int) {
    if buffer.count < count { buffer = [Float](repeating: 0, count: count) }
}
