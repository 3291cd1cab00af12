// Convolution over NHWC batches by im2col + SGEMM, with the direct seven-loop convolution kept beside it as the
// reference. Kernels use the Keras layout [kh, kw, in, out], which read as a [kh*kw*in, out] matrix is exactly
// the right operand for an im2col matrix whose columns run (kh, kw, in).

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
    public let inputHeight: Int, inputWidth: Int, channels: Int
    public let windowHeight: Int, windowWidth: Int, strideHeight: Int, strideWidth: Int
    public let outputHeight: Int, outputWidth: Int, padTop: Int, padLeft: Int

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
