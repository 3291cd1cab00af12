// Convolution over NHWC batches as GEMM, with the direct seven-loop convolution kept beside it as the reference.
// Kernels use the Keras layout [kh, kw, in, out], which read as a [kh*kw*in, out] matrix is exactly the right
// operand for an im2col matrix whose columns run (kh, kw, in). The forward pass and the weight gradient never
// build that matrix: the micro-kernels read its rows, or its transpose's, from the image in place (`convolve`,
// `convolutionKernelGradient`). The input gradient of a 'same'-padded stride-1 convolution is a convolution too
// (`inputGradientWindows`); others multiply into column form and add back with col2im.

/// Keras/TensorFlow padding modes.
public enum Padding: String, Codable, Sendable, CaseIterable {
    /// No padding: windows stay inside the input.
    case valid
    /// Output length ceil(input / stride); the padding is split with the extra row or column at the end.
    case same
}

/// Output length and leading padding of a sliding window along one axis, as TensorFlow computes them.
public func windowOutput(input: Int, window: Int, stride: Int, padding: Padding) -> (length: Int, padBefore: Int) {
    switch padding {
    case .valid:
        return (input >= window ? (input - window) / stride + 1 : 0, 0)
    case .same:
        let length = (input + stride - 1) / stride
        let padTotal = max((length - 1) * stride + window - input, 0)
        return (length, padTotal / 2)
    }
}

/// Where every window of a 2-D sliding operation (convolution or pooling) falls on an NHWC input.
public struct WindowGeometry: Equatable, Sendable {
    public private(set) var batch: Int
    public private(set) var inputHeight: Int, inputWidth: Int, channels: Int
    public let windowHeight: Int, windowWidth: Int, strideHeight: Int, strideWidth: Int
    public private(set) var outputHeight: Int, outputWidth: Int, padTop: Int, padLeft: Int

    public init(batch: Int, inputHeight: Int, inputWidth: Int, channels: Int, windowHeight: Int, windowWidth: Int,
                strideHeight: Int, strideWidth: Int, padding: Padding) {
        self.batch = batch
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.channels = channels
        self.windowHeight = windowHeight
        self.windowWidth = windowWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        (outputHeight, padTop) = windowOutput(input: inputHeight, window: windowHeight, stride: strideHeight,
                                              padding: padding)
        (outputWidth, padLeft) = windowOutput(input: inputWidth, window: windowWidth, stride: strideWidth,
                                              padding: padding)
    }

    /// The same windows over `count` samples, for working through a batch a slice at a time.
    public func withBatch(_ count: Int) -> WindowGeometry {
        var slice = self
        slice.batch = count
        return slice
    }

    /// Values of one input sample.
    public var inputSize: Int { inputHeight * inputWidth * channels }

    /// Rows of the im2col matrix: one per output pixel.
    public var outputPixels: Int { batch * outputHeight * outputWidth }
    /// Columns of the im2col matrix: one per (kh, kw, channel).
    public var patchSize: Int { windowHeight * windowWidth * channels }
}

/// col[(n, oh, ow), (kh, kw, c)] = input[n, oh*sh - padTop + kh, ow*sw - padLeft + kw, c], zero outside.
/// input is (N, H, W, C); col is (N*OH*OW, KH*KW*C).
/// One window row (fixed kh) reads consecutive input pixels, so it is one contiguous run of up to KW*C
/// values, with zeros where the window hangs over the padding.
public func im2col(_ input: UnsafePointer<Float>, _ g: WindowGeometry, into col: UnsafeMutablePointer<Float>) {
    let c = g.channels, run = g.windowWidth * c
    var out = col
    for n in 0..<g.batch {
        let image = input + n * g.inputHeight * g.inputWidth * c
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                let (left, inside) = g.windowColumnsInside(ow)
                for kh in 0..<g.windowHeight {
                    let ih = oh * g.strideHeight - g.padTop + kh
                    if ih < 0 || ih >= g.inputHeight || inside == 0 {
                        fill(out, count: run, with: 0)
                    } else {
                        let iw = ow * g.strideWidth - g.padLeft + left
                        fill(out, count: left * c, with: 0)
                        copy(image + (ih * g.inputWidth + iw) * c, to: out + left * c, count: inside * c)
                        fill(out + (left + inside) * c, count: run - (left + inside) * c, with: 0)
                    }
                    out += run
                }
            }
        }
    }
}

/// output[n, oh, ow, o] = activation(bias[o] + Σ_{kh, kw, i} input[n, ih, iw, i] · kernel[kh, kw, i, o]):
/// im2col(input) · kernel without the im2col matrix. Row (n, oh, ow) of that matrix is kh runs of kw·C
/// consecutive input values, so the micro-kernel reads it from the image, one pointer a row and one segment a
/// kernel row. Bias and activation go on each block of rows as soon as it is done, while it is in cache.
/// input (N, H, W, C), kernel (KH, KW, C, O), output (N, OH, OW, O); every output is written.
public func convolve(_ input: UnsafePointer<Float>, _ g: WindowGeometry, kernel: UnsafePointer<Float>, filters: Int,
                     bias: UnsafePointer<Float>? = nil, activation: Activation = .linear,
                     into output: UnsafeMutablePointer<Float>) {
    guard g.outputPixels > 0, filters > 0 else { return }
    let image = WindowedImage(input, g)
    defer { image.deallocate() }
    let c = g.channels, run = g.windowWidth * c, pixelsPerImage = g.outputHeight * g.outputWidth
    // Kernel rows per depth block: as many whole rows as fit KC depths, so a B panel stays in L1.
    let rowsPerBlock = max(1, min(g.windowHeight, KC / run))
    let isa = KernelISA.active
    // The bias and ReLU go with the tile's stores where the tile can take them, saving a pass over the output.
    let epilogue = fusesEpilogue(isa: isa, columns: filters) && (activation == .relu || activation == .linear)
        ? TileEpilogue(bias: bias, relu: activation == .relu) : nil
    // The kernel rows are packed a block at a time: thousands of output pixels reuse them.
    let packed = PackedPanels(depths: rowsPerBlock * run, columns: filters)
    defer { packed.deallocate() }
    withRowTable(segments: rowsPerBlock) { rows, segmentStarts in
        for s in 0..<rowsPerBlock { segmentStarts[s] = s * image.rowWidth * c }
        for firstRow in stride(from: 0, to: g.windowHeight, by: rowsPerBlock) {
            let kernelRows = min(rowsPerBlock, g.windowHeight - firstRow)
            let panels = panelsOf(kernel, ld: filters, depths: firstRow * run, depthCount: kernelRows * run,
                                  packingInto: packed)
            for ic in stride(from: 0, to: g.outputPixels, by: MC) {
                let mc = min(MC, g.outputPixels - ic)
                // Output pixel ic's place, then one pixel a row: counting is cheaper than dividing for each.
                let (sample, pixel) = ic.quotientAndRemainder(dividingBy: pixelsPerImage)
                var n = sample, (oh, ow) = pixel.quotientAndRemainder(dividingBy: g.outputWidth)
                for i in 0..<mc {
                    rows[i] = image.start(sample: n, row: oh * g.strideHeight + firstRow, column: ow * g.strideWidth)
                    ow += 1
                    if ow == g.outputWidth { (ow, oh) = (0, oh + 1) }
                    if oh == g.outputHeight { (oh, n) = (0, n + 1) }
                }
                let lastBlock = firstRow + kernelRows == g.windowHeight
                multiplyRowBlock(isa: isa, rows: rows, rowCount: mc, depthStride: 1, segmentStarts: segmentStarts,
                                 segments: kernelRows, segmentLength: run, panels: panels, columns: filters,
                                 c: output + ic * filters, ldc: filters, accumulate: firstRow > 0,
                                 epilogue: lastBlock ? epilogue : nil)
                if lastBlock && epilogue == nil {
                    addBiasAndActivate(output + ic * filters, bias: bias, rows: mc, columns: filters,
                                       activation: activation)
                }
            }
        }
    }
}

/// kernelGradient[kh, kw, i, o] += Σ_{n, oh, ow} input[n, ih, iw, i] · outputGradient[n, oh, ow, o]:
/// im2col(input)ᵀ · outputGradient without the im2col matrix. Row (kh, kw, i) of im2col(input)ᵀ is the image
/// seen through one kernel tap: along each output row, values C·stride apart. So the micro-kernel reads it in
/// place, one segment per output row of every sample.
public func convolutionKernelGradient(_ input: UnsafePointer<Float>, _ g: WindowGeometry,
                                      outputGradient: UnsafePointer<Float>, filters: Int,
                                      into kernelGradient: UnsafeMutablePointer<Float>) {
    guard g.outputPixels > 0, filters > 0 else { return }
    let image = WindowedImage(input, g)
    defer { image.deallocate() }
    let c = g.channels, outputRows = g.batch * g.outputHeight
    // Output rows per depth block: as many as fit KC depths.
    let rowsPerBlock = max(1, min(outputRows, KC / g.outputWidth))
    // The output gradient is read in place when its filters are whole panels and the kernel has few values
    // (kernel taps x channels), the rows of this product.
    let isa = KernelISA.active
    let inPlace = filters % NR == 0 && g.patchSize <= fewRows && isa.readsBInPlace
    let packed = inPlace ? nil : PackedPanels(depths: rowsPerBlock * g.outputWidth, columns: filters)
    defer { packed?.deallocate() }
    let origin = image.start(sample: 0, row: 0, column: 0)
    withRowTable(segments: rowsPerBlock) { rows, segmentStarts in
        for firstRow in stride(from: 0, to: outputRows, by: rowsPerBlock) {
            let count = min(rowsPerBlock, outputRows - firstRow)
            let panels = panelsOf(outputGradient, ld: filters, depths: firstRow * g.outputWidth,
                                  depthCount: count * g.outputWidth, packingInto: packed)
            for s in 0..<count {
                let (n, oh) = (firstRow + s).quotientAndRemainder(dividingBy: g.outputHeight)
                segmentStarts[s] = image.start(sample: n, row: oh * g.strideHeight, column: 0) - origin
            }
            for ic in stride(from: 0, to: g.patchSize, by: MC) {
                let mc = min(MC, g.patchSize - ic)
                for i in 0..<mc {
                    let (tap, channel) = (ic + i).quotientAndRemainder(dividingBy: c)
                    let (kh, kw) = tap.quotientAndRemainder(dividingBy: g.windowWidth)
                    rows[i] = image.start(sample: 0, row: kh, column: kw) + channel
                }
                multiplyRowBlock(isa: isa, rows: rows, rowCount: mc, depthStride: g.strideWidth * c,
                                 segmentStarts: segmentStarts, segments: count, segmentLength: g.outputWidth,
                                 panels: panels, columns: filters, c: kernelGradient + ic * filters,
                                 ldc: filters, accumulate: true)
            }
        }
    }
}

/// Depths [depths, depths + depthCount) of a row-major B with `ld` columns as the micro-kernels' panels: packed
/// into `packed` when the caller gives one, otherwise read in place (which needs whole panels of columns).
private func panelsOf(_ b: UnsafePointer<Float>, ld: Int, depths: Int, depthCount: Int,
                      packingInto packed: PackedPanels?) -> BPanels {
    guard let packed else { return .inPlace(b + depths * ld, ld: ld) }
    packPanels(of: b, transposed: false, ld: ld, columns: 0, columnCount: ld, depths: depths, depthCount: depthCount,
               into: packed.values)
    return .packed(packed.values, depths: depthCount)
}

/// The input as the windows see it, from the first window's corner: in place when no window hangs over the
/// padding, otherwise a copy with the padding made real (zeros around, and the rows and columns that no window
/// reaches left out).
private struct WindowedImage {
    let pixels: UnsafePointer<Float>
    /// Pixels per row and values per sample of `pixels`.
    let rowWidth: Int, imageSize: Int
    let channels: Int
    private let copy: UnsafeMutablePointer<Float>?

    init(_ input: UnsafePointer<Float>, _ g: WindowGeometry) {
        let height = (g.outputHeight - 1) * g.strideHeight + g.windowHeight
        let width = (g.outputWidth - 1) * g.strideWidth + g.windowWidth
        channels = g.channels
        guard g.padTop > 0 || g.padLeft > 0 || height > g.inputHeight || width > g.inputWidth else {
            (pixels, rowWidth, imageSize, copy) = (input, g.inputWidth, g.inputSize, nil)
            return
        }
        let c = g.channels, count = g.batch * height * width * c
        let image = ScratchBuffers.ofThisThread.lend(floats: count)
        image.update(repeating: 0, count: count)
        // The input's pixel (ih, iw) goes to (ih + padTop, iw + padLeft).
        let copiedRows = min(g.inputHeight, height - g.padTop), copiedColumns = min(g.inputWidth, width - g.padLeft)
        for n in 0..<g.batch {
            for ih in 0..<copiedRows {
                Kernels.copy(input + ((n * g.inputHeight + ih) * g.inputWidth) * c,
                             to: image + ((n * height + ih + g.padTop) * width + g.padLeft) * c,
                             count: copiedColumns * c)
            }
        }
        (pixels, rowWidth, imageSize, copy) = (UnsafePointer(image), width, height * width * c, image)
    }

    /// Where the window pixel (row, column) of sample n starts, counted from the first window's corner.
    @inline(__always)
    func start(sample n: Int, row: Int, column: Int) -> UnsafePointer<Float> {
        pixels + n * imageSize + (row * rowWidth + column) * channels
    }

    func deallocate() { if let copy { ScratchBuffers.ofThisThread.giveBack(copy) } }
}

/// The adjoint of im2col: adds each column entry back onto the input pixel it was copied from.
/// In the forward pass this was: col[r, q] = input[pixel(r, q)]; so now: dInput[pixel(r, q)] += dCol[r, q].
/// dInput must be zeroed (or hold gradient to add to) by the caller.
public func col2im(_ dCol: UnsafePointer<Float>, _ g: WindowGeometry, into dInput: UnsafeMutablePointer<Float>) {
    let c = g.channels, run = g.windowWidth * c
    var source = dCol
    for n in 0..<g.batch {
        let image = dInput + n * g.inputHeight * g.inputWidth * c
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                let (left, inside) = g.windowColumnsInside(ow)
                for kh in 0..<g.windowHeight {
                    let ih = oh * g.strideHeight - g.padTop + kh
                    if ih >= 0 && ih < g.inputHeight && inside > 0 {
                        let iw = ow * g.strideWidth - g.padLeft + left
                        add(source + left * c, to: image + (ih * g.inputWidth + iw) * c, count: inside * c)
                    }
                    source += run
                }
            }
        }
    }
}

extension WindowGeometry {
    /// The input gradient of a stride-1 convolution is itself one: dx[ih, iw, c] = Σ_{kh, kw, o}
    /// dy[ih + padTop - kh, iw + padLeft - kw, o] · kernel[kh, kw, c, o], windows over dy with KH-1-padTop rows of
    /// padding before, the kernel turned half a circle with its channels swapped (`turnedKernel`). These are its
    /// windows: over an input of the output's size and `filters` channels, giving an output of the input's size.
    public func inputGradientWindows(filters: Int) -> WindowGeometry {
        precondition(strideHeight == 1 && strideWidth == 1, "inputGradientWindows: stride 1 only")
        var windows = self
        (windows.inputHeight, windows.inputWidth, windows.channels) = (outputHeight, outputWidth, filters)
        (windows.outputHeight, windows.outputWidth) = (inputHeight, inputWidth)
        (windows.padTop, windows.padLeft) = (windowHeight - 1 - padTop, windowWidth - 1 - padLeft)
        return windows
    }
}

/// kernel [KH, KW, C, O] turned for `inputGradientWindows(filters:)`: turned[KH-1-kh, KW-1-kw, o, c] = kernel[kh, kw, c, o].
public func turnedKernel(_ kernel: UnsafePointer<Float>, _ g: WindowGeometry, filters: Int,
                         into turned: UnsafeMutablePointer<Float>) {
    let c = g.channels, taps = g.windowHeight * g.windowWidth
    for tap in 0..<taps {
        let source = kernel + tap * c * filters, target = turned + (taps - 1 - tap) * filters * c
        for ch in 0..<c {
            for o in 0..<filters { target[o * c + ch] = source[ch * filters + o] }
        }
    }
}

extension WindowGeometry {
    /// For the window at output column `ow`: how many of its leading columns fall in the left padding, and how
    /// many of its columns lie inside the input.
    @inline(__always)
    public func windowColumnsInside(_ ow: Int) -> (left: Int, inside: Int) {
        let start = ow * strideWidth - padLeft
        let left = min(max(-start, 0), windowWidth)
        let end = min(start + windowWidth, inputWidth)
        return (left, max(end - (start + left), 0))
    }
}

/// Reference convolution, straight from the definition:
/// output[n, oh, ow, o] = bias[o] + Σ_{kh, kw, i} input[n, ih, iw, i] · kernel[kh, kw, i, o].
/// input (N, H, W, C), kernel (KH, KW, C, O), output (N, OH, OW, O).
public func convolutionReference(_ input: UnsafePointer<Float>, _ g: WindowGeometry, kernel: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>?, filters: Int, into output: UnsafeMutablePointer<Float>) {
    for n in 0..<g.batch {
        for oh in 0..<g.outputHeight {
            for ow in 0..<g.outputWidth {
                for o in 0..<filters {
                    var sum: Double = bias.map { Double($0[o]) } ?? 0
                    for kh in 0..<g.windowHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh
                        guard ih >= 0 && ih < g.inputHeight else { continue }
                        for kw in 0..<g.windowWidth {
                            let iw = ow * g.strideWidth - g.padLeft + kw
                            guard iw >= 0 && iw < g.inputWidth else { continue }
                            for i in 0..<g.channels {
                                let x = input[((n * g.inputHeight + ih) * g.inputWidth + iw) * g.channels + i]
                                let w = kernel[((kh * g.windowWidth + kw) * g.channels + i) * filters + o]
                                sum += Double(x) * Double(w)
                            }
                        }
                    }
                    output[((n * g.outputHeight + oh) * g.outputWidth + ow) * filters + o] = Float(sum)
                }
            }
        }
    }
}
