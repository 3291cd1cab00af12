// The row loops of batch normalization over (rows × features) data, features innermost and eight at a time.
// Each value gets the same arithmetic, in the same order over rows, as the scalar formulas in
// BatchNormalization, so results are the same bits.

/// mean[j] = Σ_r x[r, j] / rows; variance[j] = Σ_r (x[r, j] - mean[j])² / rows (two passes, no cancellation).
public func batchStatistics(_ x: UnsafePointer<Float>, rows: Int, features c: Int,
                            mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>) {
    mean.update(repeating: 0, count: c)
    variance.update(repeating: 0, count: c)
    for r in 0..<rows { add(x + r * c, to: mean, count: c) }
    for j in 0..<c { mean[j] /= Float(rows) }
    for r in 0..<rows {
        forEachFeature(c) { j in
            let d = load8(x + r * c + j) - load8(mean + j)
            store8(load8(variance + j).addingProduct(d, d), variance + j)
        } scalar: { j in
            let d = x[r * c + j] - mean[j]
            variance[j] = variance[j].addingProduct(d, d)
        }
    }
    for j in 0..<c { variance[j] /= Float(rows) }
}

/// x̂ = (x - mean)·inverseStd and y = β + γ·x̂, row by row.
public func batchNormalize(_ x: UnsafePointer<Float>, rows: Int, features c: Int, mean: UnsafePointer<Float>,
                           inverseStd: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
                           normalized: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        let row = r * c
        forEachFeature(c) { j in
            let xhat = (load8(x + row + j) - load8(mean + j)) * load8(inverseStd + j)
            store8(xhat, normalized + row + j)
            store8(load8(beta + j).addingProduct(load8(gamma + j), xhat), y + row + j)
        } scalar: { j in
            normalized[row + j] = (x[row + j] - mean[j]) * inverseStd[j]
            y[row + j] = beta[j].addingProduct(gamma[j], normalized[row + j])
        }
    }
}

/// sumDy[j] = Σ_r dy[r, j] and sumDyXhat[j] = Σ_r dy[r, j]·x̂[r, j], from zero.
public func batchGradientSums(_ dy: UnsafePointer<Float>, normalized: UnsafePointer<Float>, rows: Int, features c: Int,
                              sumDy: UnsafeMutablePointer<Float>, sumDyXhat: UnsafeMutablePointer<Float>) {
    sumDy.update(repeating: 0, count: c)
    sumDyXhat.update(repeating: 0, count: c)
    for r in 0..<rows {
        let row = r * c
        add(dy + row, to: sumDy, count: c)
        forEachFeature(c) { j in
            store8(load8(sumDyXhat + j).addingProduct(load8(dy + row + j), load8(normalized + row + j)), sumDyXhat + j)
        } scalar: { j in
            sumDyXhat[j] = sumDyXhat[j].addingProduct(dy[row + j], normalized[row + j])
        }
    }
}

/// dx = γ·s/M · (M·dy - Σdy - x̂·Σ(dy·x̂)) with the batch's own statistics (s = inverseStd, M = rows).
public func batchNormInputGradient(_ dy: UnsafePointer<Float>, normalized: UnsafePointer<Float>, rows: Int,
                                   features c: Int, gamma: UnsafePointer<Float>, inverseStd: UnsafePointer<Float>,
                                   sumDy: UnsafePointer<Float>, sumDyXhat: UnsafePointer<Float>,
                                   into dx: UnsafeMutablePointer<Float>) {
    let m = Float(rows)
    for r in 0..<rows {
        let row = r * c
        forEachFeature(c) { j in
            let centered = m * load8(dy + row + j) - load8(sumDy + j) - load8(normalized + row + j) * load8(sumDyXhat + j)
            store8(load8(gamma + j) * load8(inverseStd + j) / m * centered, dx + row + j)
        } scalar: { j in
            let centered = m * dy[row + j] - sumDy[j] - normalized[row + j] * sumDyXhat[j]
            dx[row + j] = gamma[j] * inverseStd[j] / m * centered
        }
    }
}

/// Eight features at a time, then one at a time for the rest.
@inline(__always)
private func forEachFeature(_ c: Int, _ vector: (Int) -> Void, scalar: (Int) -> Void) {
    var j = 0
    while j + 8 <= c { vector(j); j += 8 }
    while j < c { scalar(j); j += 1 }
}

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
private func load8(_ p: UnsafeMutablePointer<Float>) -> SIMD8<Float> { load8(UnsafePointer(p)) }

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}
