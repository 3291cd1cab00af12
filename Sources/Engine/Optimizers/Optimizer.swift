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

/// Eight parameters at a time: calls `update` with SIMD8 chunks of the weights, their gradients and two state
/// slots (pass the weights again for a slot an optimizer lacks; what `update` writes to it is dropped), the last
/// partial chunk through zero-filled copies. Each optimizer writes its formula once, and the compiler, which must
/// assume the four buffers may overlap, still gets vector arithmetic (square roots and divisions above all).
/// Lane by lane it is the same arithmetic as the scalar formula, so the results are the same bits.
@inline(__always)
func forEachChunkOf8(
    count: Int, weights w: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
    slot first: UnsafeMutablePointer<Float>, slot second: UnsafeMutablePointer<Float>,
    _ update: (_ w: inout SIMD8<Float>, _ g: SIMD8<Float>, _ first: inout SIMD8<Float>, _ second: inout SIMD8<Float>) -> Void
) {
    typealias V = SIMD8<Float>
    func load(_ p: UnsafePointer<Float>, _ i: Int) -> V { UnsafeRawPointer(p + i).loadUnaligned(as: V.self) }
    func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) { UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self) }
    var i = 0
    while i + 8 <= count {
        var (wv, s0, s1) = (load(w, i), load(first, i), load(second, i))
        update(&wv, load(g, i), &s0, &s1)
        // Slots before weights: a slot that is the weights again must not overwrite the update.
        store(s1, second, i)
        store(s0, first, i)
        store(wv, w, i)
        i += 8
    }
    guard i < count else { return }
    var wv = V(), gv = V(), s0 = V(), s1 = V()
    for lane in 0..<count - i { (wv[lane], gv[lane], s0[lane], s1[lane]) = (w[i + lane], g[i + lane], first[i + lane], second[i + lane]) }
    update(&wv, gv, &s0, &s1)
    for lane in 0..<count - i {
        (second[i + lane], first[i + lane]) = (s1[lane], s0[lane])
        w[i + lane] = wv[lane]
    }
}
