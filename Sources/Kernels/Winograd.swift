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
// and the GEMMs. V is not kept from the forward pass: recomputed block by block in backward, it is read from
// cache instead of memory.

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
public func transformKernelWinograd(_ kernel: UnsafePointer<Float>, _ g: WindowGeometry, filters: Int,
                                    into transformed: UnsafeMutablePointer<Float>) {
    switch transforms(g) {
    case .f4x3: WinogradConvolution<F4x3>(g, filters: filters).transformKernel(kernel, into: transformed)
    case .f2x5: WinogradConvolution<F2x5>(g, filters: filters).transformKernel(kernel, into: transformed)
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

    /// Rows and columns the whole tiles read: past the input's last ones they read zeros.
    var reach: (height: Int, width: Int) { (W.m * tileRows + W.r - 1, W.m * tileColumns + W.r - 1) }

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
        let image = WindowedImage(input, g, reach: reach)
        defer { image.deallocate() }
        let scratch = ScratchBuffers.ofThisThread
        let v = scratch.lend(floats: points * block * c), m = scratch.lend(floats: points * block * filters)
        defer { scratch.giveBack(m); scratch.giveBack(v) }
        var wholeRow = 0
        withRowTable { rows in
            for first in stride(from: 0, to: tiles, by: block) {
                let count = min(block, tiles - first)
                transformInputs(image, first: first, count: count, into: v)
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
        let image = WindowedImage(input, g, reach: reach)
        defer { image.deallocate() }
        let scratch = ScratchBuffers.ofThisThread
        let ut = transformedKernel + points * c * filters
        // The input gradient over the windowed image's rows and columns; the part inside the input is the result.
        let gradientImage = inputGradient.map { WindowedGradient($0, g, like: image) }
        defer { gradientImage?.finish() }
        let v = scratch.lend(floats: points * block * c), dm = scratch.lend(floats: points * block * filters)
        defer { scratch.giveBack(dm); scratch.giveBack(v) }
        var wholeRow = 0
        withRowTable(segments: filters / NR) { rows, segmentStarts in
            for first in stride(from: 0, to: tiles, by: block) {
                let count = min(block, tiles - first)
                for s in 0..<filters / NR { segmentStarts[s] = s * count * NR }
                transformOutputGradients(dz, first: first, count: count, into: dm)
                transformInputs(image, first: first, count: count, into: v)
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
                if let gradientImage { addInputGradients(v, first: first, count: count, into: gradientImage) }
            }
        }
    }

    /// V[p][tile, channel] = (Bᵀ d B)[p] for the block's tiles d, eight channels at a time.
    private func transformInputs(_ image: WindowedImage, first: Int, count: Int, into v: UnsafeMutablePointer<Float>) {
        let c = g.channels, t = W.t, rowStride = image.rowWidth * c
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: t * t) { buffer in
            let tile = buffer.baseAddress!
            for index in 0..<count {
                let (n, row, column) = corner(ofTile: first + index)
                let origin = image.start(sample: n, row: row, column: column)
                for channel in stride(from: 0, to: c, by: Lanes.scalarCount) {
                    for y in 0..<t {
                        for x in 0..<t {
                            tile[y * t + x] = UnsafeRawPointer(origin + y * rowStride + x * c + channel)
                                .loadUnaligned(as: Lanes.self)
                        }
                    }
                    for x in 0..<t { W.input(tile + x, stride: t) }
                    for y in 0..<t { W.input(tile + y * t, stride: 1) }
                    for point in 0..<t * t {
                        UnsafeMutableRawPointer(v + (point * count + index) * c + channel)
                            .storeBytes(of: tile[point], as: Lanes.self)
                    }
                }
            }
        }
    }

    /// The block's outputs Aᵀ M A, plus bias, through ReLU when asked, for the part of each m×m inside the output.
    private func transformOutputs(_ m: UnsafePointer<Float>, first: Int, count: Int, bias: UnsafePointer<Float>?,
                                  activation: Activation, into output: UnsafeMutablePointer<Float>) {
        let t = W.t, outputs = W.m, relu = activation == .relu
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: t * t + outputs * t + outputs) { buffer in
            let tile = buffer.baseAddress!, half = tile + t * t, line = half + outputs * t
            for index in 0..<count {
                let (n, row, column) = corner(ofTile: first + index)
                let rows = min(outputs, g.outputHeight - row), columns = min(outputs, g.outputWidth - column)
                let target = output + ((n * g.outputHeight + row) * g.outputWidth + column) * filters
                for o in stride(from: 0, to: filters, by: Lanes.scalarCount) {
                    for point in 0..<t * t {
                        tile[point] = UnsafeRawPointer(m + (point * count + index) * filters + o)
                            .loadUnaligned(as: Lanes.self)
                    }
                    // Aᵀ M: m × t, then · A: m × m.
                    for x in 0..<t { W.output(tile + x, stride: t, into: half + x, stride: t) }
                    let b = bias.map { UnsafeRawPointer($0 + o).loadUnaligned(as: Lanes.self) } ?? Lanes()
                    for i in 0..<rows {
                        W.output(half + i * t, stride: 1, into: line, stride: 1)
                        for j in 0..<columns {
                            var value = line[j] + b
                            if relu { value.replace(with: 0, where: value .<= 0) }
                            UnsafeMutableRawPointer(target + (i * g.outputWidth + j) * filters + o)
                                .storeBytes(of: value, as: Lanes.self)
                        }
                    }
                }
            }
        }
    }

    /// dM[p] = (A dY Aᵀ)[p] for the block's m×m blocks of the output gradient (zeros past the output's edge), in
    /// packed panels of 16 filters.
    private func transformOutputGradients(_ dz: UnsafePointer<Float>, first: Int, count: Int,
                                          into dm: UnsafeMutablePointer<Float>) {
        let t = W.t, m = W.m
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: t * t + m * m) { buffer in
            let tile = buffer.baseAddress!, block = tile + t * t
            for index in 0..<count {
                let (n, row, column) = corner(ofTile: first + index)
                let rows = min(m, g.outputHeight - row), columns = min(m, g.outputWidth - column)
                let source = dz + ((n * g.outputHeight + row) * g.outputWidth + column) * filters
                for o in stride(from: 0, to: filters, by: Lanes.scalarCount) {
                    for i in 0..<m {
                        for j in 0..<m {
                            block[i * m + j] = i < rows && j < columns
                                ? UnsafeRawPointer(source + (i * g.outputWidth + j) * filters + o).loadUnaligned(as: Lanes.self)
                                : Lanes()
                        }
                    }
                    // A dY: t × m, then · Aᵀ: t × t.
                    for j in 0..<m { W.outputAdjoint(block + j, stride: m, into: tile + j, stride: t) }
                    for y in 0..<t { W.outputAdjoint(tile + y * t, stride: 1, into: tile + y * t, stride: 1) }
                    for point in 0..<t * t {
                        UnsafeMutableRawPointer(dm + point * count * filters + (o / NR * count + index) * NR + o % NR)
                            .storeBytes(of: tile[point], as: Lanes.self)
                    }
                }
            }
        }
    }

    /// Adds B dV Bᵀ of each tile of the block onto the t × t input pixels it came from.
    private func addInputGradients(_ dv: UnsafePointer<Float>, first: Int, count: Int, into image: WindowedGradient) {
        let c = g.channels, t = W.t, rowStride = image.rowWidth * c
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: t * t) { buffer in
            let tile = buffer.baseAddress!
            for index in 0..<count {
                let (n, row, column) = corner(ofTile: first + index)
                let origin = image.start(sample: n, row: row, column: column)
                for channel in stride(from: 0, to: c, by: Lanes.scalarCount) {
                    for point in 0..<t * t {
                        tile[point] = UnsafeRawPointer(dv + (point * count + index) * c + channel)
                            .loadUnaligned(as: Lanes.self)
                    }
                    for x in 0..<t { W.inputAdjoint(tile + x, stride: t) }
                    for y in 0..<t { W.inputAdjoint(tile + y * t, stride: 1) }
                    for y in 0..<t {
                        for x in 0..<t {
                            let target = UnsafeMutableRawPointer(origin + y * rowStride + x * c + channel)
                            target.storeBytes(of: target.loadUnaligned(as: Lanes.self) + tile[y * t + x], as: Lanes.self)
                        }
                    }
                }
            }
        }
    }

    /// U = G g Gᵀ [point][filter panel][channel][16], then Uᵀ [point][channel panel][filter][16], for every
    /// channel and eight filters at a time.
    func transformKernel(_ kernel: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>) {
        let c = g.channels, r = W.r, t = W.t, ut = u + Self.points * c * filters
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: r * r + t * r + t * t) { buffer in
            let taps = buffer.baseAddress!, half = taps + r * r, full = half + t * r
            for channel in 0..<c {
                for o in stride(from: 0, to: filters, by: Lanes.scalarCount) {
                    for tap in 0..<r * r {
                        taps[tap] = UnsafeRawPointer(kernel + (tap * c + channel) * filters + o).loadUnaligned(as: Lanes.self)
                    }
                    // G g: t × r, then · Gᵀ: t × t.
                    for x in 0..<r { W.filter(taps + x, stride: r, into: half + x, stride: r) }
                    for y in 0..<t { W.filter(half + y * r, stride: 1, into: full + y * t, stride: 1) }
                    for point in 0..<t * t {
                        let value = full[point], pointStart = point * c * filters
                        UnsafeMutableRawPointer(u + pointStart + (o / NR * c + channel) * NR + o % NR)
                            .storeBytes(of: value, as: Lanes.self)
                        let transposed = ut + pointStart + channel / NR * filters * NR + o * NR + channel % NR
                        for lane in 0..<Lanes.scalarCount { transposed[lane * NR] = value[lane] }
                    }
                }
            }
        }
    }

    /// kernelGradient += Gᵀ dU G, dU [point][channel][filter].
    func addKernelGradient(_ du: UnsafePointer<Float>, into kernelGradient: UnsafeMutablePointer<Float>) {
        let c = g.channels, r = W.r, t = W.t
        withUnsafeTemporaryAllocation(of: Lanes.self, capacity: t * t + t * r + r * r) { buffer in
            let full = buffer.baseAddress!, half = full + t * t, taps = half + t * r
            for channel in 0..<c {
                for o in stride(from: 0, to: filters, by: Lanes.scalarCount) {
                    for point in 0..<t * t {
                        full[point] = UnsafeRawPointer(du + (point * c + channel) * filters + o).loadUnaligned(as: Lanes.self)
                    }
                    // Gᵀ dU: r × t, then · G: r × r.
                    for x in 0..<t { W.filterAdjoint(full + x, stride: t, into: half + x, stride: t) }
                    for y in 0..<r { W.filterAdjoint(half + y * t, stride: 1, into: taps + y * r, stride: 1) }
                    for tap in 0..<r * r {
                        let target = UnsafeMutableRawPointer(kernelGradient + (tap * c + channel) * filters + o)
                        target.storeBytes(of: target.loadUnaligned(as: Lanes.self) + taps[tap], as: Lanes.self)
                    }
                }
            }
        }
    }
}

/// Where the input gradient is summed: the result itself when the windowed image is the input in place,
/// otherwise a zeroed buffer of the windowed image's shape whose part inside the input `finish` copies out.
private struct WindowedGradient {
    let pixels: UnsafeMutablePointer<Float>
    let rowWidth: Int, imageSize: Int, channels: Int
    private let result: UnsafeMutablePointer<Float>
    private let g: WindowGeometry
    private let padded: Bool

    init(_ result: UnsafeMutablePointer<Float>, _ g: WindowGeometry, like image: WindowedImage) {
        (rowWidth, imageSize, channels, self.result, self.g) = (image.rowWidth, image.imageSize, g.channels, result, g)
        padded = image.isCopy
        pixels = padded ? ScratchBuffers.ofThisThread.lend(floats: g.batch * imageSize) : result
        pixels.update(repeating: 0, count: padded ? g.batch * imageSize : g.batch * g.inputSize)
    }

    @inline(__always)
    func start(sample n: Int, row: Int, column: Int) -> UnsafeMutablePointer<Float> {
        pixels + n * imageSize + (row * rowWidth + column) * channels
    }

    /// The input's pixel (ih, iw) sits at (ih + padTop, iw + padLeft) of the windowed image.
    func finish() {
        guard padded else { return }
        let c = g.channels, height = imageSize / (rowWidth * c)
        let rows = min(g.inputHeight, height - g.padTop), columns = min(g.inputWidth, rowWidth - g.padLeft)
        result.update(repeating: 0, count: g.batch * g.inputSize)
        for n in 0..<g.batch {
            for ih in 0..<rows {
                copy(start(sample: n, row: ih + g.padTop, column: g.padLeft),
                     to: result + (n * g.inputHeight + ih) * g.inputWidth * c, count: columns * c)
            }
        }
        ScratchBuffers.ofThisThread.giveBack(pixels)
    }
}

/// The one-dimensional transforms of F(2, r), t = r + 1 values of eight lanes each: applied along the columns of
/// a tile and then along its rows, they give the two-dimensional ones. Each has its adjoint for the gradients.
private protocol WinogradTransform {
    /// Outputs per tile along each axis, and the kernel's size.
    static var m: Int { get }
    static var r: Int { get }
    /// v = Bᵀ d, in place over t values `stride` apart.
    static func input(_ d: UnsafeMutablePointer<Lanes>, stride: Int)
    /// d = B v, in place.
    static func inputAdjoint(_ v: UnsafeMutablePointer<Lanes>, stride: Int)
    /// u = G g: r values in, t out.
    static func filter(_ g: UnsafePointer<Lanes>, stride: Int, into u: UnsafeMutablePointer<Lanes>, stride: Int)
    /// g = Gᵀ u: t values in, r out.
    static func filterAdjoint(_ u: UnsafePointer<Lanes>, stride: Int, into g: UnsafeMutablePointer<Lanes>, stride: Int)
    /// y = Aᵀ m: t values in, m out.
    static func output(_ m: UnsafePointer<Lanes>, stride: Int, into y: UnsafeMutablePointer<Lanes>, stride: Int)
    /// m = A y: m values in, t out (the two may share storage).
    static func outputAdjoint(_ y: UnsafePointer<Lanes>, stride: Int, into m: UnsafeMutablePointer<Lanes>, stride: Int)
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
    static func input(_ d: UnsafeMutablePointer<Lanes>, stride s: Int) {
        let (d0, d1, d2, d3, d4, d5) = (d[0], d[s], d[2 * s], d[3 * s], d[4 * s], d[5 * s])
        let oddSum = d1 + d2, oddDifference = d1 - d2, high = d3 + d4, highDifference = d4 - d3
        let outer = d4 - d2, twice = 2 * (d1 - d3)
        d[0] = 4 * d0 - 5 * d2 + d4
        d[s] = high - 4 * oddSum
        d[2 * s] = 4 * oddDifference + highDifference
        d[3 * s] = outer - twice
        d[4 * s] = outer + twice
        d[5 * s] = 4 * d1 - 5 * d3 + d5
    }

    @inline(__always)
    static func inputAdjoint(_ v: UnsafeMutablePointer<Lanes>, stride s: Int) {
        let (v0, v1, v2, v3, v4, v5) = (v[0], v[s], v[2 * s], v[3 * s], v[4 * s], v[5 * s])
        v[0] = 4 * v0
        v[s] = 4 * (v2 - v1 + v5) + 2 * (v4 - v3)
        v[2 * s] = -5 * v0 - 4 * (v1 + v2) - (v3 + v4)
        v[3 * s] = v1 - v2 + 2 * (v3 - v4) - 5 * v5
        v[4 * s] = v0 + v1 + v2 + v3 + v4
        v[5 * s] = v5
    }

    @inline(__always)
    static func filter(_ g: UnsafePointer<Lanes>, stride gs: Int, into u: UnsafeMutablePointer<Lanes>, stride us: Int) {
        let (g0, g1, g2, g3, g4) = (g[0], g[gs], g[2 * gs], g[3 * gs], g[4 * gs])
        let even = g0 + g2 + g4, odd = g1 + g3
        let weightedEven = g0 / 24 + g2 / 6 + g4 * (2 / 3 as Float), weightedOdd = g1 / 12 + g3 / 3
        u[0] = g0 / 4
        u[us] = -(even + odd) / 6
        u[2 * us] = (odd - even) / 6
        u[3 * us] = weightedEven + weightedOdd
        u[4 * us] = weightedEven - weightedOdd
        u[5 * us] = g4
    }

    @inline(__always)
    static func filterAdjoint(_ u: UnsafePointer<Lanes>, stride us: Int, into g: UnsafeMutablePointer<Lanes>,
                              stride gs: Int) {
        let (u0, u1, u2, u3, u4, u5) = (u[0], u[us], u[2 * us], u[3 * us], u[4 * us], u[5 * us])
        let sum = -(u1 + u2) / 6, difference = (u2 - u1) / 6, highSum = u3 + u4, highDifference = u3 - u4
        g[0] = u0 / 4 + sum + highSum / 24
        g[gs] = difference + highDifference / 12
        g[2 * gs] = sum + highSum / 6
        g[3 * gs] = difference + highDifference / 3
        g[4 * gs] = sum + highSum * (2 / 3 as Float) + u5
    }

    @inline(__always)
    static func output(_ m: UnsafePointer<Lanes>, stride ms: Int, into y: UnsafeMutablePointer<Lanes>, stride ys: Int) {
        let (m0, m1, m2, m3, m4, m5) = (m[0], m[ms], m[2 * ms], m[3 * ms], m[4 * ms], m[5 * ms])
        (y[0], y[ys]) = (m0 + m1 + m2 + m3 + m4, (m1 - m2) + 2 * (m3 - m4) + m5)
    }

    @inline(__always)
    static func outputAdjoint(_ y: UnsafePointer<Lanes>, stride ys: Int, into m: UnsafeMutablePointer<Lanes>,
                              stride ms: Int) {
        let (y0, y1) = (y[0], y[ys])
        (m[0], m[ms], m[2 * ms], m[3 * ms], m[4 * ms], m[5 * ms]) = (y0, y0 + y1, y0 - y1, y0 + 2 * y1, y0 - 2 * y1, y1)
    }
}

/// F(4, 3) on the points 0, 1, -1, 2, -2, ∞ (Toom-Cook), the input transform that of F(2, 5):
/// G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1],
/// Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
private enum F4x3: WinogradTransform {
    static var m: Int { 4 }
    static var r: Int { 3 }

    @inline(__always)
    static func input(_ d: UnsafeMutablePointer<Lanes>, stride s: Int) { F2x5.input(d, stride: s) }

    @inline(__always)
    static func inputAdjoint(_ v: UnsafeMutablePointer<Lanes>, stride s: Int) { F2x5.inputAdjoint(v, stride: s) }

    @inline(__always)
    static func filter(_ g: UnsafePointer<Lanes>, stride gs: Int, into u: UnsafeMutablePointer<Lanes>, stride us: Int) {
        let (g0, g1, g2) = (g[0], g[gs], g[2 * gs])
        let outer = g0 + g2, weightedOuter = g0 / 24 + g2 / 6, weightedMiddle = g1 / 12
        u[0] = g0 / 4
        u[us] = -(outer + g1) / 6
        u[2 * us] = (g1 - outer) / 6
        u[3 * us] = weightedOuter + weightedMiddle
        u[4 * us] = weightedOuter - weightedMiddle
        u[5 * us] = g2
    }

    @inline(__always)
    static func filterAdjoint(_ u: UnsafePointer<Lanes>, stride us: Int, into g: UnsafeMutablePointer<Lanes>,
                              stride gs: Int) {
        let (u0, u1, u2, u3, u4, u5) = (u[0], u[us], u[2 * us], u[3 * us], u[4 * us], u[5 * us])
        let sum = -(u1 + u2) / 6, highSum = u3 + u4
        g[0] = u0 / 4 + sum + highSum / 24
        g[gs] = (u2 - u1) / 6 + (u3 - u4) / 12
        g[2 * gs] = sum + highSum / 6 + u5
    }

    @inline(__always)
    static func output(_ m: UnsafePointer<Lanes>, stride ms: Int, into y: UnsafeMutablePointer<Lanes>, stride ys: Int) {
        let (m0, m1, m2, m3, m4, m5) = (m[0], m[ms], m[2 * ms], m[3 * ms], m[4 * ms], m[5 * ms])
        let sum = m1 + m2, difference = m1 - m2, highSum = m3 + m4, highDifference = m3 - m4
        y[0] = m0 + sum + highSum
        y[ys] = difference + 2 * highDifference
        y[2 * ys] = sum + 4 * highSum
        y[3 * ys] = difference + 8 * highDifference + m5
    }

    @inline(__always)
    static func outputAdjoint(_ y: UnsafePointer<Lanes>, stride ys: Int, into m: UnsafeMutablePointer<Lanes>,
                              stride ms: Int) {
        let (y0, y1, y2, y3) = (y[0], y[ys], y[2 * ys], y[3 * ys])
        let even = y0 + y2, odd = y1 + y3, highEven = y0 + 4 * y2, highOdd = 2 * y1 + 8 * y3
        m[0] = y0
        m[ms] = even + odd
        m[2 * ms] = even - odd
        m[3 * ms] = highEven + highOdd
        m[4 * ms] = highEven - highOdd
        m[5 * ms] = y3
    }
}
