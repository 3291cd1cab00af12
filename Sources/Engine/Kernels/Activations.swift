#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Element-wise activations (softmax: over the last axis), with Keras names.
/// Every derivative is written in terms of the output y, so layers keep only y for backward.
public enum Activation: String, Codable, Sendable, CaseIterable {
    case linear, relu, tanh, sigmoid, selu, softmax

    static let seluAlpha: Float = 1.673_263_242_354_377_284_817_042_991_671_7
    static let seluScale: Float = 1.050_700_987_355_480_493_419_334_985_294_6

    /// Applies the activation in place to `rows` rows of `columns` values.
    public func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        let count = rows * columns
        switch self {
        case .linear: break
        case .relu: for i in 0..<count { x[i] = max(x[i], 0) }
        case .tanh: for i in 0..<count { x[i] = tanhf(x[i]) }
        case .sigmoid: for i in 0..<count { x[i] = Activation.sigmoid(x[i]) }
        case .selu:
            for i in 0..<count {
                let v = x[i]
                x[i] = v > 0 ? Activation.seluScale * v : Activation.seluScale * Activation.seluAlpha * expm1f(v)
            }
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

    @inline(__always)
    static func sigmoid(_ v: Float) -> Float {
        // Never exp of a large positive number: stable for any v.
        if v >= 0 { return 1 / (1 + expf(-v)) }
        let e = expf(v)
        return e / (1 + e)
    }

    /// Softmax of one row in place, shifted by the row maximum so exp never overflows.
    static func softmaxRow(_ x: UnsafeMutablePointer<Float>, count: Int) {
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

/// z[r, c] = activation(z[r, c] + bias[c]) in one pass over memory: the bias add fused with the activation.
public func addBiasAndActivate(_ z: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, rows: Int,
                               columns: Int, activation: Activation) {
    if let bias {
        for r in 0..<rows {
            let row = z + r * columns
            for c in 0..<columns { row[c] += bias[c] }
            if activation != .softmax { activation.forward(row, rows: 1, columns: columns) }
        }
        if activation == .softmax { activation.forward(z, rows: rows, columns: columns) }
    } else {
        activation.forward(z, rows: rows, columns: columns)
    }
}

/// db[c] += Σ_r dz[r, c]: the bias gradient, a column sum.
public func addColumnSums(of dz: UnsafePointer<Float>, rows: Int, columns: Int,
                          into db: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let row = dz + r * columns
        for c in 0..<columns { db[c] += row[c] }
    }
}
