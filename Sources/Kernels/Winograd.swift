// Winograd's minimal filtering (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016) for
// stride-1 convolutions, the forward pass and both gradients: F(4×4, 3×3) for 3×3 kernels and F(2×2, 5×5) for
// 5×5 ones, both on the points 0, ±1, ±2 and ∞ (6×6 tiles).
//
// Each m×m block of outputs comes from a t×t tile of the input (t = m + r - 1). In the transformed space the
// tile's t² points are independent: point p of the output is Σ_c V[p][tile, c] · U[p][c, o], one GEMM per point
// over the tiles, with t² multiplications per tile, channel and filter instead of the direct m²r² (4x fewer for
// F(4×4, 3×3), 2.78x for F(2×2, 5×5)). Y = Aᵀ (U ⊙ V) A, U = G g Gᵀ, V = Bᵀ d B. The gradients run the same
// algorithm backwards, as its adjoint: dM = A dY Aᵀ; dU[p] = V[p]ᵀ · dM[p] and dg = Gᵀ dU G; dV[p] = dM[p] ·
// U[p]ᵀ and dd = B dV Bᵀ, added over the overlapping tiles. Every GEMM runs on the micro-kernels of
// `multiplyRowBlock`, so every ISA gives the same bits. The transforms round: results differ from the direct sums
// by a few ulps of the terms' size (the tests state the bound). F(2×2, 3×3), with 4×4 tiles, measured slower:
// its transforms cost as much per tile while each tile gives a quarter of the outputs.
//
// Tiles go through in blocks small enough that a block's transformed values stay in L2 between the transforms
// and the GEMMs. Tiles that hang over the input's edge (padding, or an output not a multiple of m) read zeros
// there and add no gradient there, so the input is read and the input gradient written in place. V is not kept
// from the forward pass: recomputed block by block in backward, it is read from cache instead of memory.

private typealias Lanes = SIMD8<Float>

/// Whether the Winograd kernels serve this convolution: stride 1, a 3×3 or 5×5 kernel, channels and filters in
/// whole 16-lane panels, and few enough tiles hanging over the output's edge that the cut in multiplications
/// holds (below 0.6 of the direct count, counting the wasted outputs of edge tiles).
public func winogradApplies(_ g: WindowGeometry, filters: Int) -> Bool {
    guard g.strideHeight == 1, g.strideWidth == 1, g.windowHeight == g.windowWidth,
          g.windowHeight == 3 || g.windowHeight == 5,
          g.channels % NR == 0, filters % NR == 0, g.outputHeight > 0, g.outputWidth > 0 else { return false }
    let r = g.windowHeight, m = transforms(g).outputsPerTile, t = m + r - 1
    let tiles = (g.outputHeight + m - 1) / m * ((g.outputWidth + m - 1) / m)
    return Double(tiles * t * t) < 0.6 * Double(g.outputHeight * g.outputWidth * r * r)
}

/// Tiles the Winograd kernels cover the output with.
public func winogradTileCount(_ g: WindowGeometry) -> Int {
    let m = transforms(g).outputsPerTile
    return g.batch * ((g.outputHeight + m - 1) / m) * ((g.outputWidth + m - 1) / m)
}

/// Values of a convolution's kernel in the transformed space, U or Uᵀ: t² · channels · filters.
public func winogradKernelCount(_ g: WindowGeometry, filters: Int) -> Int {
    let t = transforms(g).outputsPerTile + g.windowHeight - 1
    return t * t * g.channels * filters
}

/// The kernel in the transformed space as the GEMMs read it: U for the forward pass, then Uᵀ for the input
/// gradient, 2 · winogradKernelCount values. Layers keep it while the kernel is unchanged (a step's passes).
/// `channels` (bounds in multiples of 8) picks the input channels whose values are written,
/// so that threads can share the work: each writes values of its own.
public func transformKernelWinograd(_ kernel: UnsafePointer<Float>, _ g: WindowGeometry, filters: Int,
                                    channels: Range<Int>? = nil, into transformed: UnsafeMutablePointer<Float>) {
    let channels = channels ?? 0..<g.channels
    precondition(channels.lowerBound % Lanes.scalarCount == 0 && channels.upperBound % Lanes.scalarCount == 0
                     && channels.upperBound <= g.channels,
                 "transformKernelWinograd: channels \(channels) of \(g.channels), not in whole blocks of 8")
    switch transforms(g) {
    case .f4x3: WinogradConvolution<F4x3>(g, filters: filters).transformKernel(kernel, channels: channels, into: transformed)
    case .f2x5: WinogradConvolution<F2x5>(g, filters: filters).transformKernel(kernel, channels: channels, into: transformed)
    }
}

/// `convolve` by Winograd, where `winogradApplies`, from `transformKernelWinograd`'s values:
/// output[n, oh, ow, o] = activation(bias[o] + Σ input · kernel), every output written.
public func convolveWinograd(_ input: UnsafePointer<Float>, _ g: WindowGeometry,
                             transformedKernel: UnsafePointer<Float>, filters: Int, bias: UnsafePointer<Float>? = nil,
                             activation: Activation = .linear, into output: UnsafeMutablePointer<Float>) {
    switch transforms(g) {
    case .f4x3: WinogradConvolution<F4x3>(g, filters: filters).forward(
        input, transformedKernel: transformedKernel, bias: bias, activation: activation, into: output)
    case .f2x5: WinogradConvolution<F2x5>(g, filters: filters).forward(
        input, transformedKernel: transformedKernel, bias: bias, activation: activation, into: output)
    }
}

/// The gradients of `convolveWinograd` before its bias and activation, from the gradient of its output `dz`:
/// the kernel's in the transformed space, added into `transformedKernelGradient` (winogradKernelCount values,
/// summed over a step's passes and brought back by `addWinogradKernelGradient`), and the input's into
/// `inputGradient` when given (overwritten).
public func convolutionGradientsWinograd(_ input: UnsafePointer<Float>, _ g: WindowGeometry,
                                         outputGradient dz: UnsafePointer<Float>,
                                         transformedKernel: UnsafePointer<Float>, filters: Int,
                                         transformedKernelGradient: UnsafeMutablePointer<Float>,
                                         inputGradient: UnsafeMutablePointer<Float>?) {
    switch transforms(g) {
    case .f4x3: WinogradConvolution<F4x3>(g, filters: filters).backward(
        input, outputGradient: dz, transformedKernel: transformedKernel,
        transformedKernelGradient: transformedKernelGradient, inputGradient: inputGradient)
    case .f2x5: WinogradConvolution<F2x5>(g, filters: filters).backward(
        input, outputGradient: dz, transformedKernel: transformedKernel,
        transformedKernelGradient: transformedKernelGradient, inputGradient: inputGradient)
    }
}

/// kernelGradient += Gᵀ dU G: a kernel gradient from the transformed space.
public func addWinogradKernelGradient(_ transformedKernelGradient: UnsafePointer<Float>, _ g: WindowGeometry,
                                      filters: Int, into kernelGradient: UnsafeMutablePointer<Float>) {
    switch transforms(g) {
    case .f4x3: WinogradConvolution<F4x3>(g, filters: filters).addKernelGradient(transformedKernelGradient,
                                                                                into: kernelGradient)
    case .f2x5: WinogradConvolution<F2x5>(g, filters: filters).addKernelGradient(transformedKernelGradient,
                                                                                into: kernelGradient)
    }
}

/// The transforms for the kernel size: each public function switches on it to run code specialised for them.
private enum Transforms {
    case f4x3, f2x5

    var outputsPerTile: Int {
        switch self {
        case .f4x3: F4x3.m
        case .f2x5: F2x5.m
        }
    }
}

private func transforms(_ g: WindowGeometry) -> Transforms {
    switch g.windowHeight {
    case 3: .f4x3
    case 5: .f2x5
    default: fatalError("Winograd: no transforms for \(g.windowHeight)x\(g.windowWidth) kernels")
    }
}

/// One convolution's tiles and the three steps over them. Layouts, for a block of `count` tiles:
/// V [point][tile][channel] (the forward GEMM's A, and transposed the weight gradient's), M [point][tile][filter],
/// dM [point][filter panel][tile][16] (the weight gradient's packed B, and in 16-depth segments the input
/// gradient's A), U [point][filter panel][channel][16] and Uᵀ [point][channel panel][filter][16] (packed B).
private struct WinogradConvolution<W: WinogradTransform> {
    let g: WindowGeometry
    let filters: Int
    let tileRows: Int, tileColumns: Int, tiles: Int
    /// Tiles per block: the block's transformed inputs and products (t²·(channels + filters) values a tile) take
    /// about 512 KiB, half of a Zen 4 core's L2, and a block's rows fit one row table.
    let block: Int
    static var points: Int { W.t * W.t }

    init(_ g: WindowGeometry, filters: Int) {
        self.g = g
        self.filters = filters
        (tileRows, tileColumns) = ((g.outputHeight + W.m - 1) / W.m, (g.outputWidth + W.m - 1) / W.m)
        tiles = g.batch * tileRows * tileColumns
        let bytesPerTile = Self.points * (g.channels + filters) * MemoryLayout<Float>.size
        block = max(8, min(MC, (512 << 10) / bytesPerTile))
    }

    /// Where tile `index`'s t×t input patch starts in its sample (row and column, negative in the top or left
    /// padding), and which of its rows and columns lie inside the input: the others read as zeros.
    @inline(__always)
    func patch(ofTile index: Int) -> (sample: Int, top: Int, left: Int, rows: Range<Int>, columns: Range<Int>) {
        let (n, row, column) = corner(ofTile: index)
        let top = row - g.padTop, left = column - g.padLeft
        return (n, top, left, max(0, -top)..<min(W.t, g.inputHeight - top),
                max(0, -left)..<min(W.t, g.inputWidth - left))
    }

    /// Sample, and output row and column of the top left output, of tile `index`.
    @inline(__always)
    func corner(ofTile index: Int) -> (n: Int, row: Int, column: Int) {
        let (n, place) = index.quotientAndRemainder(dividingBy: tileRows * tileColumns)
        let (y, x) = place.quotientAndRemainder(dividingBy: tileColumns)
        return (n, W.m * y, W.m * x)
    }

    func forward(_ input: UnsafePointer<Float>, transformedKernel u: UnsafePointer<Float>,
                 bias: UnsafePointer<Float>?, activation: Activation, into output: UnsafeMutablePointer<Float>) {
        let c = g.channels, points = Self.points, isa = KernelISA.active
        let scratch = ScratchBuffers.ofThisThread
        let v = scratch.lend(floats: points * block * c), m = scratch.lend(floats: points * block * filters)
        defer { scratch.giveBack(m); scratch.giveBack(v) }
        var wholeRow = 0
        withRowTable { rows in
            for first in stride(from: 0, to: tiles, by: block) {
                let count = min(block, tiles - first)
                transformInputs(input, first: first, count: count, into: v)
                for point in 0..<points {
                    let vPoint = v + point * count * c
                    for i in 0..<count { rows[i] = UnsafePointer(vPoint + i * c) }
                    multiplyRowBlock(isa: isa, rows: rows, rowCount: count, depthStride: 1, segmentStarts: &wholeRow,
                                     segments: 1, segmentLength: c, panels: .packed(u + point * c * filters, depths: c),
                                     columns: filters, c: m + point * count * filters, ldc: filters, accumulate: false)
                }
                transformOutputs(m, first: first, count: count, bias: bias, activation: activation, into: output)
            }
        }
        if activation != .relu && activation != .linear {
            activation.forward(output, rows: g.outputPixels, columns: filters)
        }
    }

    func backward(_ input: UnsafePointer<Float>, outputGradient dz: UnsafePointer<Float>,
                  transformedKernel: UnsafePointer<Float>, transformedKernelGradient du: UnsafeMutablePointer<Float>,
                  inputGradient: UnsafeMutablePointer<Float>?) {
        let c = g.channels, points = Self.points, isa = KernelISA.active
        let scratch = ScratchBuffers.ofThisThread
        let ut = transformedKernel + points * c * filters
        // Tiles add their shares of the input gradient.
        inputGradient?.update(repeating: 0, count: g.batch * g.inputSize)
        let v = scratch.lend(floats: points * block * c), dm = scratch.lend(floats: points * block * filters)
        defer { scratch.giveBack(dm); scratch.giveBack(v) }
        var wholeRow = 0
        withRowTable(segments: filters / NR) { rows, segmentStarts in
            for first in stride(from: 0, to: tiles, by: block) {
                let count = min(block, tiles - first)
                for s in 0..<filters / NR { segmentStarts[s] = s * count * NR }
                transformOutputGradients(dz, first: first, count: count, into: dm)
                transformInputs(input, first: first, count: count, into: v)
                for point in 0..<points {
                    let vPoint = v + point * count * c, dmPoint = dm + point * count * filters
                    // dU[p] += V[p]ᵀ · dM[p]: V's columns are the rows, its tiles the depth.
                    for firstChannel in stride(from: 0, to: c, by: MC) {
                        let channels = min(MC, c - firstChannel)
                        for i in 0..<channels { rows[i] = UnsafePointer(vPoint + firstChannel + i) }
                        multiplyRowBlock(isa: isa, rows: rows, rowCount: channels, depthStride: c,
                                         segmentStarts: &wholeRow, segments: 1, segmentLength: count,
                                         panels: .packed(dmPoint, depths: count), columns: filters,
                                         c: du + (point * c + firstChannel) * filters, ldc: filters, accumulate: true)
                    }
                    guard inputGradient != nil else { continue }
                    // dV[p] = dM[p] · U[p]ᵀ, into V[p]'s place (read for the last time above): dM's rows run in
                    // segments of one filter panel.
                    for i in 0..<count { rows[i] = UnsafePointer(dmPoint + i * NR) }
                    multiplyRowBlock(isa: isa, rows: rows, rowCount: count, depthStride: 1, segmentStarts: segmentStarts,
                                     segments: filters / NR, segmentLength: NR,
                                     panels: .packed(ut + point * c * filters, depths: filters), columns: c,
                                     c: vPoint, ldc: c, accumulate: false)
                }
                if let inputGradient { addInputGradients(v, first: first, count: count, into: inputGradient) }
            }
        }
    }

    /// V[p][tile, channel] = (Bᵀ d B)[p] for the block's tiles d, eight channels at a time: Bᵀ down the columns
    /// (straight from the input for a tile inside it), then along the rows into V's points.
    private func transformInputs(_ input: UnsafePointer<Float>, first: Int, count: Int,
                                 into v: UnsafeMutablePointer<Float>) {
        let c = g.channels, t = W.t, rowStride = g.inputWidth * c, pointStride = count * c
        withVectorTile(rows: t, columns: t) { tile in
            for index in 0..<count {
                let patch = patch(ofTile: first + index)
                let whole = patch.rows.count == t && patch.columns.count == t
                // Offsets rather than pointers: the patch's corner may lie in the padding, before the input.
                let corner = patch.sample * g.inputSize + patch.top * rowStride + patch.left * c
                for channel in stride(from: 0, to: c, by: Lanes.scalarCount) {
                    if whole {
                        for x in 0..<t {
                            W.input(VectorLine(reading: input + corner + x * c + channel, stride: rowStride),
                                    into: tile.column(x))
                        }
                    } else {
                        for y in 0..<t {
                            for x in 0..<t {
                                let inside = patch.rows.contains(y) && patch.columns.contains(x)
                                tile[y, x] = inside
                                    ? VectorLine(reading: input + corner + y * rowStride + x * c + channel, stride: 0)[0]
                                    : Lanes()
                            }
                        }
                        for x in 0..<t { W.input(tile.column(x), into: tile.column(x)) }
                    }
                    for y in 0..<t {
                        W.input(tile.row(y), into: VectorLine(v + y * t * pointStride + index * c + channel,
                                                              stride: pointStride))
                    }
                }
            }
        }
    }

    /// The block's outputs Aᵀ M A, plus bias, through ReLU when asked, for the part of each m×m inside the output:
    /// Aᵀ down the columns straight from M's points, then along the rows.
    private func transformOutputs(_ m: UnsafePointer<Float>, first: Int, count: Int, bias: UnsafePointer<Float>?,
                                  activation: Activation, into output: UnsafeMutablePointer<Float>) {
        let t = W.t, outputs = W.m, relu = activation == .relu, pointStride = count * filters
        withVectorTile(rows: outputs + 1, columns: t) { tile in
            // Rows 0..<m: Aᵀ M; row m: one row of the result.
            let line = tile.row(outputs)
            for index in 0..<count {
                let (n, row, column) = corner(ofTile: first + index)
                let rows = min(outputs, g.outputHeight - row), columns = min(outputs, g.outputWidth - column)
                let target = output + ((n * g.outputHeight + row) * g.outputWidth + column) * filters
                for o in stride(from: 0, to: filters, by: Lanes.scalarCount) {
                    for x in 0..<t {
                        W.output(VectorLine(reading: m + x * pointStride + index * filters + o, stride: t * pointStride),
                                 into: tile.column(x))
                    }
                    let b = bias.map { VectorLine(reading: $0 + o, stride: 0)[0] } ?? Lanes()
                    for i in 0..<rows {
                        W.output(tile.row(i), into: line)
                        for j in 0..<columns {
                            var value = line[j] + b
                            if relu { value.replace(with: 0, where: value .<= 0) }
                            VectorLine(target + (i * g.outputWidth + j) * filters + o, stride: 0)[0] = value
                        }
                    }
                }
            }
        }
    }

    /// dM[p] = (A dY Aᵀ)[p] for the block's m×m blocks of the output gradient (zeros past the output's edge), in
    /// packed panels of 16 filters: A down the columns, then along the rows into dM's points.
    private func transformOutputGradients(_ dz: UnsafePointer<Float>, first: Int, count: Int,
                                          into dm: UnsafeMutablePointer<Float>) {
        let t = W.t, outputs = W.m, pointStride = count * filters
        withVectorTile(rows: t + outputs, columns: t) { tile in
            // Rows 0..<t: A dY; rows t..<t + m, their first m columns: the block of dY.
            for index in 0..<count {
                let (n, row, column) = corner(ofTile: first + index)
                let rows = min(outputs, g.outputHeight - row), columns = min(outputs, g.outputWidth - column)
                let source = dz + ((n * g.outputHeight + row) * g.outputWidth + column) * filters
                for o in stride(from: 0, to: filters, by: Lanes.scalarCount) {
                    for i in 0..<outputs {
                        for j in 0..<outputs {
                            tile[t + i, j] = i < rows && j < columns
                                ? VectorLine(reading: source + (i * g.outputWidth + j) * filters + o, stride: 0)[0]
                                : Lanes()
                        }
                    }
                    for j in 0..<outputs {
                        W.outputAdjoint(tile.column(j, from: t), into: tile.column(j))
                    }
                    let panelPlace = (o / NR * count + index) * NR + o % NR
                    for y in 0..<t {
                        W.outputAdjoint(tile.row(y), into: VectorLine(dm + y * t * pointStride + panelPlace,
                                                                      stride: pointStride))
                    }
                }
            }
        }
    }

    /// Adds B dV Bᵀ of each tile of the block onto the t × t input pixels it came from (those inside the input):
    /// B down the columns straight from dV's points, then along the rows.
    private func addInputGradients(_ dv: UnsafePointer<Float>, first: Int, count: Int,
                                   into inputGradient: UnsafeMutablePointer<Float>) {
        let c = g.channels, t = W.t, rowStride = g.inputWidth * c, pointStride = count * c
        withVectorTile(rows: t, columns: t) { tile in
            for index in 0..<count {
                let patch = patch(ofTile: first + index)
                let corner = patch.sample * g.inputSize + patch.top * rowStride + patch.left * c
                for channel in stride(from: 0, to: c, by: Lanes.scalarCount) {
                    for x in 0..<t {
                        W.inputAdjoint(VectorLine(reading: dv + x * pointStride + index * c + channel,
                                                  stride: t * pointStride), into: tile.column(x))
                    }
                    for y in 0..<t { W.inputAdjoint(tile.row(y), into: tile.row(y)) }
                    for y in patch.rows {
                        for x in patch.columns {
                            let target = VectorLine(inputGradient + corner + y * rowStride + x * c + channel, stride: 0)
                            target[0] += tile[y, x]
                        }
                    }
                }
            }
        }
    }

    /// U = G g Gᵀ [point][filter panel][channel][16], then Uᵀ [point][channel panel][filter][16], for eight
    /// channels and eight filters at a time; Uᵀ's blocks are U's through 8×8 transposes.
    func transformKernel(_ kernel: UnsafePointer<Float>, channels: Range<Int>, into u: UnsafeMutablePointer<Float>) {
        let c = g.channels, r = W.r, t = W.t, points = Self.points, ut = u + points * c * filters
        let lanes = Lanes.scalarCount
        // Eight channels' G g Gᵀ (rows 8·t: channel i's t×t in rows i·t..<(i+1)·t), then G g (t rows of r) and
        // the taps (r rows of r) of the channel in hand.
        withVectorTile(rows: lanes * t + t + r, columns: t) { tile in
            for firstChannel in stride(from: channels.lowerBound, to: channels.upperBound, by: lanes) {
                for o in stride(from: 0, to: filters, by: lanes) {
                    for i in 0..<lanes {
                        let channel = firstChannel + i, taps = lanes * t + t
                        for tap in 0..<r * r {
                            tile[taps + tap / r, tap % r] =
                                VectorLine(reading: kernel + (tap * c + channel) * filters + o, stride: 0)[0]
                        }
                        for x in 0..<r { W.filter(tile.column(x, from: taps), into: tile.column(x, from: lanes * t)) }
                        for y in 0..<t { W.filter(tile.row(lanes * t + y), into: tile.row(i * t + y)) }
                        for point in 0..<points {
                            VectorLine(u + point * c * filters + (o / NR * c + channel) * NR + o % NR, stride: 0)[0] =
                                tile[i * t + point / t, point % t]
                        }
                    }
                    for point in 0..<points {
                        let target = ut + point * c * filters + firstChannel / NR * filters * NR + firstChannel % NR
                        transpose8x8({ tile[$0 * t + point / t, point % t] },
                                     { VectorLine(target + (o + $0) * NR, stride: 0)[0] = $1 })
                    }
                }
            }
        }
    }

    /// kernelGradient += Gᵀ dU G, dU [point][channel][filter]: Gᵀ down the columns straight from dU's points, then
    /// along the rows.
    func addKernelGradient(_ du: UnsafePointer<Float>, into kernelGradient: UnsafeMutablePointer<Float>) {
        let c = g.channels, r = W.r, t = W.t, pointStride = c * filters
        withVectorTile(rows: 2 * r, columns: t) { tile in
            // Rows 0..<r: Gᵀ dU; rows r..<2r, their first r columns: the taps.
            for channel in 0..<c {
                for o in stride(from: 0, to: filters, by: Lanes.scalarCount) {
                    for x in 0..<t {
                        W.filterAdjoint(VectorLine(reading: du + x * pointStride + channel * filters + o,
                                                   stride: t * pointStride), into: tile.column(x))
                    }
                    for y in 0..<r { W.filterAdjoint(tile.row(y), into: tile.row(r + y)) }
                    for tap in 0..<r * r {
                        let target = VectorLine(kernelGradient + (tap * c + channel) * filters + o, stride: 0)
                        target[0] += tile[r + tap / r, tap % r]
                    }
                }
            }
        }
    }
}

/// Vectors of eight lanes in memory `stride` floats apart, read and written unaligned: a line of a tile on the
/// stack, or one tile's points in the transformed blocks, for the one-dimensional transforms.
private struct VectorLine {
    let start: UnsafeMutablePointer<Float>
    let stride: Int

    init(_ start: UnsafeMutablePointer<Float>, stride: Int) {
        (self.start, self.stride) = (start, stride)
    }

    /// A line only read from.
    init(reading start: UnsafePointer<Float>, stride: Int) {
        (self.start, self.stride) = (UnsafeMutablePointer(mutating: start), stride)
    }

    @inline(__always)
    subscript(i: Int) -> Lanes {
        get { UnsafeRawPointer(start + i * stride).loadUnaligned(as: Lanes.self) }
        nonmutating set { UnsafeMutableRawPointer(start + i * stride).storeBytes(of: newValue, as: Lanes.self) }
    }
}

/// A row-major grid of vectors on the stack, the transforms' scratch.
private struct VectorTile {
    let start: UnsafeMutablePointer<Float>
    let columns: Int
    /// Floats from one row to the next.
    var rowStride: Int { columns * Lanes.scalarCount }

    @inline(__always)
    func row(_ y: Int) -> VectorLine { VectorLine(start + y * rowStride, stride: Lanes.scalarCount) }

    /// Column x from row `first` down.
    @inline(__always)
    func column(_ x: Int, from first: Int = 0) -> VectorLine {
        VectorLine(start + first * rowStride + x * Lanes.scalarCount, stride: rowStride)
    }

    @inline(__always)
    subscript(y: Int, x: Int) -> Lanes {
        get { row(y)[x] }
        nonmutating set { row(y)[x] = newValue }
    }
}

@inline(__always)
private func withVectorTile(rows: Int, columns: Int, _ body: (VectorTile) -> Void) {
    withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * columns * Lanes.scalarCount) {
        body(VectorTile(start: $0.baseAddress!, columns: columns))
    }
}

/// The one-dimensional transforms of F(m, r), on lines of t = m + r - 1 vectors (r for the kernel's, m for the
/// output's): applied down the columns of a tile and then along its rows, they give the two-dimensional ones.
/// Each has its adjoint for the gradients. Each reads its whole input before writing, so the two lines may be
/// the same.
private protocol WinogradTransform {
    /// Outputs per tile along each axis, and the kernel's size.
    static var m: Int { get }
    static var r: Int { get }
    /// v = Bᵀ d: t values in, t out.
    static func input(_ d: VectorLine, into v: VectorLine)
    /// d = B v.
    static func inputAdjoint(_ v: VectorLine, into d: VectorLine)
    /// u = G g: r values in, t out.
    static func filter(_ g: VectorLine, into u: VectorLine)
    /// g = Gᵀ u: t values in, r out.
    static func filterAdjoint(_ u: VectorLine, into g: VectorLine)
    /// y = Aᵀ m: t values in, m out.
    static func output(_ m: VectorLine, into y: VectorLine)
    /// m = A y: m values in, t out.
    static func outputAdjoint(_ y: VectorLine, into m: VectorLine)
}

extension WinogradTransform {
    /// Inputs per tile along each axis.
    static var t: Int { m + r - 1 }
}

/// F(2, 5) on the points 0, 1, -1, 2, -2, ∞ (Toom-Cook):
/// Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
/// G = [¼ 0 0 0 0; -⅙ -⅙ -⅙ -⅙ -⅙; -⅙ ⅙ -⅙ ⅙ -⅙; 1/24 1/12 ⅙ ⅓ ⅔; 1/24 -1/12 ⅙ -⅓ ⅔; 0 0 0 0 1],
/// Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 1].
private enum F2x5: WinogradTransform {
    static var m: Int { 2 }
    static var r: Int { 5 }

    @inline(__always)
    static func input(_ d: VectorLine, into v: VectorLine) {
        let (d0, d1, d2, d3, d4, d5) = (d[0], d[1], d[2], d[3], d[4], d[5])
        let oddSum = d1 + d2, oddDifference = d1 - d2, high = d3 + d4, highDifference = d4 - d3
        let outer = d4 - d2, twice = 2 * (d1 - d3)
        v[0] = 4 * d0 - 5 * d2 + d4
        v[1] = high - 4 * oddSum
        v[2] = 4 * oddDifference + highDifference
        v[3] = outer - twice
        v[4] = outer + twice
        v[5] = 4 * d1 - 5 * d3 + d5
    }

    @inline(__always)
    static func inputAdjoint(_ v: VectorLine, into d: VectorLine) {
        let (v0, v1, v2, v3, v4, v5) = (v[0], v[1], v[2], v[3], v[4], v[5])
        d[0] = 4 * v0
        d[1] = 4 * (v2 - v1 + v5) + 2 * (v4 - v3)
        d[2] = -5 * v0 - 4 * (v1 + v2) - (v3 + v4)
        d[3] = v1 - v2 + 2 * (v3 - v4) - 5 * v5
        d[4] = v0 + v1 + v2 + v3 + v4
        d[5] = v5
    }

    @inline(__always)
    static func filter(_ g: VectorLine, into u: VectorLine) {
        let (g0, g1, g2, g3, g4) = (g[0], g[1], g[2], g[3], g[4])
        let even = g0 + g2 + g4, odd = g1 + g3
        let weightedEven = g0 / 24 + g2 / 6 + g4 * (2 / 3 as Float), weightedOdd = g1 / 12 + g3 / 3
        u[0] = g0 / 4
        u[1] = -(even + odd) / 6
        u[2] = (odd - even) / 6
        u[3] = weightedEven + weightedOdd
        u[4] = weightedEven - weightedOdd
        u[5] = g4
    }

    @inline(__always)
    static func filterAdjoint(_ u: VectorLine, into g: VectorLine) {
        let (u0, u1, u2, u3, u4, u5) = (u[0], u[1], u[2], u[3], u[4], u[5])
        let sum = -(u1 + u2) / 6, difference = (u2 - u1) / 6, highSum = u3 + u4, highDifference = u3 - u4
        g[0] = u0 / 4 + sum + highSum / 24
        g[1] = difference + highDifference / 12
        g[2] = sum + highSum / 6
        g[3] = difference + highDifference / 3
        g[4] = sum + highSum * (2 / 3 as Float) + u5
    }

    @inline(__always)
    static func output(_ m: VectorLine, into y: VectorLine) {
        let (m0, m1, m2, m3, m4, m5) = (m[0], m[1], m[2], m[3], m[4], m[5])
        y[0] = m0 + m1 + m2 + m3 + m4
        y[1] = (m1 - m2) + 2 * (m3 - m4) + m5
    }

    @inline(__always)
    static func outputAdjoint(_ y: VectorLine, into m: VectorLine) {
        let (y0, y1) = (y[0], y[1])
        m[0] = y0
        m[1] = y0 + y1
        m[2] = y0 - y1
        m[3] = y0 + 2 * y1
        m[4] = y0 - 2 * y1
        m[5] = y1
    }
}

/// F(4, 3) on the points 0, 1, -1, 2, -2, ∞ (Toom-Cook), the input transform that of F(2, 5):
/// G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1],
/// Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
private enum F4x3: WinogradTransform {
    static var m: Int { 4 }
    static var r: Int { 3 }

    @inline(__always)
    static func input(_ d: VectorLine, into v: VectorLine) { F2x5.input(d, into: v) }

    @inline(__always)
    static func inputAdjoint(_ v: VectorLine, into d: VectorLine) { F2x5.inputAdjoint(v, into: d) }

    @inline(__always)
    static func filter(_ g: VectorLine, into u: VectorLine) {
        let (g0, g1, g2) = (g[0], g[1], g[2])
        let outer = g0 + g2, weightedOuter = g0 / 24 + g2 / 6, weightedMiddle = g1 / 12
        u[0] = g0 / 4
        u[1] = -(outer + g1) / 6
        u[2] = (g1 - outer) / 6
        u[3] = weightedOuter + weightedMiddle
        u[4] = weightedOuter - weightedMiddle
        u[5] = g2
    }

    @inline(__always)
    static func filterAdjoint(_ u: VectorLine, into g: VectorLine) {
        let (u0, u1, u2, u3, u4, u5) = (u[0], u[1], u[2], u[3], u[4], u[5])
        let sum = -(u1 + u2) / 6, highSum = u3 + u4
        g[0] = u0 / 4 + sum + highSum / 24
        g[1] = (u2 - u1) / 6 + (u3 - u4) / 12
        g[2] = sum + highSum / 6 + u5
    }

    @inline(__always)
    static func output(_ m: VectorLine, into y: VectorLine) {
        let (m0, m1, m2, m3, m4, m5) = (m[0], m[1], m[2], m[3], m[4], m[5])
        let sum = m1 + m2, difference = m1 - m2, highSum = m3 + m4, highDifference = m3 - m4
        y[0] = m0 + sum + highSum
        y[1] = difference + 2 * highDifference
        y[2] = sum + 4 * highSum
        y[3] = difference + 8 * highDifference + m5
    }

    @inline(__always)
    static func outputAdjoint(_ y: VectorLine, into m: VectorLine) {
        let (y0, y1, y2, y3) = (y[0], y[1], y[2], y[3])
        let even = y0 + y2, odd = y1 + y3, highEven = y0 + 4 * y2, highOdd = 2 * y1 + 8 * y3
        m[0] = y0
        m[1] = even + odd
        m[2] = even - odd
        m[3] = highEven + highOdd
        m[4] = highEven - highOdd
        m[5] = y3
    }
}
