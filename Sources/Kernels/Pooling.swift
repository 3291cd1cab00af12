// Max pooling over NHWC batches. The fast version walks each window once with the channels innermost
// (contiguous in NHWC), eight channels at a time in registers (four when there are fewer than eight); the
// reference walks one channel at a time.
// Both record, for every output, the flat input index of its maximum (the first one on ties) for backward.
// Window positions in the 'same' padding fall outside the input and are skipped, never compared with zero.

/// output (N, OH, OW, C) and argmax (same count) from input (N, H, W, C).
public func maxPool(_ input: UnsafePointer<Float>, _ g: WindowGeometry, into output: UnsafeMutablePointer<Float>,
                    argmax: UnsafeMutablePointer<Int32>) {
    let c = g.channels
    for n in 0..<g.batch {
        for oh in 0..<g.outputHeight {
            let h0 = max(oh * g.strideHeight - g.padTop, 0)
            let h1 = min(oh * g.strideHeight - g.padTop + g.windowHeight, g.inputHeight)
            for ow in 0..<g.outputWidth {
                let w0 = max(ow * g.strideWidth - g.padLeft, 0)
                let w1 = min(ow * g.strideWidth - g.padLeft + g.windowWidth, g.inputWidth)
                let window = PoolWindow(input: input, first: ((n * g.inputHeight + h0) * g.inputWidth + w0) * c,
                                        rows: h1 - h0, columns: w1 - w0, rowStride: g.inputWidth * c, channels: c)
                let o = ((n * g.outputHeight + oh) * g.outputWidth + ow) * c
                // Channel chunks of 8 (or 4 when there are fewer), the last one moved back to end at the last
                // channel: chunks that overlap compute the same values again.
                if c >= 8 {
                    forEachChunk(channels: c, width: 8) { window.maximum8(ofChannels: $0, into: output + o, argmax: argmax + o) }
                } else if c >= 4 {
                    forEachChunk(channels: c, width: 4) { window.maximum4(ofChannels: $0, into: output + o, argmax: argmax + o) }
                } else {
                    for ch in 0..<c { window.maximum(ofChannel: ch, into: output + o, argmax: argmax + o) }
                }
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

/// One pooling window of the input: `rows` × `columns` pixels from flat index `first`.
private struct PoolWindow {
    let input: UnsafePointer<Float>
    let first: Int, rows: Int, columns: Int, rowStride: Int, channels: Int

    /// The maximum over the window of channels [ch, ch + 8) and the flat index where each first occurs, in
    /// row-major window order. Where the maximum sits is tracked as its offset from `first` in float lanes,
    /// because masks of float comparisons select float lanes without conversion; offsets stay within one
    /// sample's values, far below 2^24, where floats hold integers exactly (the model checks cap a sample's
    /// activations). Concrete SIMD types: generic SIMD code compiles to loops over the lanes.
    @inline(__always)
    func maximum8(ofChannels ch: Int, into output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
        var best = UnsafeRawPointer(input + first + ch).loadUnaligned(as: SIMD8<Float>.self)
        var bestOffset = SIMD8<Float>()
        for r in 0..<rows {
            for w in 0..<columns {
                let offset = r * rowStride + w * channels
                let value = UnsafeRawPointer(input + first + offset + ch).loadUnaligned(as: SIMD8<Float>.self)
                let greater = value .> best
                best.replace(with: value, where: greater)
                bestOffset.replace(with: SIMD8(repeating: Float(offset)), where: greater)
            }
        }
        UnsafeMutableRawPointer(output + ch).storeBytes(of: best, as: SIMD8<Float>.self)
        // Lane by lane: SIMD8<Int32>(_:) of floats is a generic conversion loop.
        for lane in 0..<8 { argmax[ch + lane] = Int32(bestOffset[lane]) + Int32(first + ch + lane) }
    }

    /// `maximum8` for four channels.
    @inline(__always)
    func maximum4(ofChannels ch: Int, into output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
        var best = UnsafeRawPointer(input + first + ch).loadUnaligned(as: SIMD4<Float>.self)
        var bestOffset = SIMD4<Float>()
        for r in 0..<rows {
            for w in 0..<columns {
                let offset = r * rowStride + w * channels
                let value = UnsafeRawPointer(input + first + offset + ch).loadUnaligned(as: SIMD4<Float>.self)
                let greater = value .> best
                best.replace(with: value, where: greater)
                bestOffset.replace(with: SIMD4(repeating: Float(offset)), where: greater)
            }
        }
        UnsafeMutableRawPointer(output + ch).storeBytes(of: best, as: SIMD4<Float>.self)
        for lane in 0..<4 { argmax[ch + lane] = Int32(bestOffset[lane]) + Int32(first + ch + lane) }
    }

    /// The same for one channel.
    @inline(__always)
    func maximum(ofChannel ch: Int, into output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>) {
        var best = input[first + ch], bestOffset = 0
        for r in 0..<rows {
            for w in 0..<columns where input[first + r * rowStride + w * channels + ch] > best {
                (best, bestOffset) = (input[first + r * rowStride + w * channels + ch], r * rowStride + w * channels)
            }
        }
        output[ch] = best
        argmax[ch] = Int32(first + bestOffset + ch)
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

/// In the forward pass this was: output[o] = input[argmax[o]]; so now: dInput[argmax[o]] += dOutput[o], and
/// zero where no output took its value. Every dInput value is written. Clearing and then scattering measured
/// faster than writing each input value once from its window, for 2x2 pools of 6 to 64 channels.
public func maxPoolBackward(_ dOutput: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, _ g: WindowGeometry,
                            into dInput: UnsafeMutablePointer<Float>) {
    dInput.update(repeating: 0, count: g.batch * g.inputSize)
    for o in 0..<g.outputPixels * g.channels { dInput[Int(argmax[o])] += dOutput[o] }
}
