import CKernels

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

    /// One update of the parameters in `range`, of the `count` there are, from their gradients: slot k of
    /// parameter i is slots[k·count + i], and `iterations` already counts this step. It touches nothing outside
    /// `range`, so workers can each take a range of the same step.
    func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, slots: UnsafeMutablePointer<Float>,
                count: Int, range: Range<Int>)
}

extension Optimizer {
    /// One optimizer step over all of a model's trainable parameters, split among `workers` in ranges of whole
    /// SIMD8 chunks: each parameter gets the same arithmetic whatever the split, so the same bits.
    public mutating func step(_ store: ParameterStore, workers: WorkerThreads? = nil) {
        let count = store.values.count
        if slots.count != slotNames.count * count {
            slots = [Float](repeating: 0, count: slotNames.count * count)
        }
        iterations += 1
        let optimizer = self, parts = workers?.count ?? 1
        let parameters = store.values.baseAddress!, gradients = UnsafePointer(store.gradients.baseAddress!)
        slots.withUnsafeMutableBufferPointer { state in
            // An optimizer without slots never reads this one.
            let slots = state.baseAddress ?? parameters
            func update(part: Int) {
                let range = WorkerThreads.share(of: count, part: part, parts: parts, granule: 8)
                optimizer.update(parameters: parameters, gradients: gradients, slots: slots, count: count, range: range)
            }
            if let workers, parts > 1 { workers.run(update) } else { update(part: 0) }
        }
    }
}

/// √v lane by lane in one vector instruction (`ckernels_sqrt8`), for the optimizers' formulas.
@inline(__always)
func squareRoot(_ v: SIMD8<Float>) -> SIMD8<Float> { ckernels_sqrt8(v) }

/// An optimizer's formula for eight parameters: a type rather than a closure, so that the compiler, which
/// specializes `forEachChunkOf8` for it, inlines the formula into the loop (a closure with a square root and a
/// division stayed out of line, one call per chunk).
protocol ChunkFormula {
    func update(_ w: inout SIMD8<Float>, _ g: SIMD8<Float>, _ first: inout SIMD8<Float>, _ second: inout SIMD8<Float>)
}

/// Eight parameters at a time: calls `formula.update` with SIMD8 chunks of the weights, their gradients and two state
/// slots (pass the weights again for a slot an optimizer lacks; what it writes to it is dropped), the last
/// partial chunk through zero-filled copies. Each optimizer writes its formula once, and the compiler, which must
/// assume the four buffers may overlap, still gets vector arithmetic (square roots and divisions above all).
/// Lane by lane it is the same arithmetic as the scalar formula, so the results are the same bits.
@inline(__always)
func forEachChunkOf8(
    count: Int, weights w: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>,
    slot first: UnsafeMutablePointer<Float>, slot second: UnsafeMutablePointer<Float>,
    _ formula: some ChunkFormula
) {
    typealias V = SIMD8<Float>
    func load(_ p: UnsafePointer<Float>, _ i: Int) -> V { UnsafeRawPointer(p + i).loadUnaligned(as: V.self) }
    func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) { UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self) }
    var i = 0
    while i + 8 <= count {
        var (wv, s0, s1) = (load(w, i), load(first, i), load(second, i))
        formula.update(&wv, load(g, i), &s0, &s1)
        // Slots before weights: a slot that is the weights again must not overwrite the update.
        store(s1, second, i)
        store(s0, first, i)
        store(wv, w, i)
        i += 8
    }
    guard i < count else { return }
    var wv = V(), gv = V(), s0 = V(), s1 = V()
    for lane in 0..<count - i { (wv[lane], gv[lane], s0[lane], s1[lane]) = (w[i + lane], g[i + lane], first[i + lane], second[i + lane]) }
    formula.update(&wv, gv, &s0, &s1)
    for lane in 0..<count - i {
        (second[i + lane], first[i + lane]) = (s1[lane], s0[lane])
        w[i + lane] = wv[lane]
    }
}
