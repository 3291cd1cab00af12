/// Measures one core's fused multiply-add throughput in GFLOP/s, with the instruction mix of a GEMM
/// micro-kernel and nothing but L1 traffic: per iteration two SIMD8 loads, six broadcasts, and twelve FMAs into
/// twelve independent accumulators.
///
/// Two other shapes of probe measured far below what sgemm reaches, so neither gives the peak: FMA chains on
/// constant operands (in C as in Swift), and this same loop written inside a closure that captures its
/// accumulators. Hence a plain function. Figures in deploy/benchmarks/README.md.
func measureFMAPeak() -> Double {
    let iterations = 20_000_000
    // Tiny operands: products near 1e-14 keep the accumulators normal (denormals are slow) and finite.
    let values = UnsafeMutableRawPointer.allocate(byteCount: 64 * 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: 64)
    defer { values.deallocate() }
    for i in 0..<64 { values[i] = 1e-7 * Float(i + 1) }
    let seconds = bestTime(repetitions: 3) { blackHole(fmaProbeLoop(values, iterations: iterations)) }
    // One SIMD8 addingProduct is 8 multiplies and 8 adds.
    return Double(iterations) * 12 * 16 / seconds / 1e9
}

@inline(never)
private func fmaProbeLoop(_ values: UnsafeMutablePointer<Float>, iterations: Int) -> SIMD8<Float> {
    typealias V = SIMD8<Float>
    let raw = UnsafeRawPointer(values)
    var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
    var c6 = V(), c7 = V(), c8 = V(), c9 = V(), c10 = V(), c11 = V()
    for i in 0..<iterations {
        let offset = (i & 3) * 64
        let b0 = raw.load(fromByteOffset: offset, as: V.self)
        let b1 = raw.load(fromByteOffset: offset + 32, as: V.self)
        let a = values + (i & 7)
        var ai = V(repeating: a[0]); c0 = c0.addingProduct(ai, b0); c1 = c1.addingProduct(ai, b1)
        ai = V(repeating: a[1]); c2 = c2.addingProduct(ai, b0); c3 = c3.addingProduct(ai, b1)
        ai = V(repeating: a[2]); c4 = c4.addingProduct(ai, b0); c5 = c5.addingProduct(ai, b1)
        ai = V(repeating: a[3]); c6 = c6.addingProduct(ai, b0); c7 = c7.addingProduct(ai, b1)
        ai = V(repeating: a[4]); c8 = c8.addingProduct(ai, b0); c9 = c9.addingProduct(ai, b1)
        ai = V(repeating: a[5]); c10 = c10.addingProduct(ai, b0); c11 = c11.addingProduct(ai, b1)
    }
    return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11
}
