import CKernels
// SGEMM, row-major: C[m×n] = op(A)[m×k] · op(B)[k×n]  (+ C when `accumulate`).
// op(A) is A [m, k] or, with transposeA, Aᵀ where A is [k, m]; likewise op(B) is B [k, n] or Bᵀ with B [n, k].
// Training needs three forms: A·B (forward), A·Bᵀ (input gradients), Aᵀ·B (weight gradients).
//
// `sgemm` follows the Goto/BLIS scheme for B: op(B) is packed into column panels NR wide, contiguous along k,
// and one tile of C lives in registers for the whole k loop: 6×16 in twelve 256-bit ones, or with AVX-512 8×32
// in sixteen 512-bit ones, two panels at a time. A is not
// packed: the micro-kernel broadcasts its values per depth straight from A, one pointer a row walking k (unit
// stride for A, lda for Aᵀ); a convolution hands it pointers into the image instead (`convolve`). For a few rows
// of A (`fewRows`), an untransposed B's whole panels are read in place instead of packed.
// Packing A would cost a pass over it that, with these layers' narrow C (10 to 64 columns at most shapes), only
// a few B panels would share; reading A in place measured faster on those shapes and no slower on wide ones
// (`mnist-train bench gemm`; figures in deploy/benchmarks/README.md). Block sizes keep one B micro-panel
// (KC×NR×4 ≤ 24 KiB) in L1 and the A rows of an MC block (MC×KC×4 ≤ 180 KiB) in L2 across the B panels. k is
// cut into equal blocks of at most KC, so a convolution's k of 288 is one pass rather than 256 and a thin, slow 32.
// `sgemmReference` is the plain triple loop, kept as the definition and as the oracle for the tests.

private let MR = 6
let NR = 16
let KC = 384
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
    // For a few rows of A, a transposed B is the costly operand: packing it moves n·k values for the m·n·k
    // products (a dense layer's input gradient, dz·Wᵀ, packed all of W each pass). The product the other way
    // round, Cᵀ = B·op(A)ᵀ, reads B's rows in place and packs op(A) instead.
    if transposeB && m <= fewRows && n > fewRows {
        return multiplyTransposed(transposeA: transposeA, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
                                  accumulate: accumulate)
    }
    let kBlock = (k + (k + KC - 1) / KC - 1) / ((k + KC - 1) / KC)
    // Read once: the choice of B in place and the kernels that read it must agree.
    let isa = KernelISA.active
    // For a few rows of A, whole panels of an untransposed B are read in place: packing would cost as much as
    // the product. For many, packing pays: its panels are aligned and stay in L1. In place, only a column
    // block's last, partial panel is packed.
    let readsInPlace = !transposeB && m <= fewRows && isa.readsBInPlace
    let packedB = PackedPanels(depths: kBlock, columns: readsInPlace ? NR : min(n, NC))
    defer { packedB.deallocate() }
    // Element (row i, depth p) of op(A) sits at i·aRowStride + p·aDepthStride.
    let aRowStride = transposeA ? 1 : lda, aDepthStride = transposeA ? lda : 1
    var wholeRow = 0
    withRowTable { rows in
        for jc in stride(from: 0, to: n, by: NC) {
            let nc = min(NC, n - jc)
            for pc in stride(from: 0, to: k, by: kBlock) {
                let kc = min(kBlock, k - pc)
                let inPlace = readsInPlace ? nc / NR * NR : 0
                if nc > inPlace {
                    packPanels(of: b, transposed: transposeB, ld: ldb, columns: jc + inPlace,
                               columnCount: nc - inPlace, depths: pc, depthCount: kc, into: packedB.values)
                }
                for ic in stride(from: 0, to: m, by: MC) {
                    let mc = min(MC, m - ic)
                    for i in 0..<mc { rows[i] = a + (ic + i) * aRowStride + pc * aDepthStride }
                    // Only the first k block may overwrite C; later blocks add their share.
                    if inPlace > 0 {
                        multiplyRowBlock(isa: isa, rows: rows, rowCount: mc, depthStride: aDepthStride,
                                         segmentStarts: &wholeRow, segments: 1, segmentLength: kc,
                                         panels: .inPlace(b + pc * ldb + jc, ld: ldb), columns: inPlace,
                                         c: c + ic * ldc + jc, ldc: ldc, accumulate: accumulate || pc > 0)
                    }
                    if nc > inPlace {
                        multiplyRowBlock(isa: isa, rows: rows, rowCount: mc, depthStride: aDepthStride,
                                         segmentStarts: &wholeRow, segments: 1, segmentLength: kc,
                                         panels: .packed(packedB.values, depths: kc),
                                         columns: nc - inPlace, c: c + ic * ldc + jc + inPlace, ldc: ldc,
                                         accumulate: accumulate || pc > 0)
                    }
                }
            }
        }
    }
}

/// C (+)= op(A)·Bᵀ as Cᵀ (+)= B·op(A)ᵀ in scratch, transposed into C afterwards; a C to add to is transposed
/// into the scratch first, so that each element's products join the same chain of FMAs in the same order: the
/// same bits as the direct product.
private func multiplyTransposed(
    transposeA: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
) {
    let transposedC = ScratchBuffers.ofThisThread.lend(floats: n * m)
    defer { ScratchBuffers.ofThisThread.giveBack(transposedC) }
    if accumulate { transpose(c, rows: m, columns: n, ld: ldc, into: transposedC, ld: m) }
    sgemm(transposeA: false, transposeB: !transposeA, m: n, n: m, k: k, a: b, lda: ldb, b: a, ldb: lda,
          c: transposedC, ldc: m, accumulate: accumulate)
    transpose(transposedC, rows: n, columns: m, ld: m, into: c, ld: ldc)
}

/// The `rows` x `columns` matrix at `source` (rows `ld` apart) as its transpose at `target` (rows `targetLD`
/// apart): 8×8 blocks through registers, the edges value by value.
func transpose(_ source: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int,
               into target: UnsafeMutablePointer<Float>, ld targetLD: Int) {
    let wholeRows = rows / 8 * 8, wholeColumns = columns / 8 * 8
    for i in stride(from: 0, to: wholeRows, by: 8) {
        for j in stride(from: 0, to: wholeColumns, by: 8) {
            transpose8x8({ UnsafeRawPointer(source + (i + $0) * ld + j).loadUnaligned(as: SIMD8<Float>.self) },
                         { UnsafeMutableRawPointer(target + (j + $0) * targetLD + i).storeBytes(of: $1, as: SIMD8<Float>.self) })
        }
        for j in wholeColumns..<columns {
            for r in i..<i + 8 { target[j * targetLD + r] = source[r * ld + j] }
        }
    }
    for r in wholeRows..<rows {
        for j in 0..<columns { target[j * targetLD + r] = source[r * ld + j] }
    }
}

/// op(B) packed for the micro-kernels, one block of depths and columns at a time, in this thread's scratch.
struct PackedPanels {
    let values: UnsafeMutablePointer<Float>

    init(depths: Int, columns: Int) {
        values = ScratchBuffers.ofThisThread.lend(floats: depths * ((columns + NR - 1) / NR * NR))
    }

    func deallocate() { ScratchBuffers.ofThisThread.giveBack(values) }
}

/// Lends a table for the start of every row of an MC block of op(A).
@inline(__always)
func withRowTable(_ body: (UnsafeMutablePointer<UnsafePointer<Float>>) -> Void) {
    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>.self, capacity: MC) { body($0.baseAddress!) }
}

/// The same, with room for `segments` segment starts beside it: the convolutions' scratch, off the heap.
func withRowTable(segments: Int, _ body: (UnsafeMutablePointer<UnsafePointer<Float>>, UnsafeMutablePointer<Int>) -> Void) {
    withRowTable { rows in
        withUnsafeTemporaryAllocation(of: Int.self, capacity: segments) { body(rows, $0.baseAddress!) }
    }
}

/// Rows of op(A) per block: one block's rows stay in L2 while every B panel of the depth block passes over them.
let MC = 120

/// At most this many rows of A (a dense layer's pass of samples), B is read in place rather than packed
/// (`mnist-train bench gemm --model lenet5`: dense forward 77-88 -> 90-107 GFLOP/s at 32 rows, while convolutions
/// of thousands of rows ran 10% slower from an unaligned B in place).
let fewRows = 64

/// C[rowCount × columns] (+)= A · B for one block of rows, A's row i read in place from rows[i] (see
/// ckernels.h for the segments), B in panels NR wide, tile by tile with the active ISA's micro-kernel. An
/// `epilogue` (bias, then ReLU if asked) is applied as the tiles are stored: only the AVX-512 tile does that
/// (`fusesEpilogue`).
@inline(__always)
func multiplyRowBlock(
    isa: KernelISA, rows: UnsafePointer<UnsafePointer<Float>>, rowCount: Int, depthStride: Int,
    segmentStarts: UnsafePointer<Int>, segments: Int, segmentLength: Int, panels: BPanels, columns: Int,
    c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, epilogue: TileEpilogue? = nil
) {
    // A check -Ounchecked keeps.
    if epilogue != nil && !fusesEpilogue(isa: isa, columns: columns) { fatalError("this tile applies no epilogue") }
    // A C of 8 columns or fewer (a first layer's 6 filters) takes an 8x8 tile on x86: twice the useful lanes.
    let narrow = isa != .portable && columns <= 8
    let tileRows = narrow ? 8 : isa.tileRows, tileColumns = isa.tileColumns
    let (depthStrideB, panelStride) = (panels.depthStride, panels.panelStride)
    for jr in stride(from: 0, to: columns, by: tileColumns) {
        let panel = panels.start + jr / NR * panelStride, width = Int32(min(tileColumns, columns - jr))
        for ir in stride(from: 0, to: rowCount, by: tileRows) {
            let height = min(tileRows, rowCount - ir), tile = c + ir * ldc + jr
            switch isa {
            case _ where narrow:
                ckernels_tile_8x8_avx2(rows + ir, Int32(height), depthStride, segments, segmentStarts, segmentLength,
                                       panel, depthStrideB, panelStride, tile, ldc, width, accumulate)
            case .avx512:
                ckernels_tile_8x32_avx512(rows + ir, Int32(height), depthStride, segments, segmentStarts,
                                          segmentLength, panel, depthStrideB, panelStride, tile, ldc, width, accumulate,
                                          epilogue?.bias.map { $0 + jr }, epilogue?.relu ?? false)
            case .avx2:
                ckernels_tile_6x16_avx2(rows + ir, Int32(height), depthStride, segments, segmentStarts, segmentLength,
                                        panel, depthStrideB, panelStride, tile, ldc, width, accumulate)
            case .portable:
                // A check -Ounchecked keeps: the portable kernel walks B 16 values a depth.
                if depthStrideB != NR { fatalError("the portable kernel reads packed panels only") }
                portableTile6x16(rows: rows + ir, rowCount: height, depthStride: depthStride,
                                 segmentStarts: segmentStarts, segments: segments, segmentLength: segmentLength,
                                 b: panel, c: tile, ldc: ldc, columns: Int(width), accumulate: accumulate)
            }
        }
    }
}

/// What a tile adds as it stores: the bias of its columns, then ReLU. The same arithmetic as addBiasAndActivate.
struct TileEpilogue {
    let bias: UnsafePointer<Float>?
    let relu: Bool
}

/// Whether the tiles `multiplyRowBlock` picks for `columns` apply an epilogue: the AVX-512 tile, not the narrow one.
func fusesEpilogue(isa: KernelISA, columns: Int) -> Bool { isa == .avx512 && columns > 8 }

/// Where B's 16-column panels are: packed (16 values a depth, panels one after another), or read in place from
/// an untransposed B whose rows are whole panels (depth d's values a row of B apart, panels 16 columns apart).
struct BPanels {
    let start: UnsafePointer<Float>
    let depthStride: Int, panelStride: Int

    static func packed(_ values: UnsafePointer<Float>, depths: Int) -> BPanels {
        BPanels(start: values, depthStride: NR, panelStride: NR * depths)
    }

    static func inPlace(_ b: UnsafePointer<Float>, ld: Int) -> BPanels {
        BPanels(start: b, depthStride: ld, panelStride: NR)
    }
}

/// Packs op(B)'s columns [columns, columns+columnCount) over depths [depths, depths+depthCount) into panels NR
/// wide: panel q holds, for each depth, its NR values contiguously. Edges are padded with zeros so the
/// micro-kernel always computes whole tiles.
@inline(__always)
func packPanels(
    of b: UnsafePointer<Float>, transposed: Bool, ld: Int, columns: Int, columnCount: Int, depths: Int,
    depthCount: Int, into destination: UnsafeMutablePointer<Float>
) {
    // Element (depth p, column j) sits at p·ld + j, or at j·ld + p when transposed.
    let columnStride = transposed ? ld : 1, depthStride = transposed ? 1 : ld
    var out = destination
    for panelStart in stride(from: 0, to: columnCount, by: NR) {
        let width = min(NR, columnCount - panelStart)
        let base = b + (columns + panelStart) * columnStride + depths * depthStride
        var p = 0
        if transposed && width == NR {
            // The panel's columns run along k: transpose 8×8 tiles in registers instead of gathering scalars.
            while p + 8 <= depthCount {
                packTransposedTile(columns: base + p, ld: ld, into: out)
                out += 8 * NR
                p += 8
            }
        }
        while p < depthCount {
            let row = base + p * depthStride
            if transposed {
                for j in 0..<width { out[j] = row[j * columnStride] }
            } else {
                copy(row, to: out, count: width)
            }
            if width < NR { fill(out + width, count: NR - width, with: 0) }
            out += NR
            p += 1
        }
    }
}

/// Packs eight depths of NR columns (column j at columns + j·ld, contiguous along depth) as eight panel rows,
/// eight columns at a time through an 8×8 register transpose.
@inline(__always)
private func packTransposedTile(columns: UnsafePointer<Float>, ld: Int, into out: UnsafeMutablePointer<Float>) {
    for group in stride(from: 0, to: NR, by: 8) {
        transpose8x8({ UnsafeRawPointer(columns + (group + $0) * ld).loadUnaligned(as: SIMD8<Float>.self) },
                     { UnsafeMutableRawPointer(out + $0 * NR + group).storeBytes(of: $1, as: SIMD8<Float>.self) })
    }
}

/// The 8×8 transpose in registers of the vectors `load(0..<8)`: `store(d, v)` gets the vector of their lanes d.
@inline(__always)
func transpose8x8(_ load: (Int) -> SIMD8<Float>, _ store: (Int, SIMD8<Float>) -> Void) {
    typealias V = SIMD8<Float>
    @inline(__always) func unzip(_ x: inout V, _ y: inout V) {
        (x, y) = (V(lowHalf: x.evenHalf, highHalf: y.evenHalf), V(lowHalf: x.oddHalf, highHalf: y.oddHalf))
    }
    var v0 = load(0), v1 = load(1), v2 = load(2), v3 = load(3), v4 = load(4), v5 = load(5), v6 = load(6), v7 = load(7)
    // Each round moves one bit of the lane index into the vector index; after three, vector d holds lanes d.
    unzip(&v0, &v1); unzip(&v2, &v3); unzip(&v4, &v5); unzip(&v6, &v7)
    unzip(&v0, &v2); unzip(&v1, &v3); unzip(&v4, &v6); unzip(&v5, &v7)
    unzip(&v0, &v4); unzip(&v1, &v5); unzip(&v2, &v6); unzip(&v3, &v7)
    store(0, v0); store(1, v1); store(2, v2); store(3, v3); store(4, v4); store(5, v5); store(6, v6); store(7, v7)
}

/// The 6×16 tile of `multiplyRowBlock` in Swift SIMD types: the micro-kernel of CPUs without a C kernel. B is
/// always packed for it (aligned, 16 values a depth): with B's strides as variables, the compiler spilled its
/// accumulators at every depth step and it ran at half the speed.
@inline(__always)
private func portableTile6x16(
    rows: UnsafePointer<UnsafePointer<Float>>, rowCount: Int, depthStride: Int, segmentStarts: UnsafePointer<Int>,
    segments: Int, segmentLength: Int, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
    columns: Int, accumulate: Bool
) {
    typealias V = SIMD8<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    // Rows past the edge read the last real row again; their results are never stored.
    let last = rowCount - 1
    let r0 = rows[0], r1 = rows[min(1, last)], r2 = rows[min(2, last)], r3 = rows[min(3, last)]
    let r4 = rows[min(4, last)], r5 = rows[min(5, last)]
    var bBytes = UnsafeRawPointer(b)
    for s in 0..<segments {
        let start = segmentStarts[s]
        var a0 = r0 + start, a1 = r1 + start, a2 = r2 + start, a3 = r3 + start, a4 = r4 + start, a5 = r5 + start
        for _ in 0..<segmentLength {
            let b0 = bBytes.load(as: V.self)
            let b1 = bBytes.load(fromByteOffset: 32, as: V.self)
            var ai = V(repeating: a0.pointee)
            c00 = c00.addingProduct(ai, b0); c01 = c01.addingProduct(ai, b1)
            ai = V(repeating: a1.pointee)
            c10 = c10.addingProduct(ai, b0); c11 = c11.addingProduct(ai, b1)
            ai = V(repeating: a2.pointee)
            c20 = c20.addingProduct(ai, b0); c21 = c21.addingProduct(ai, b1)
            ai = V(repeating: a3.pointee)
            c30 = c30.addingProduct(ai, b0); c31 = c31.addingProduct(ai, b1)
            ai = V(repeating: a4.pointee)
            c40 = c40.addingProduct(ai, b0); c41 = c41.addingProduct(ai, b1)
            ai = V(repeating: a5.pointee)
            c50 = c50.addingProduct(ai, b0); c51 = c51.addingProduct(ai, b1)
            a0 += depthStride; a1 += depthStride; a2 += depthStride
            a3 += depthStride; a4 += depthStride; a5 += depthStride
            bBytes += 64
        }
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

    if rowCount == MR && columns == NR {
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
        for r in 0..<rowCount {
            let target = c + r * ldc
            for j in 0..<columns {
                target[j] = accumulate ? target[j] + t[r * NR + j] : t[r * NR + j]
            }
        }
    }
}
