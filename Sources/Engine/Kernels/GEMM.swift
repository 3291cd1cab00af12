// SGEMM, row-major: C[m×n] = op(A)[m×k] · op(B)[k×n]  (+ C when `accumulate`).
// op(A) is A [m, k] or, with transposeA, Aᵀ where A is [k, m]; likewise op(B) is B [k, n] or Bᵀ with B [n, k].
// Training needs three forms: A·B (forward), A·Bᵀ (input gradients), Aᵀ·B (weight gradients).
//
// `sgemm` is the Goto/BLIS scheme: op(B) is packed into column panels NR wide and op(A) into row panels MR tall,
// each contiguous along k, so the micro-kernel streams both with unit stride whatever the transposes; one
// 6×16 tile of C lives in twelve SIMD8 registers for the whole k loop. Block sizes keep one B micro-panel
// (KC×NR×4 ≤ 24 KiB) in L1 and the packed A block (MC×KC×4 ≤ 180 KiB) in L2. k is cut into equal blocks of at
// most KC, so a convolution's k of 288 is one pass rather than 256 and a thin, slow 32.
// `sgemmReference` is the plain triple loop, kept as the definition and as the oracle for the tests.

private let MR = 6
private let NR = 16
private let KC = 384
private let MC = 120
private let NC = 1024

/// Reference SGEMM: a triple loop, accumulating in Double.
public func sgemmReference(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    for i in 0..<m {
        for j in 0..<n {
            var sum: Double = 0
            for p in 0..<k {
                let aip = transposeA ? a[p * lda + i] : a[i * lda + p]
                let bpj = transposeB ? b[j * ldb + p] : b[p * ldb + j]
                sum += Double(aip) * Double(bpj)
            }
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + Float(sum) : Float(sum)
        }
    }
}

/// Fast SGEMM with the same contract as `sgemmReference`.
public func sgemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    guard m > 0, n > 0 else { return }
    guard k > 0 else {
        if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    let packedA = UnsafeMutableRawPointer.allocate(byteCount: MC * KC * 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: MC * KC)
    let packedB = UnsafeMutableRawPointer.allocate(byteCount: KC * NC * 4, alignment: 64)
        .bindMemory(to: Float.self, capacity: KC * NC)
    defer { packedA.deallocate(); packedB.deallocate() }

    for jc in stride(from: 0, to: n, by: NC) {
        let nc = min(NC, n - jc)
        let kBlock = (k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC)
        for pc in stride(from: 0, to: k, by: kBlock) {
            let kc = min(kBlock, k - pc)
            packPanels(of: b, transposed: transposeB, ld: ldb, outer: jc, outerCount: nc, inner: pc,
                       innerCount: kc, panelWidth: NR, isB: true, into: packedB)
            // Only the first k block may overwrite C; later blocks add their share.
            let accumulateBlock = accumulate || pc > 0
            for ic in stride(from: 0, to: m, by: MC) {
                let mc = min(MC, m - ic)
                packPanels(of: a, transposed: transposeA, ld: lda, outer: ic, outerCount: mc, inner: pc,
                           innerCount: kc, panelWidth: MR, isB: false, into: packedA)
                for jr in stride(from: 0, to: nc, by: NR) {
                    for ir in stride(from: 0, to: mc, by: MR) {
                        microKernel6x16(
                            kc: kc, a: packedA + ir * kc, b: packedB + jr * kc,
                            c: c + (ic + ir) * ldc + jc + jr, ldc: ldc,
                            rows: min(MR, mc - ir), columns: min(NR, nc - jr), accumulate: accumulateBlock)
                    }
                }
            }
        }
    }
}

/// Packs a block of op(A) rows [outer, outer+outerCount) or of op(B) columns, times k range
/// [inner, inner+innerCount), into panels `panelWidth` wide: panel q holds, for each p, its `panelWidth`
/// values contiguously. Edges are padded with zeros so the micro-kernel always computes whole tiles.
@inline(__always)
private func packPanels(
    of source: UnsafePointer<Float>, transposed: Bool, ld: Int, outer: Int, outerCount: Int,
    inner: Int, innerCount: Int, panelWidth: Int, isB: Bool, into destination: UnsafeMutablePointer<Float>
) {
    // For A, element (row i, depth p) sits at i*ld + p unless transposed; for B, (depth p, column j) sits at
    // p*ld + j unless transposed. `outerStride`/`innerStride` express both.
    let outerIsContiguous = isB != transposed
    let outerStride = outerIsContiguous ? 1 : ld
    let innerStride = outerIsContiguous ? ld : 1
    var out = destination
    for panelStart in stride(from: 0, to: outerCount, by: panelWidth) {
        let width = min(panelWidth, outerCount - panelStart)
        let base = source + (outer + panelStart) * outerStride + inner * innerStride
        for p in 0..<innerCount {
            let column = base + p * innerStride
            if outerStride == 1 {
                copy(column, to: out, count: width)
            } else {
                for r in 0..<width { out[r] = column[r * outerStride] }
            }
            if width < panelWidth { fill(out + width, count: panelWidth - width, with: 0) }
            out += panelWidth
        }
    }
}

/// C[rows×columns] (+)= Apanel[6×kc] · Bpanel[kc×16]; both panels packed, B 64-byte aligned.
@inline(__always)
private func microKernel6x16(
    kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
    rows: Int, columns: Int, accumulate: Bool
) {
    typealias V = SIMD8<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    let bBytes = UnsafeRawPointer(b)
    var a = a
    for p in 0..<kc {
        let b0 = bBytes.load(fromByteOffset: p * 64, as: V.self)
        let b1 = bBytes.load(fromByteOffset: p * 64 + 32, as: V.self)
        var ai = V(repeating: a[0])
        c00 = c00.addingProduct(ai, b0); c01 = c01.addingProduct(ai, b1)
        ai = V(repeating: a[1])
        c10 = c10.addingProduct(ai, b0); c11 = c11.addingProduct(ai, b1)
        ai = V(repeating: a[2])
        c20 = c20.addingProduct(ai, b0); c21 = c21.addingProduct(ai, b1)
        ai = V(repeating: a[3])
        c30 = c30.addingProduct(ai, b0); c31 = c31.addingProduct(ai, b1)
        ai = V(repeating: a[4])
        c40 = c40.addingProduct(ai, b0); c41 = c41.addingProduct(ai, b1)
        ai = V(repeating: a[5])
        c50 = c50.addingProduct(ai, b0); c51 = c51.addingProduct(ai, b1)
        a += MR
    }

    @inline(__always)
    func store(_ row: Int, _ low: V, _ high: V, into target: UnsafeMutablePointer<Float>, ld: Int, add: Bool) {
        let p = UnsafeMutableRawPointer(target + row * ld)
        var low = low, high = high
        if add {
            low += p.loadUnaligned(as: V.self)
            high += p.loadUnaligned(fromByteOffset: 32, as: V.self)
        }
        p.storeBytes(of: low, as: V.self)
        p.storeBytes(of: high, toByteOffset: 32, as: V.self)
    }

    if rows == MR && columns == NR {
        store(0, c00, c01, into: c, ld: ldc, add: accumulate)
        store(1, c10, c11, into: c, ld: ldc, add: accumulate)
        store(2, c20, c21, into: c, ld: ldc, add: accumulate)
        store(3, c30, c31, into: c, ld: ldc, add: accumulate)
        store(4, c40, c41, into: c, ld: ldc, add: accumulate)
        store(5, c50, c51, into: c, ld: ldc, add: accumulate)
        return
    }
    // Edge tile: spill the whole tile, then copy the part that exists.
    withUnsafeTemporaryAllocation(of: Float.self, capacity: MR * NR) { tile in
        let t = tile.baseAddress!
        store(0, c00, c01, into: t, ld: NR, add: false)
        store(1, c10, c11, into: t, ld: NR, add: false)
        store(2, c20, c21, into: t, ld: NR, add: false)
        store(3, c30, c31, into: t, ld: NR, add: false)
        store(4, c40, c41, into: t, ld: NR, add: false)
        store(5, c50, c51, into: t, ld: NR, add: false)
        for r in 0..<rows {
            let target = c + r * ldc
            for j in 0..<columns {
                target[j] = accumulate ? target[j] + t[r * NR + j] : t[r * NR + j]
            }
        }
    }
}
