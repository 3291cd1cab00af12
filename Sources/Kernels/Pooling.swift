// Max pooling over NHWC batches. The fast version walks each window once with the channels innermost
// (contiguous in NHWC), eight channels at a time in registers (four when there are fewer than eight); the
// reference walks one channel at a time and records, for every output, the flat input index of its maximum.
// The maximum is the first one in row-major window order: later values replace it only when greater.
// Window positions in the 'same' padding fall outside the input and are skipped, never compared with zero.
//
// The fast backward pass keeps no argmax: the first input of a window that equals the window's maximum is where
// that maximum came from, so comparing input and output finds it again. The forward pass then stores only the
// maxima, and the backward pass writes each input gradient once, a vector at a time, where windows do not overlap.

/// output (N, OH, OW, C) from input (N, H, W, C).
public func maxPool(_ input: UnsafePointer<Float>, _ g: WindowGeometry, into output: UnsafeMutablePointer<Float>) {
    forEachWindow(input, g) { window, o in
        // Channel chunks of 8 (or 4 when there are fewer), the last one moved back to end at the last channel:
        // chunks that overlap compute the same values again.
        if g.channels >= 8 {
            // A whole 2x2 window, the usual one, gets loops of constant length, unrolled.
            if window.rows == 2 && window.columns == 2 {
                forEachChunk(channels: g.channels, width: 8) {
                    window.maximum8(ofChannels: $0, rows: 2, columns: 2, into: output + o)
                }
            } else {
                forEachChunk(channels: g.channels, width: 8) {
                    window.maximum8(ofChannels: $0, rows: window.rows, columns: window.columns, into: output + o)
                }
            }
        } else if g.channels >= 4 {
            forEachChunk(channels: g.channels, width: 4) { window.maximum4(ofChannels: $0, into: output + o) }
        } else {
            for ch in 0..<g.channels { window.maximum(ofChannel: ch, into: output + o) }
        }
    }
}

/// In the forward pass this was: output[o] = input[argmax o], argmax o the first input of window o that equals
/// output[o]; so now dInput[argmax o] += dOutput[o], and zero where no output took its value. Every dInput value
/// is written (a -0 gradient as +0, the sum it is). `throughReLU` (the input is a ReLU's output) passes the
/// gradient of ReLU as well: nothing where the maximum is not above zero, which is where ReLU's gradient is zero;
/// the layer before then leaves it out.
public func maxPoolBackward(_ dOutput: UnsafePointer<Float>, input: UnsafePointer<Float>, output: UnsafePointer<Float>,
                            _ g: WindowGeometry, throughReLU: Bool, into dInput: UnsafeMutablePointer<Float>) {
    let disjoint = g.strideHeight >= g.windowHeight && g.strideWidth >= g.windowWidth
    guard disjoint else {
        // Overlapping windows add into the inputs they share, one channel at a time.
        dInput.update(repeating: 0, count: g.batch * g.inputSize)
        forEachWindow(input, g) { window, o in
            for ch in 0..<g.channels where !throughReLU || output[o + ch] > 0 {
                if let source = window.source(ofChannel: ch, maximum: output[o + ch]) { dInput[source] += dOutput[o + ch] }
            }
        }
        return
    }
    clearInputsOutsideWindows(g, dInput)
    forEachWindow(input, g) { window, o in
        if g.channels >= 8 {
            if window.rows == 2 && window.columns == 2 {
                forEachChunk(channels: g.channels, width: 8) {
                    window.route8(ofChannels: $0, rows: 2, columns: 2, maximum: output + o, gradient: dOutput + o,
                                  throughReLU: throughReLU, into: dInput)
                }
            } else {
                forEachChunk(channels: g.channels, width: 8) {
                    window.route8(ofChannels: $0, rows: window.rows, columns: window.columns, maximum: output + o,
                                  gradient: dOutput + o, throughReLU: throughReLU, into: dInput)
                }
            }
        } else if g.channels >= 4 {
            forEachChunk(channels: g.channels, width: 4) {
                window.route4(ofChannels: $0, maximum: output + o, gradient: dOutput + o, throughReLU: throughReLU, into: dInput)
            }
        } else {
            for ch in 0..<g.channels {
                window.clear(channel: ch, in: dInput)
                if throughReLU && !(output[o + ch] > 0) { continue }
                if let source = window.source(ofChannel: ch, maximum: output[o + ch]) { dInput[source] = dOutput[o + ch] + 0 }
            }
        }
    }
}

/// Zeroes the input gradients that no window reads, before disjoint windows write theirs: rows and columns past the
/// last window, and everything when strides leave gaps between windows.
private func clearInputsOutsideWindows(_ g: WindowGeometry, _ dInput: UnsafeMutablePointer<Float>) {
    guard g.strideHeight == g.windowHeight && g.strideWidth == g.windowWidth else {
        dInput.update(repeating: 0, count: g.batch * g.inputSize)
        return
    }
    // Windows start at or before the first row and column ('same' padding puts them before), so only the last
    // rows and columns can be left out.
    let rows = min(g.inputHeight, g.outputHeight * g.windowHeight - g.padTop)
    let columns = min(g.inputWidth, g.outputWidth * g.windowWidth - g.padLeft)
    let rowLength = g.inputWidth * g.channels, outside = (g.inputWidth - columns) * g.channels
    for n in 0..<g.batch {
        let sample = dInput + n * g.inputSize
        if outside > 0 {
            for r in 0..<rows { (sample + r * rowLength + columns * g.channels).update(repeating: 0, count: outside) }
        }
        (sample + rows * rowLength).update(repeating: 0, count: (g.inputHeight - rows) * rowLength)
    }
}

/// Calls `body` with every window of the batch, clipped to the input, and the flat index of its first output.
@inline(__always)
private func forEachWindow(_ input: UnsafePointer<Float>, _ g: WindowGeometry, _ body: (PoolWindow, Int) -> Void) {
    for n in 0..<g.batch {
        for oh in 0..<g.outputHeight {
            let h0 = max(oh * g.strideHeight - g.padTop, 0)
            let h1 = min(oh * g.strideHeight - g.padTop + g.windowHeight, g.inputHeight)
            for ow in 0..<g.outputWidth {
                let w0 = max(ow * g.strideWidth - g.padLeft, 0)
                let w1 = min(ow * g.strideWidth - g.padLeft + g.windowWidth, g.inputWidth)
                let window = PoolWindow(input: input, first: ((n * g.inputHeight + h0) * g.inputWidth + w0) * g.channels,
                                        rows: h1 - h0, columns: w1 - w0, rowStride: g.inputWidth * g.channels,
                                        channels: g.channels)
                body(window, ((n * g.outputHeight + oh) * g.outputWidth + ow) * g.channels)
            }
        }
    }
}

/// Calls `body` with 0, width, 2·width, ... and, if those leave channels over, with channels - width
/// (channels >= width).
@inline(__always)
private func forEachChunk(channels: Int, width: Int, _ body: (Int) -> Void) {
    var start = 0
    while true {
        body(start)
        if start + width >= channels { return }
        start = min(start + width, channels - width)
    }
}

/// One pooling window of the input: `rows` × `columns` pixels from flat index `first`. Concrete SIMD types:
/// generic SIMD code compiles to loops over the lanes.
private struct PoolWindow {
    let input: UnsafePointer<Float>
    let first: Int, rows: Int, columns: Int, rowStride: Int, channels: Int

    /// Flat input index of the window's pixel `r`, `w`, channel `ch`.
    @inline(__always)
    func index(_ r: Int, _ w: Int, _ ch: Int) -> Int { first + r * rowStride + w * channels + ch }

    @inline(__always)
    func load8(_ r: Int, _ w: Int, _ ch: Int) -> SIMD8<Float> {
        UnsafeRawPointer(input + index(r, w, ch)).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    func load4(_ r: Int, _ w: Int, _ ch: Int) -> SIMD4<Float> {
        UnsafeRawPointer(input + index(r, w, ch)).loadUnaligned(as: SIMD4<Float>.self)
    }

    /// The maximum over the window (its `rows` and `columns`, passed so that a caller can make them constants) of
    /// channels [ch, ch + 8).
    @inline(__always)
    func maximum8(ofChannels ch: Int, rows: Int, columns: Int, into output: UnsafeMutablePointer<Float>) {
        var best = load8(0, 0, ch)
        for r in 0..<rows {
            for w in 0..<columns {
                let value = load8(r, w, ch)
                best.replace(with: value, where: value .> best)
            }
        }
        UnsafeMutableRawPointer(output + ch).storeBytes(of: best, as: SIMD8<Float>.self)
    }

    /// `maximum8` for four channels.
    @inline(__always)
    func maximum4(ofChannels ch: Int, into output: UnsafeMutablePointer<Float>) {
        var best = load4(0, 0, ch)
        for r in 0..<rows {
            for w in 0..<columns {
                let value = load4(r, w, ch)
                best.replace(with: value, where: value .> best)
            }
        }
        UnsafeMutableRawPointer(output + ch).storeBytes(of: best, as: SIMD4<Float>.self)
    }

    /// The same for one channel.
    @inline(__always)
    func maximum(ofChannel ch: Int, into output: UnsafeMutablePointer<Float>) {
        var best = input[index(0, 0, ch)]
        for r in 0..<rows {
            for w in 0..<columns where input[index(r, w, ch)] > best { best = input[index(r, w, ch)] }
        }
        output[ch] = best
    }

    /// Writes channels [ch, ch + 8) of the window's input gradient: `gradient` at the first pixel equal to
    /// `maximum`, zero at the others. A lane's target turns NaN once found, so that no later pixel equals it.
    /// The first pixel takes a NaN maximum as well, since only it can hold one: it is found where it is not below
    /// the maximum. Through ReLU, the gradient of a maximum not above zero is zero before it is routed.
    @inline(__always)
    func route8(ofChannels ch: Int, rows: Int, columns: Int, maximum: UnsafePointer<Float>, gradient: UnsafePointer<Float>,
                throughReLU: Bool, into dInput: UnsafeMutablePointer<Float>) {
        var target = UnsafeRawPointer(maximum + ch).loadUnaligned(as: SIMD8<Float>.self)
        var passing = UnsafeRawPointer(gradient + ch).loadUnaligned(as: SIMD8<Float>.self)
        if throughReLU { passing = SIMD8<Float>().replacing(with: passing, where: target .> 0) }
        for r in 0..<rows {
            for w in 0..<columns {
                let value = load8(r, w, ch)
                let found = r == 0 && w == 0 ? .!(value .< target) : value .== target
                UnsafeMutableRawPointer(dInput + index(r, w, ch))
                    .storeBytes(of: SIMD8<Float>().replacing(with: passing, where: found) + 0, as: SIMD8<Float>.self)
                target.replace(with: .nan, where: found)
            }
        }
    }

    /// `route8` for four channels.
    @inline(__always)
    func route4(ofChannels ch: Int, maximum: UnsafePointer<Float>, gradient: UnsafePointer<Float>, throughReLU: Bool,
                into dInput: UnsafeMutablePointer<Float>) {
        var target = UnsafeRawPointer(maximum + ch).loadUnaligned(as: SIMD4<Float>.self)
        var passing = UnsafeRawPointer(gradient + ch).loadUnaligned(as: SIMD4<Float>.self)
        if throughReLU { passing = SIMD4<Float>().replacing(with: passing, where: target .> 0) }
        for r in 0..<rows {
            for w in 0..<columns {
                let value = load4(r, w, ch)
                let found = r == 0 && w == 0 ? .!(value .< target) : value .== target
                UnsafeMutableRawPointer(dInput + index(r, w, ch))
                    .storeBytes(of: SIMD4<Float>().replacing(with: passing, where: found) + 0, as: SIMD4<Float>.self)
                target.replace(with: .nan, where: found)
            }
        }
    }

    /// Zero gradient for channel `ch` of every pixel of the window.
    @inline(__always)
    func clear(channel ch: Int, in dInput: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { for w in 0..<columns { dInput[index(r, w, ch)] = 0 } }
    }

    /// Flat input index where channel `ch`'s `maximum` came from: its first pixel equal to it (the first pixel for
    /// a NaN); nil for an empty window.
    @inline(__always)
    func source(ofChannel ch: Int, maximum: Float) -> Int? {
        guard rows > 0, columns > 0 else { return nil }
        if maximum.isNaN { return index(0, 0, ch) }
        for r in 0..<rows {
            for w in 0..<columns where input[index(r, w, ch)] == maximum { return index(r, w, ch) }
        }
        return nil
    }
}

/// Reference max pooling: for each output value, scan its window in row-major order.
public func maxPoolReference(_ input: UnsafePointer<Float>, _ g: WindowGeometry,
                             into output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
    for n in 0..<g.batch {
        for ch in 0..<g.channels {
            for oh in 0..<g.outputHeight {
                for ow in 0..<g.outputWidth {
                    var best = -Float.infinity
                    var bestIndex = -1
                    for kh in 0..<g.windowHeight {
                        let ih = oh * g.strideHeight - g.padTop + kh
                        guard ih >= 0 && ih < g.inputHeight else { continue }
                        for kw in 0..<g.windowWidth {
                            let iw = ow * g.strideWidth - g.padLeft + kw
                            guard iw >= 0 && iw < g.inputWidth else { continue }
                            let index = ((n * g.inputHeight + ih) * g.inputWidth + iw) * g.channels + ch
                            if bestIndex < 0 || input[index] > best {
                                best = input[index]
                                bestIndex = index
                            }
                        }
                    }
                    let o = ((n * g.outputHeight + oh) * g.outputWidth + ow) * g.channels + ch
                    output[o] = best
                    argmax[o] = Int32(bestIndex)
                }
            }
        }
    }
}

/// The reference backward pass from the reference argmax: dInput[argmax[o]] += dOutput[o], zero elsewhere.
public func maxPoolBackwardReference(_ dOutput: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, _ g: WindowGeometry,
                                     into dInput: UnsafeMutablePointer<Float>) {
    dInput.update(repeating: 0, count: g.batch * g.inputSize)
    for o in 0..<g.outputPixels * g.channels { dInput[Int(argmax[o])] += dOutput[o] }
}
