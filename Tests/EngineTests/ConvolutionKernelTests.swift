import Engine
import XCTest

/// The in-place convolution (under every kernel ISA) and im2col + SGEMM against the direct seven-loop reference;
/// col2im as the exact adjoint of im2col;
/// fast max pooling against the reference, for every padding mode, strides and odd sizes.
final class ConvolutionKernelTests: XCTestCase {
    struct Case { let n, h, w, c, kh, kw, sh, sw: Int; let padding: Padding }

    static let cases: [Case] = [
        Case(n: 2, h: 7, w: 7, c: 1, kh: 3, kw: 3, sh: 1, sw: 1, padding: .valid),
        Case(n: 1, h: 7, w: 9, c: 3, kh: 5, kw: 5, sh: 1, sw: 1, padding: .same),
        Case(n: 3, h: 8, w: 7, c: 2, kh: 3, kw: 2, sh: 2, sw: 2, padding: .same),
        Case(n: 1, h: 9, w: 9, c: 4, kh: 4, kw: 4, sh: 2, sw: 3, padding: .valid),
        Case(n: 2, h: 1, w: 1, c: 7, kh: 1, kw: 1, sh: 1, sw: 1, padding: .valid),
        Case(n: 1, h: 3, w: 3, c: 2, kh: 5, kw: 5, sh: 1, sw: 1, padding: .same),
    ]

    func geometry(_ c: Case) -> WindowGeometry {
        WindowGeometry(batch: c.n, inputHeight: c.h, inputWidth: c.w, channels: c.c, windowHeight: c.kh,
                       windowWidth: c.kw, strideHeight: c.sh, strideWidth: c.sw, padding: c.padding)
    }

    func testIm2colConvolutionMatchesDirectReference() {
        for (index, testCase) in Self.cases.enumerated() {
            let g = geometry(testCase)
            let filters = 5
            let input = randomScalars(g.batch * g.inputHeight * g.inputWidth * g.channels, seed: UInt64(index))
            let kernel = randomScalars(g.patchSize * filters, seed: 100 + UInt64(index))
            var col = [Float](repeating: 0, count: g.outputPixels * g.patchSize)
            var fast = [Float](repeating: 0, count: g.outputPixels * filters)
            var reference = fast
            col.withUnsafeMutableBufferPointer { colp in
                im2col(input, g, into: colp.baseAddress!)
                fast.withUnsafeMutableBufferPointer {
                    sgemm(transposeA: false, transposeB: false, m: g.outputPixels, n: filters, k: g.patchSize,
                          a: colp.baseAddress!, lda: g.patchSize, b: kernel, ldb: filters, c: $0.baseAddress!,
                          ldc: filters, accumulate: false)
                }
            }
            reference.withUnsafeMutableBufferPointer {
                convolutionReference(input, g, kernel: kernel, bias: nil, filters: filters, into: $0.baseAddress!)
            }
            // Sums of at most patchSize (≤ 75) terms in [-1, 1]: 2·75·2⁻²⁴·75 < 1e-3; 1e-4 holds in practice
            // because the terms have mixed signs. See GEMMTests for the per-element bound.
            assertClose(fast, reference, atol: 1e-4, "case \(index)")
        }
    }

    /// Cases for the in-place convolution beyond `cases`: one channel as in a first layer, windows wider than
    /// one depth block (5 x 100 = 500 values a kernel row, so one kernel row a block), three kernel rows of
    /// 160 values in blocks of two, and more output pixels than one row block (3 x 121 > 120).
    static let convolveCases: [Case] = [
        Case(n: 2, h: 12, w: 11, c: 1, kh: 3, kw: 3, sh: 1, sw: 1, padding: .valid),
        Case(n: 1, h: 6, w: 6, c: 100, kh: 2, kw: 5, sh: 1, sw: 1, padding: .valid),
        Case(n: 2, h: 5, w: 6, c: 32, kh: 3, kw: 5, sh: 1, sw: 1, padding: .same),
        Case(n: 3, h: 13, w: 13, c: 4, kh: 3, kw: 3, sh: 1, sw: 1, padding: .valid),
    ]

    func testInPlaceConvolutionMatchesDirectReferenceOnEveryISA() {
        for (index, testCase) in (Self.cases + Self.convolveCases).enumerated() {
            let g = geometry(testCase)
            // Bias and ReLU (which the AVX-512 tile applies as it stores), bias alone, neither; filters for the
            // narrow tile (1, 5) and the wide one (17, 32).
            for (filters, withBias, activation) in [(1, true, Activation.relu), (5, true, .relu), (17, true, .relu),
                                                    (32, true, .relu), (17, true, .linear), (32, false, .linear),
                                                    (32, false, .relu), (5, false, .tanh)] {
                let input = randomScalars(g.batch * g.inputSize, seed: UInt64(index))
                let kernel = randomScalars(g.patchSize * filters, seed: 100 + UInt64(index))
                let bias = withBias ? randomScalars(filters, seed: 400 + UInt64(index)) : nil
                var reference = [Float](repeating: 0, count: g.outputPixels * filters)
                reference.withUnsafeMutableBufferPointer {
                    convolutionReference(input, g, kernel: kernel, bias: bias, filters: filters, into: $0.baseAddress!)
                    activation.forward($0.baseAddress!, rows: g.outputPixels, columns: filters)
                }
                let results = onEveryKernelISA {
                    // NaN everywhere first: the convolution must write every output.
                    var output = [Float](repeating: .nan, count: reference.count)
                    output.withUnsafeMutableBufferPointer {
                        convolve(input, g, kernel: kernel, filters: filters, bias: bias, activation: activation,
                                 into: $0.baseAddress!)
                    }
                    return output
                }
                // Sums of at most 1,000 terms in [-1, 1] with mixed signs; see GEMMTests for the bound.
                assertEveryISA(results, closeTo: reference, atol: 2e-4,
                               "case \(index), \(filters) filters, bias \(withBias), \(activation)")
            }
        }
    }

    func testInPlaceKernelGradientMatchesDefinitionOnEveryISA() {
        for (index, testCase) in (Self.cases + Self.convolveCases).enumerated() {
            let g = geometry(testCase)
            for filters in [1, 5, 17, 32] {
                let input = randomScalars(g.batch * g.inputSize, seed: UInt64(index))
                let outputGradient = randomScalars(g.outputPixels * filters, seed: 200 + UInt64(index))
                // The gradient accumulates: start from values already there.
                let start = randomScalars(g.patchSize * filters, seed: 300 + UInt64(index))
                var reference = start.map(Double.init)
                for n in 0..<g.batch {
                    for oh in 0..<g.outputHeight {
                        for ow in 0..<g.outputWidth {
                            let pixel = (n * g.outputHeight + oh) * g.outputWidth + ow
                            for kh in 0..<g.windowHeight {
                                let ih = oh * g.strideHeight - g.padTop + kh
                                for kw in 0..<g.windowWidth {
                                    let iw = ow * g.strideWidth - g.padLeft + kw
                                    guard ih >= 0, ih < g.inputHeight, iw >= 0, iw < g.inputWidth else { continue }
                                    for i in 0..<g.channels {
                                        let x = Double(input[((n * g.inputHeight + ih) * g.inputWidth + iw) * g.channels + i])
                                        for o in 0..<filters {
                                            reference[((kh * g.windowWidth + kw) * g.channels + i) * filters + o] +=
                                                x * Double(outputGradient[pixel * filters + o])
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                let results = onEveryKernelISA {
                    var gradient = start
                    gradient.withUnsafeMutableBufferPointer {
                        convolutionKernelGradient(input, g, outputGradient: outputGradient, filters: filters,
                                                  into: $0.baseAddress!)
                    }
                    return gradient
                }
                // Sums of up to 507 products in [-1, 1] with mixed signs.
                assertEveryISA(results, closeTo: reference.map(Float.init), atol: 2e-4,
                               "case \(index), \(filters) filters")
            }
        }
    }

    func testInputGradientAsAConvolutionEqualsCol2imOfItsColumns() {
        // Stride 1, 'same' (odd and even kernels, whose padding is uneven) and 'valid'.
        let strideOne = [
            Case(n: 2, h: 14, w: 14, c: 6, kh: 5, kw: 5, sh: 1, sw: 1, padding: .same),  // lenet5's conv2d_1
            Case(n: 1, h: 7, w: 9, c: 3, kh: 4, kw: 4, sh: 1, sw: 1, padding: .same),
            Case(n: 2, h: 6, w: 5, c: 1, kh: 3, kw: 2, sh: 1, sw: 1, padding: .same),
            Case(n: 1, h: 9, w: 8, c: 5, kh: 3, kw: 3, sh: 1, sw: 1, padding: .valid),
        ]
        for (index, testCase) in strideOne.enumerated() {
            let g = geometry(testCase)
            for filters in [1, 5, 16] {
                let kernel = randomScalars(g.patchSize * filters, seed: 600 + UInt64(index))
                let outputGradient = randomScalars(g.outputPixels * filters, seed: 700 + UInt64(index))
                // dx = col2im(dz · Wᵀ) by the reference GEMM.
                var columns = [Float](repeating: 0, count: g.outputPixels * g.patchSize)
                columns.withUnsafeMutableBufferPointer {
                    sgemmReference(transposeA: false, transposeB: true, m: g.outputPixels, n: g.patchSize, k: filters,
                                   a: outputGradient, lda: filters, b: kernel, ldb: filters, c: $0.baseAddress!,
                                   ldc: g.patchSize, accumulate: false)
                }
                var expected = [Float](repeating: 0, count: g.batch * g.inputSize)
                expected.withUnsafeMutableBufferPointer { col2im(columns, g, into: $0.baseAddress!) }
                var turned = [Float](repeating: 0, count: kernel.count)
                turned.withUnsafeMutableBufferPointer { turnedKernel(kernel, g, filters: filters, into: $0.baseAddress!) }
                let results = onEveryKernelISA {
                    var inputGradient = [Float](repeating: .nan, count: expected.count)
                    inputGradient.withUnsafeMutableBufferPointer {
                        convolve(outputGradient, g.inputGradientWindows(filters: filters), kernel: turned,
                                 filters: g.channels, into: $0.baseAddress!)
                    }
                    return inputGradient
                }
                assertEveryISA(results, closeTo: expected, atol: 2e-5, "case \(index), \(filters) filters")
            }
        }
    }

    func testCol2imIsTheAdjointOfIm2col() {
        // <im2col(x), y> = <x, col2im(y)> for all x, y: the backward pass is the transpose of the forward pass.
        for (index, testCase) in Self.cases.enumerated() {
            let g = geometry(testCase)
            let x = randomScalars(g.batch * g.inputHeight * g.inputWidth * g.channels, seed: UInt64(index))
            let y = randomScalars(g.outputPixels * g.patchSize, seed: 50 + UInt64(index))
            var col = [Float](repeating: 0, count: y.count)
            var back = [Float](repeating: 0, count: x.count)
            col.withUnsafeMutableBufferPointer { im2col(x, g, into: $0.baseAddress!) }
            back.withUnsafeMutableBufferPointer { col2im(y, g, into: $0.baseAddress!) }
            let lhs = zip(col, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(x, back).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(1, abs(lhs)), "case \(index)")
        }
    }

    func testSamePaddingFollowsTensorFlow() {
        // TensorFlow: output ceil(in / stride); the odd padding pixel goes at the end.
        XCTAssertTrue(windowOutput(input: 28, window: 5, stride: 1, padding: .same) == (28, 2))
        XCTAssertTrue(windowOutput(input: 8, window: 3, stride: 2, padding: .same) == (4, 0))
        XCTAssertTrue(windowOutput(input: 7, window: 3, stride: 2, padding: .same) == (4, 1))
        XCTAssertTrue(windowOutput(input: 5, window: 2, stride: 2, padding: .same) == (3, 0))
        XCTAssertTrue(windowOutput(input: 11, window: 2, stride: 2, padding: .valid) == (5, 0))
        XCTAssertTrue(windowOutput(input: 3, window: 5, stride: 1, padding: .valid) == (0, 0))
    }

    /// Pooling cases with 8 or more channels, where the fast kernel takes its eight-channel SIMD path (and the
    /// scalar path for the rest): 8, 9, 16 and 17 channels.
    static let wideCases: [Case] = [
        Case(n: 2, h: 6, w: 6, c: 8, kh: 2, kw: 2, sh: 2, sw: 2, padding: .valid),
        Case(n: 1, h: 7, w: 5, c: 9, kh: 3, kw: 3, sh: 2, sw: 2, padding: .same),
        Case(n: 1, h: 5, w: 5, c: 16, kh: 3, kw: 2, sh: 1, sw: 2, padding: .valid),
        Case(n: 2, h: 4, w: 7, c: 17, kh: 2, kw: 3, sh: 2, sw: 1, padding: .same),
    ]

    /// Pool inputs from {0, 1, 2}: most windows hold their maximum more than once, and the kernels must pick the
    /// first in row-major window order. Every 37th value is NaN (the first pixel of some windows, a later one of
    /// others), which a window's maximum keeps only from its first pixel.
    func poolInput(_ count: Int, seed: UInt64) -> [Float] {
        randomScalars(count, seed: seed, in: 0, 2.999).enumerated().map { $0 % 37 == 36 ? .nan : $1.rounded(.down) }
    }

    func testMaxPoolFastMatchesReference() {
        for (index, testCase) in (Self.cases + Self.wideCases).enumerated() {
            let g = geometry(testCase)
            let input = poolInput(g.batch * g.inputSize, seed: UInt64(index))
            let count = g.outputPixels * g.channels
            var fast = [Float](repeating: 0, count: count), reference = fast
            var referenceArgmax = [Int32](repeating: 0, count: count)
            fast.withUnsafeMutableBufferPointer { maxPool(input, g, into: $0.baseAddress!) }
            reference.withUnsafeMutableBufferPointer { out in
                referenceArgmax.withUnsafeMutableBufferPointer {
                    maxPoolReference(input, g, into: out.baseAddress!, argmax: $0.baseAddress!)
                }
            }
            XCTAssertEqual(fast.map(\.bitPattern), reference.map(\.bitPattern), "case \(index)")
        }
    }

    func testMaxPoolBackwardWritesEveryInputGradient() {
        // Pool-shaped cases (odd sizes, 'same' padding, gaps between windows) and the general ones (overlaps):
        // each input's gradient is the sum of the output gradients whose maximum it is, by the reference
        // pooling's argmax, and zero elsewhere; through ReLU, also zero where the input is not above zero.
        // Every value is written (the output starts as NaN).
        let tiling = [
            Case(n: 2, h: 13, w: 13, c: 32, kh: 2, kw: 2, sh: 2, sw: 2, padding: .valid),
            Case(n: 1, h: 7, w: 5, c: 9, kh: 3, kw: 3, sh: 3, sw: 3, padding: .same),
            Case(n: 2, h: 5, w: 6, c: 3, kh: 2, kw: 2, sh: 2, sw: 2, padding: .same),
            Case(n: 1, h: 11, w: 11, c: 6, kh: 2, kw: 2, sh: 2, sw: 2, padding: .valid),
            Case(n: 1, h: 9, w: 8, c: 12, kh: 2, kw: 2, sh: 3, sw: 3, padding: .valid),
        ]
        for (index, testCase) in (tiling + Self.cases + Self.wideCases).enumerated() {
            let g = geometry(testCase)
            let input = poolInput(g.batch * g.inputSize, seed: UInt64(index))
            let count = g.outputPixels * g.channels
            var output = [Float](repeating: 0, count: count), referenceArgmax = [Int32](repeating: 0, count: count)
            output.withUnsafeMutableBufferPointer { maxPool(input, g, into: $0.baseAddress!) }
            var referenceOutput = output
            referenceOutput.withUnsafeMutableBufferPointer { out in
                referenceArgmax.withUnsafeMutableBufferPointer {
                    maxPoolReference(input, g, into: out.baseAddress!, argmax: $0.baseAddress!)
                }
            }
            // Every 5th gradient -0, which the sums the reference builds turn into +0.
            let outputGradient = randomScalars(count, seed: 500 + UInt64(index)).enumerated().map { $0 % 5 == 4 ? -0.0 : $1 }
            let expected = (0..<input.count).map { i in
                (0..<count).reduce(Float(0)) { referenceArgmax[$1] == Int32(i) ? $0 + outputGradient[$1] : $0 }
            }
            var referenceGradient = [Float](repeating: .nan, count: input.count)
            referenceGradient.withUnsafeMutableBufferPointer {
                maxPoolBackwardReference(outputGradient, argmax: referenceArgmax, g, into: $0.baseAddress!)
            }
            XCTAssertEqual(referenceGradient.map(\.bitPattern), expected.map(\.bitPattern), "case \(index): the reference")
            for throughReLU in [false, true] {
                var inputGradient = [Float](repeating: .nan, count: input.count)
                inputGradient.withUnsafeMutableBufferPointer {
                    maxPoolBackward(outputGradient, input: input, output: output, g, throughReLU: throughReLU,
                                    into: $0.baseAddress!)
                }
                // ReLU's gradient passes where its output is above zero (Activation.relu.backward).
                let wanted = throughReLU ? zip(expected, input).map { $1 > 0 ? $0 : 0 } : expected
                XCTAssertEqual(inputGradient.map(\.bitPattern), wanted.map(\.bitPattern),
                               "case \(index), through ReLU: \(throughReLU)")
            }
        }
    }

    func testReLUConvolutionBeforePoolingLeavesItsGradientToThePool() throws {
        // The model hands ReLU's gradient to the pool; the same layers as separate steps (an Activation layer
        // between) must give the same gradients bit for bit.
        let fused = try Sequential([.conv2D(8, kernelSize: 3, activation: .relu), .maxPooling2D(), .flatten],
                                   inputShape: [9, 9, 2], seed: 3)
        let apart = try Sequential([.conv2D(8, kernelSize: 3), .activation(.relu), .maxPooling2D(), .flatten],
                                   inputShape: [9, 9, 2], seed: 3)
        let x = randomTensor([3, 9, 9, 2], seed: 4), upstream = randomTensor([3, 3 * 3 * 8], seed: 5)
        var results: [(Tensor, Tensor, [Float])] = []
        for model in [fused, apart] {
            model.store.zeroGradients()
            let y = model.forward(x, training: true)
            let dx = model.backward(upstream)
            results.append((y, dx, Array(model.store.gradients)))
        }
        XCTAssertEqual((fused.layers[0] as? Conv2D)?.nextLayerAppliesActivationGradient, true)
        XCTAssertEqual((fused.layers[1] as? MaxPooling2D)?.appliesInputReLUGradient, true)
        XCTAssertEqual((apart.layers[2] as? MaxPooling2D)?.appliesInputReLUGradient, false)
        XCTAssertEqual(results[0].0, results[1].0)
        XCTAssertEqual(results[0].1, results[1].1)
        XCTAssertEqual(results[0].2, results[1].2)
        XCTAssertTrue(results[0].2.contains { $0 != 0 })
    }

    func testConv2DInSlicesEqualsSampleBySample() throws {
        // 12x12x32 input, 5x5 kernel, 64 filters: 205 KiB of im2col columns per sample, so Conv2D works through
        // 23 samples as 10 + 10 + 3; one sample at a time is one slice. Output, weight gradient (summed over
        // the samples) and input gradient must agree.
        let model = try Sequential([.conv2D(64, kernelSize: 5, activation: .relu), .flatten], inputShape: [12, 12, 32],
                                   seed: 5)
        let batch = 23, inputSize = 12 * 12 * 32
        let x = randomTensor([batch, 12, 12, 32], seed: 8)
        let upstream = randomTensor([batch, 8 * 8 * 64], seed: 9)
        model.store.zeroGradients()
        let y = model.forward(x, training: true)
        let dx = model.backward(upstream)
        let kernelGradient = Array(model.store.gradients)

        model.store.zeroGradients()
        for n in 0..<batch {
            let sample = Tensor(shape: [1, 12, 12, 32], scalars: Array(x.scalars[n * inputSize..<(n + 1) * inputSize]))
            let yn = model.forward(sample, training: true)
            XCTAssertEqual(yn.scalars, Array(y.scalars[n * 4096..<(n + 1) * 4096]), "output of sample \(n)")
            let dxn = model.backward(Tensor(shape: [1, 4096], scalars: Array(upstream.scalars[n * 4096..<(n + 1) * 4096])))
            for (a, b) in zip(dxn.scalars, dx.scalars[n * inputSize..<(n + 1) * inputSize]) {
                XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b)), "input gradient of sample \(n)")
            }
        }
        for (a, b) in zip(Array(model.store.gradients), kernelGradient) {
            XCTAssertEqual(a, b, accuracy: 1e-3 * max(1, abs(b)), "weight gradient")
        }
    }
}
