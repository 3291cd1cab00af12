import CKernels

/// One core's fused multiply-add throughput with the widest FMAs this CPU runs, measured with the instruction mix
/// of a GEMM micro-kernel and nothing but L1 traffic: the yardstick for the kernels' GFLOP/s.
public struct FMAPeak: Sendable {
    public let gigaflops: Double
    /// Width of the FMAs measured: 512 with AVX-512, otherwise the 256 bits of the Swift SIMD8 probe.
    public let vectorBits: Int

    /// The AVX-512 probe is the 8x32 kernel's loop in C (two loads, eight broadcasts, sixteen FMAs a step); the
    /// other is the 6x16 loop in Swift SIMD8 (two loads, six broadcasts, twelve FMAs). Two other shapes of probe
    /// measured far below what sgemm reaches, so neither gives the peak: FMA chains on constant operands (in C
    /// as in Swift), and the Swift loop inside a closure that captures its accumulators. Hence plain functions.
    /// Figures in deploy/benchmarks/README.md.
    public static func measure() -> FMAPeak {
        // Tiny operands: products near 1e-14 keep the accumulators normal (denormals are slow) and finite.
        let values = UnsafeMutableRawPointer.allocate(byteCount: 128 * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: 128)
        defer { values.deallocate() }
        for i in 0..<128 { values[i] = 1e-7 * Float(i + 1) }
        let iterations = 20_000_000
        if KernelISA.available.contains(.avx512) {
            let seconds = bestOfThree { keep(ckernels_fma_probe_avx512(values, iterations)) }
            // Sixteen 16-lane FMAs a step, each 16 multiplies and 16 adds.
            return FMAPeak(gigaflops: Double(iterations) * 16 * 32 / seconds / 1e9, vectorBits: 512)
        }
        let seconds = bestOfThree { keep(fmaProbeLoop(values, iterations: iterations)) }
        // Twelve SIMD8 addingProducts a step, each 8 multiplies and 8 adds.
        return FMAPeak(gigaflops: Double(iterations) * 12 * 16 / seconds / 1e9, vectorBits: 256)
    }
}

/// Seconds of the fastest of three runs after one warm-up.
private func bestOfThree(_ body: () -> Void) -> Double {
    body()
    let clock = ContinuousClock()
    return (0..<3).map { _ in
        let elapsed = clock.measure(body).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
    }.min()!
}

/// Keeps a result alive so the optimizer cannot delete the work that produced it.
@inline(never)
private func keep<T>(_ value: T) {
    withExtendedLifetime(value) {}
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
