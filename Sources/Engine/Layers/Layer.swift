/// A layer of a Sequential model: forward and backward side by side, over batches whose first dimension is N.
///
/// A layer is built for one per-sample input shape. Its weights live in the model's `ParameterStore`; the layer
/// keeps only what its backward pass needs from the last forward pass (its input, output, im2col matrix, mask...).
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
}

extension Layer {
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
