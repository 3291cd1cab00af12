// Max pooling over NHWC batches. The fast version walks each window once with the channels innermost
// (contiguous in NHWC), eight channels at a time in registers; the reference walks one channel at a time.
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
                let outIndex = ((n * g.outputHeight + oh) * g.outputWidth + ow) * c
                let out = output + outIndex
                let arg = argmax + outIndex
                let first = ((n * g.inputHeight + h0) * g.inputWidth + w0) * c
                var ch = 0
                while ch + 8 <= c {
                    var best = UnsafeRawPointer(input + first + ch).loadUnaligned(as: SIMD8<Float>.self)
                    var bestIndex = SIMD8<Int32>(repeating: Int32(first + ch)) &+ SIMD8(0, 1, 2, 3, 4, 5, 6, 7)
                    for ih in h0..<h1 {
                        for iw in w0..<w1 {
                            let pixel = ((n * g.inputHeight + ih) * g.inputWidth + iw) * c + ch
                            let value = UnsafeRawPointer(input + pixel).loadUnaligned(as: SIMD8<Float>.self)
                            let greater = value .> best
                            best.replace(with: value, where: greater)
                            bestIndex.replace(with: SIMD8(repeating: Int32(pixel)) &+ SIMD8(0, 1, 2, 3, 4, 5, 6, 7),
                                              where: greater)
                        }
                    }
                    UnsafeMutableRawPointer(out + ch).storeBytes(of: best, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(arg + ch).storeBytes(of: bestIndex, as: SIMD8<Int32>.self)
                    ch += 8
                }
                for ch in ch..<c {
                    var best = input[first + ch], bestIndex = first + ch
                    for ih in h0..<h1 {
                        for iw in w0..<w1 {
                            let pixel = ((n * g.inputHeight + ih) * g.inputWidth + iw) * c + ch
                            if input[pixel] > best { (best, bestIndex) = (input[pixel], pixel) }
                        }
                    }
                    out[ch] = best
                    arg[ch] = Int32(bestIndex)
                }
            }
        }
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
/// zero where no output took its value. Every dInput value is written.
public func maxPoolBackward(_ dOutput: UnsafePointer<Float>, argmax: UnsafePointer<Int32>, _ g: WindowGeometry,
                            into dInput: UnsafeMutablePointer<Float>) {
    let inputCount = g.batch * g.inputSize
    guard g.strideHeight == g.windowHeight, g.strideWidth == g.windowWidth else {
        // Windows that overlap or leave gaps: clear, then add each output's gradient onto its maximum.
        dInput.update(repeating: 0, count: inputCount)
        for o in 0..<g.outputPixels * g.channels { dInput[Int(argmax[o])] += dOutput[o] }
        return
    }
    // Windows that tile the input: each input value lies in at most one window, so one pass writes it, the
    // output's gradient where it was the maximum and zero elsewhere, eight channels at a time.
    let c = g.channels, lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
    for n in 0..<g.batch {
        for oh in 0..<g.outputHeight {
            let h0 = max(oh * g.strideHeight - g.padTop, 0)
            let h1 = min(oh * g.strideHeight - g.padTop + g.windowHeight, g.inputHeight)
            for ow in 0..<g.outputWidth {
                let w0 = max(ow * g.strideWidth - g.padLeft, 0)
                let w1 = min(ow * g.strideWidth - g.padLeft + g.windowWidth, g.inputWidth)
                let o = ((n * g.outputHeight + oh) * g.outputWidth + ow) * c
                for ih in h0..<h1 {
                    for iw in w0..<w1 {
                        let pixel = ((n * g.inputHeight + ih) * g.inputWidth + iw) * c
                        var ch = 0
                        while ch + 8 <= c {
                            // All ones where this value was not the maximum: integer ops, because `.==` on
                            // SIMD8<Int32> compiles to a scalar loop.
                            let difference = UnsafeRawPointer(argmax + o + ch).loadUnaligned(as: SIMD8<Int32>.self)
                                ^ (SIMD8(repeating: Int32(pixel + ch)) &+ lanes)
                            let notMaximum = SIMD8<UInt32>(truncatingIfNeeded: (difference | (0 &- difference)) &>> 31)
                            let gradient = UnsafeRawPointer(dOutput + o + ch).loadUnaligned(as: SIMD8<UInt32>.self)
                            UnsafeMutableRawPointer(dInput + pixel + ch).storeBytes(of: gradient & ~notMaximum,
                                                                                    as: SIMD8<UInt32>.self)
                            ch += 8
                        }
                        for ch in ch..<c {
                            dInput[pixel + ch] = argmax[o + ch] == Int32(pixel + ch) ? dOutput[o + ch] : 0
                        }
                    }
                }
            }
        }
        // Rows and columns past the last window (an odd size under 'valid') took no part.
        let coveredHeight = min(g.outputHeight * g.strideHeight - g.padTop, g.inputHeight)
        let coveredWidth = min(g.outputWidth * g.strideWidth - g.padLeft, g.inputWidth)
        let image = dInput + n * g.inputSize
        for ih in 0..<g.inputHeight {
            let row = image + ih * g.inputWidth * c
            if ih >= coveredHeight {
                row.update(repeating: 0, count: g.inputWidth * c)
            } else if coveredWidth < g.inputWidth {
                (row + coveredWidth * c).update(repeating: 0, count: (g.inputWidth - coveredWidth) * c)
            }
        }
    }
}
