/// An optimizer with Keras semantics. Its per-parameter state is one flat buffer: slot k (e.g. Adam's "v") is
/// `slots[k*count ..< (k+1)*count]`, laid out like the model's trainable parameters (`ParameterStore.values`),
/// so it can be saved, restored and broadcast as is.
/// Each optimizer writes only the update of one flat buffer; `step` does the bookkeeping.
public protocol Optimizer {
    var learningRate: Float { get set }
    /// Names of the state slots, e.g. ["m", "v"]: each is one Float per trainable parameter.
    var slotNames: [String] { get }
    /// All slots, one after another.
    var slots: [Float] { get set }
    /// Updates applied so far (Keras `iterations`).
    var iterations: Int { get set }

    /// One update of every parameter from its gradient; `iterations` already counts this step.
    mutating func apply(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, count: Int)
}

extension Optimizer {
    /// One optimizer step over all of a model's trainable parameters.
    public mutating func step(_ store: ParameterStore) {
        let count = store.values.count
        if slots.count != slotNames.count * count {
            slots = [Float](repeating: 0, count: slotNames.count * count)
        }
        iterations += 1
        apply(parameters: store.values.baseAddress!, gradients: store.gradients.baseAddress!, count: count)
    }
}
