#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Element-wise activations (softmax: over the last axis), with Keras names.
/// Every derivative is written in terms of the output y, so layers keep only y for backward.
public enum Activation: String, Codable, Sendable, CaseIterable {
    case linear, relu, tanh, sigmoid, selu, softmax

    public static let seluAlpha: Float = 1.673_263_242_354_377_284_817_042_991_671_7
    public static let seluScale: Float = 1.050_700_987_355_480_493_419_334_985_294_6

    /// Applies the activation in place to `rows` rows of `columns` values.
    public func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let count = rows * columns
        switch self {
        case .linear: break
        case .relu: for i in 0..<count { x[i] = max(x[i], 0) }
        case .tanh: Activation.tanhInPlace(x, count: count)
        case .sigmoid: Activation.inPlace(x, count: count, Activation.sigmoid8)
        case .selu: Activation.inPlace(x, count: count, Activation.selu8)
        case .softmax:
            for r in 0..<rows { Activation.softmaxRow(x + r * columns, count: columns) }
        }
    }

    /// dz from dy and the forward output y (may alias dy): the chain rule through the activation.
    public func backward(output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
                         into dz: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let count = rows * columns
        switch self {
        case .linear: if UnsafePointer(dz) != dy { dz.update(from: dy, count: count) }
        // y = max(z, 0): dz = dy where y > 0.
        case .relu: for i in 0..<count { dz[i] = y[i] > 0 ? dy[i] : 0 }
        // y = tanh z: dy/dz = 1 - y².
        case .tanh: for i in 0..<count { dz[i] = dy[i] * (1 - y[i] * y[i]) }
        // y = σ(z): dy/dz = y (1 - y).
        case .sigmoid: for i in 0..<count { dz[i] = dy[i] * y[i] * (1 - y[i]) }
        // y = scale·z for z > 0, scale·α·(eᶻ - 1) otherwise: dy/dz = scale, or y + scale·α.
        case .selu:
            for i in 0..<count {
                dz[i] = dy[i] * (y[i] > 0 ? Activation.seluScale : y[i] + Activation.seluScale * Activation.seluAlpha)
            }
        // y = softmax(z) per row: dz_j = y_j (dy_j - Σ_k dy_k y_k).
        case .softmax:
            for r in 0..<rows {
                let base = r * columns
                var dot: Float = 0
                for j in 0..<columns { dot = dot.addingProduct(dy[base + j], y[base + j]) }
                for j in 0..<columns { dz[base + j] = y[base + j] * (dy[base + j] - dot) }
            }
        }
    }

    /// `function` over `count` values in place, eight lanes at a time, the tail through a zero-filled vector.
    @inline(__always)
    static func inPlace(_ x: UnsafeMutablePointer<Float>, count: Int, _ function: (SIMD8<Float>) -> SIMD8<Float>) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(x + i).storeBytes(of: function(v), as: SIMD8<Float>.self)
            i += 8
        }
        if i < count {
            var tail = SIMD8<Float>(repeating: 0)
            for j in i..<count { tail[j - i] = x[j] }
            let y = function(tail)
            for j in i..<count { x[j] = y[j - i] }
        }
    }

    /// σ(v) = 1 / (1 + e⁻ᵛ) for v ≥ 0 and eᵛ / (1 + eᵛ) below: exp of a number ≤ 0 only, stable for any v.
    @inline(__always)
    static func sigmoid8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let negative = v .< 0
        let e = exp8(v.replacing(with: -v, where: .!negative))
        return SIMD8<Float>(repeating: 1).replacing(with: e, where: negative) / (1 + e)
    }

    /// scale·v for v > 0, scale·α·(eᵛ - 1) otherwise.
    @inline(__always)
    static func selu8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let negative = (seluScale * seluAlpha) * expm18(v)
        return negative.replacing(with: seluScale * v, where: v .> 0)
    }

    /// eˣ - 1 for x ≤ 0 over eight lanes: on [-0.5, 0] its Taylor series to x⁸ (the next term is under 2⁻²⁷ of
    /// the value there), which keeps the relative precision near 0 that eˣ - 1 loses; below, exp8(x) - 1, where
    /// the value is beyond -0.39 and the subtraction exact enough. selu through it stays within 4 ulp of libm's
    /// expm1f form (ActivationKernelTests).
    @inline(__always)
    static func expm18(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        func step(_ acc: V, _ c: Float) -> V { V(repeating: c).addingProduct(acc, x) }
        var series = V(repeating: 1 / 40_320)
        series = step(series, 1 / 5_040)
        series = step(series, 1 / 720)
        series = step(series, 1 / 120)
        series = step(series, 1 / 24)
        series = step(series, 1 / 6)
        series = step(series, 1 / 2)
        series = step(series, 1) * x
        return series.replacing(with: exp8(x) - 1, where: x .< -0.5)
    }

    /// eˣ for x ≤ 0 over eight lanes (what sigmoid needs), Cephes' expf: x = n·ln 2 + r with |r| ≤ ln 2 / 2, a
    /// degree-5 polynomial for eʳ, and 2ⁿ written into the exponent bits (sigmoid through it stays within 3 ulp
    /// of libm's expf form, see ActivationKernelTests). Below -87.3365, where eˣ falls under the smallest normal
    /// float, it returns 0; above 0 it returns 1; NaN stays NaN.
    @inline(__always)
    static func exp8(_ input: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        let low = V(repeating: -87.336_55)
        var x = input
        x.replace(with: 0, where: x .> 0)
        x.replace(with: low, where: x .< low)
        // n = round(x / ln 2): adding 1.5·2²³ rounds to an integer, which the sum holds in its low bits.
        let magic = V(repeating: 12_582_912)
        let shifted = magic.addingProduct(x, V(repeating: 1.442_695_04))
        let n = shifted - magic
        // r = x - n·ln 2, ln 2 in two parts so that n·ln 2's high part is exact.
        var r = x.addingProduct(n, V(repeating: -0.693_359_375))
        r = r.addingProduct(n, V(repeating: 2.121_944_4e-4))
        func step(_ acc: V, _ c: Float) -> V { V(repeating: c).addingProduct(acc, r) }
        var p = V(repeating: 1.987_569_150_0e-4)
        p = step(p, 1.398_199_950_7e-3)
        p = step(p, 8.333_451_907_3e-3)
        p = step(p, 4.166_579_589_4e-2)
        p = step(p, 1.666_666_545_9e-1)
        p = step(p, 5.000_000_120_1e-1)
        p = (r + 1).addingProduct(p, r * r)
        // 2ⁿ, n in [-126, 0]: n + 127 in the exponent field, a normal float, so the product is exact.
        let power = (unsafeBitCast(shifted, to: SIMD8<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
        let scaled = p * unsafeBitCast(power, to: V.self)
        return scaled.replacing(with: 0, where: input .< low)
    }

    /// tanh in place (`tanh8`).
    static func tanhInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) { inPlace(x, count: count, tanh8) }

    /// tanh over eight lanes: the odd 13/6 rational approximation Eigen uses for float (within 2 ulp of 1 of
    /// tanhf, see ActivationKernelTests), on inputs clamped to ±7.9988, where tanh is 1 in float.
    @inline(__always)
    static func tanh8(_ input: SIMD8<Float>) -> SIMD8<Float> {
        // Not `clamped`: its pointwiseMin and pointwiseMax stay calls, two a vector.
        let bound = SIMD8<Float>(repeating: 7.998_811_7)
        var x = input
        x.replace(with: bound, where: x .> bound)
        x.replace(with: -bound, where: x .< -bound)
        let x2 = x * x
        // p(x) = x·(α1 + α3 x² + ... + α13 x¹²), q(x) = β0 + β2 x² + β4 x⁴ + β6 x⁶, by Horner's rule with FMA.
        func step(_ acc: SIMD8<Float>, _ c: Float) -> SIMD8<Float> { SIMD8(repeating: c).addingProduct(acc, x2) }
        var p = SIMD8<Float>(repeating: -2.760_768_477_423_55e-16)
        p = step(p, 2.000_187_904_824_77e-13)
        p = step(p, -8.604_671_522_137_35e-11)
        p = step(p, 5.122_297_090_371_14e-08)
        p = step(p, 1.485_722_357_179_79e-05)
        p = step(p, 6.372_619_288_754_36e-04)
        p = step(p, 4.893_524_558_917_86e-03) * x
        var q = SIMD8<Float>(repeating: 1.198_258_394_667_02e-06)
        q = step(q, 1.185_347_056_866_54e-04)
        q = step(q, 2.268_434_632_439_00e-03)
        q = step(q, 4.893_525_185_543_85e-03)
        // Near zero tanh x = x exactly in float; the rational form would round it.
        return (p / q).replacing(with: x, where: (x .< 0.0004) .& (x .> -0.0004))
    }

    /// Softmax of one row in place, shifted by the row maximum so exp never overflows.
    public static func softmaxRow(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var maximum = -Float.infinity
        for j in 0..<count { maximum = max(maximum, x[j]) }
        var sum: Float = 0
        for j in 0..<count {
            x[j] = expf(x[j] - maximum)
            sum += x[j]
        }
        let scale = 1 / sum
        for j in 0..<count { x[j] *= scale }
    }
}

/// z[r, c] = activation(z[r, c] + bias[c]), a block of rows at a time: the bias add and the activation run
/// while the block is still in cache, and the activation sees runs long enough to vectorize.
public func addBiasAndActivate(_ z: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, rows: Int,
                               columns: Int, activation: Activation) {
    guard let bias else { return activation.forward(z, rows: rows, columns: columns) }
    let blockRows = max(1, 2048 / columns)
    for start in stride(from: 0, to: rows, by: blockRows) {
        let count = min(blockRows, rows - start)
        let block = z + start * columns
        for r in 0..<count {
            let row = block + r * columns
            for c in 0..<columns { row[c] += bias[c] }
        }
        activation.forward(block, rows: count, columns: columns)
    }
}

/// db[c] += Σ_r dz[r, c]: the bias gradient, a column sum. Rows go in groups of lcm(columns, 8) values, which
/// are whole SIMD8 vectors whatever the width (6 columns: 4 rows, 3 vectors), summed into as many partial sums
/// that fold into db at the end; one row at a time would leave a narrow layer's columns to scalar code.
public func addColumnSums(of dz: UnsafePointer<Float>, rows: Int, columns: Int,
                          into db: UnsafeMutablePointer<Float>) {
    let group = columns / gcd(columns, 8) * 8, rowsPerGroup = group / columns
    let groups = group <= 512 ? rows / rowsPerGroup : 0
    if groups > 0 {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: group) { buffer in
            let partial = buffer.baseAddress!
            partial.initialize(repeating: 0, count: group)
            for start in 0..<groups { add(dz + start * group, to: partial, count: group) }
            for k in 0..<group { db[k % columns] += partial[k] }
        }
    }
    for r in groups * rowsPerGroup..<rows { add(dz + r * columns, to: db, count: columns) }
}

private func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
