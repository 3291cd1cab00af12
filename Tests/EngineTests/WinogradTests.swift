import Engine
import XCTest

/// Winograd F(4×4, 3×3) and F(2×2, 5×5), forward and both gradients, against sums straight from the definition (in Double),
/// under every kernel ISA, and the same bits on each.
///
/// Tolerance: a result may differ from the exact sum by 4e-6 · Σ|terms| (about 64 float ulps of the terms' size:
/// the transforms hold coefficients up to 8 and down to 1/24) plus 1e-7. Measured on these cases: at most 1.4e-6
/// forward and 2.7e-6 in the gradients, which add over more tiles.
final class WinogradTests: XCTestCase {
    struct Case { let n, h, w, c, r, filters: Int; let padding: Padding }

    static let cases = [
        // convnet's conv2d_1 shape, an output (11x11) that 4x4 tiles overhang; 45 tiles, two blocks.
        Case(n: 5, h: 13, w: 13, c: 32, r: 3, filters: 64, padding: .valid),
        // convnet's conv2d_2: one tile a sample.
        Case(n: 2, h: 5, w: 5, c: 64, r: 3, filters: 64, padding: .valid),
        Case(n: 1, h: 10, w: 9, c: 16, r: 3, filters: 16, padding: .same),
        // cnn-small's conv2d_1: 8x8 outputs, 48 tiles in two blocks.
        Case(n: 3, h: 12, w: 12, c: 32, r: 5, filters: 64, padding: .valid),
        Case(n: 2, h: 9, w: 11, c: 16, r: 5, filters: 32, padding: .same),
    ]

    static func geometry(_ c: Case) -> WindowGeometry {
        WindowGeometry(batch: c.n, inputHeight: c.h, inputWidth: c.w, channels: c.c, windowHeight: c.r,
                       windowWidth: c.r, strideHeight: 1, strideWidth: 1, padding: c.padding)
    }

    /// Calls `term(input index, kernel index, output index)` for every product of the convolution.
    static func forEachTerm(_ g: WindowGeometry, filters: Int, _ term: (Int, Int, Int) -> Void) {
        for n in 0..<g.batch {
            for oh in 0..<g.outputHeight {
                for ow in 0..<g.outputWidth {
                    for kh in 0..<g.windowHeight {
                        let ih = oh - g.padTop + kh
                        for kw in 0..<g.windowWidth {
                            let iw = ow - g.padLeft + kw
                            guard ih >= 0, ih < g.inputHeight, iw >= 0, iw < g.inputWidth else { continue }
                            for i in 0..<g.channels {
                                for o in 0..<filters {
                                    term(((n * g.inputHeight + ih) * g.inputWidth + iw) * g.channels + i,
                                         ((kh * g.windowWidth + kw) * g.channels + i) * filters + o,
                                         ((n * g.outputHeight + oh) * g.outputWidth + ow) * filters + o)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Every result within 4e-6 of its terms' magnitude of the exact value, and every ISA the same bits.
    func assertWithinTolerance(_ results: [(isa: KernelISA, result: [Float])], exact: [Double], magnitude: [Double],
                               _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        for (isa, result) in results {
            XCTAssertEqual(result.count, exact.count, file: file, line: line)
            var worst = 0.0
            for i in result.indices {
                let excess = abs(Double(result[i]) - exact[i]) - (4e-6 * magnitude[i] + 1e-7)
                if !(excess <= worst) { worst = excess.isNaN ? .infinity : excess }
            }
            XCTAssertEqual(worst, 0, "\(what), \(isa): beyond the tolerance by \(worst)", file: file, line: line)
            XCTAssertTrue(result == results[0].result, "\(what): \(isa) differs from \(results[0].isa)",
                          file: file, line: line)
        }
    }

    func testForwardMatchesDefinition() {
        for (index, testCase) in Self.cases.enumerated() {
            let g = Self.geometry(testCase), filters = testCase.filters
            XCTAssertTrue(winogradApplies(g, filters: filters), "case \(index)")
            let input = randomScalars(g.batch * g.inputSize, seed: UInt64(index))
            let kernel = randomScalars(g.patchSize * filters, seed: 100 + UInt64(index))
            let bias = randomScalars(filters, seed: 200 + UInt64(index))
            for activation in [Activation.linear, .relu, .tanh] {
                var exact = (0..<g.outputPixels * filters).map { Double(bias[$0 % filters]) }
                var magnitude = exact.map(abs)
                Self.forEachTerm(g, filters: filters) { x, w, y in
                    exact[y] += Double(input[x]) * Double(kernel[w])
                    magnitude[y] += abs(Double(input[x]) * Double(kernel[w]))
                }
                switch activation {
                case .relu: exact = exact.map { max($0, 0) }
                case .tanh: exact = exact.map { Foundation.tanh($0) }
                default: break
                }
                let transformed = Self.transformed(kernel, g, filters: filters)
                let results = onEveryKernelISA {
                    var output = [Float](repeating: .nan, count: exact.count)
                    output.withUnsafeMutableBufferPointer {
                        convolveWinograd(input, g, transformedKernel: transformed, filters: filters, bias: bias,
                                         activation: activation, into: $0.baseAddress!)
                    }
                    return output
                }
                // tanh's own approximation adds its error (Activations: within 2e-6 of the true value).
                let slack = activation == .tanh ? magnitude.map { $0 + 1 } : magnitude
                assertWithinTolerance(results, exact: exact, magnitude: slack, "case \(index), \(activation)")
            }
        }
    }

    func testGradientsMatchDefinition() {
        for (index, testCase) in Self.cases.enumerated() {
            let g = Self.geometry(testCase), filters = testCase.filters
            let input = randomScalars(g.batch * g.inputSize, seed: UInt64(index))
            let kernel = randomScalars(g.patchSize * filters, seed: 100 + UInt64(index))
            let dz = randomScalars(g.outputPixels * filters, seed: 300 + UInt64(index))
            // The kernel gradient accumulates: start from values already there.
            let start = randomScalars(g.patchSize * filters, seed: 400 + UInt64(index))
            var exactKernel = start.map(Double.init), kernelMagnitude = exactKernel.map(abs)
            var exactInput = [Double](repeating: 0, count: g.batch * g.inputSize), inputMagnitude = exactInput
            Self.forEachTerm(g, filters: filters) { x, w, y in
                exactKernel[w] += Double(input[x]) * Double(dz[y])
                kernelMagnitude[w] += abs(Double(input[x]) * Double(dz[y]))
                exactInput[x] += Double(dz[y]) * Double(kernel[w])
                inputMagnitude[x] += abs(Double(dz[y]) * Double(kernel[w]))
            }
            let transformed = Self.transformed(kernel, g, filters: filters)
            // The kernel gradient as training sums it: in the transformed space over passes (here two, split
            // between samples where there are two), brought back once.
            func gradients(withInput: Bool) -> (kernel: [Float], input: [Float]) {
                var transformedGradient = [Float](repeating: 0, count: winogradKernelCount(g, filters: filters))
                var inputGradient = [Float](repeating: .nan, count: exactInput.count)
                let first = max(1, g.batch / 2)
                for (start, count) in [(0, first), (first, g.batch - first)] where count > 0 {
                    let pass = g.withBatch(count)
                    let x = Array(input[start * g.inputSize..<(start + count) * g.inputSize])
                    let perSample = g.withBatch(1).outputPixels * filters
                    let dzPass = Array(dz[start * perSample..<(start + count) * perSample])
                    var dx = [Float](repeating: .nan, count: count * g.inputSize)
                    transformedGradient.withUnsafeMutableBufferPointer { du in
                        dx.withUnsafeMutableBufferPointer {
                            convolutionGradientsWinograd(x, pass, outputGradient: dzPass, transformedKernel: transformed,
                                                         filters: filters, transformedKernelGradient: du.baseAddress!,
                                                         inputGradient: withInput ? $0.baseAddress! : nil)
                        }
                    }
                    inputGradient.replaceSubrange(start * g.inputSize..<(start + count) * g.inputSize, with: dx)
                }
                var kernelGradient = start
                kernelGradient.withUnsafeMutableBufferPointer {
                    addWinogradKernelGradient(transformedGradient, g, filters: filters, into: $0.baseAddress!)
                }
                return (kernelGradient, inputGradient)
            }
            let results = onEveryKernelISA { gradients(withInput: true) }
            assertWithinTolerance(results.map { ($0.isa, $0.result.0) }, exact: exactKernel, magnitude: kernelMagnitude,
                                  "case \(index), kernel gradient")
            assertWithinTolerance(results.map { ($0.isa, $0.result.1) }, exact: exactInput, magnitude: inputMagnitude,
                                  "case \(index), input gradient")
            // Without the input gradient, the kernel gradient is the same.
            XCTAssertTrue(gradients(withInput: false).kernel == results.first { $0.isa == KernelISA.active }?.result.0,
                          "case \(index)")
        }
    }

    /// U and Uᵀ, as `convolveWinograd` and its gradients read them.
    static func transformed(_ kernel: [Float], _ g: WindowGeometry, filters: Int) -> [Float] {
        var transformed = [Float](repeating: .nan, count: 2 * winogradKernelCount(g, filters: filters))
        transformed.withUnsafeMutableBufferPointer {
            transformKernelWinograd(kernel, g, filters: filters, into: $0.baseAddress!)
        }
        return transformed
    }

    func testKernelTransformedInChannelPartsIsTheWholeTransform() {
        for (r, channels, filters) in [(3, 32, 16), (5, 16, 32)] {
            let g = WindowGeometry(batch: 1, inputHeight: 12, inputWidth: 12, channels: channels, windowHeight: r,
                                   windowWidth: r, strideHeight: 1, strideWidth: 1, padding: .valid)
            var rng = SplitMix64(seed: 7)
            let kernel = (0..<r * r * channels * filters).map { _ in rng.nextFloat(in: -1, 1) }
            var parts = [Float](repeating: .nan, count: 2 * winogradKernelCount(g, filters: filters))
            parts.withUnsafeMutableBufferPointer { buffer in
                for channels in [0..<8, 8..<channels - 8, channels - 8..<channels] {
                    transformKernelWinograd(kernel, g, filters: filters, channels: channels, into: buffer.baseAddress!)
                }
            }
            XCTAssertEqual(parts.map(\.bitPattern), Self.transformed(kernel, g, filters: filters).map(\.bitPattern),
                           "\(r)x\(r), \(channels) channels")
        }
    }

    func testAppliesWhereItCutsTheWork() {
        func geometry(_ size: Int, _ r: Int, channels: Int = 32, stride: Int = 1) -> WindowGeometry {
            WindowGeometry(batch: 1, inputHeight: size, inputWidth: size, channels: channels, windowHeight: r,
                           windowWidth: r, strideHeight: stride, strideWidth: stride, padding: .valid)
        }
        XCTAssertTrue(winogradApplies(geometry(26, 3), filters: 64))  // convnet's conv2d_1
        XCTAssertTrue(winogradApplies(geometry(12, 5), filters: 64))  // cnn-small's conv2d_1
        XCTAssertTrue(winogradApplies(geometry(5, 3), filters: 64))  // convnet's conv2d_2: one 4x4 tile for 3x3
        XCTAssertFalse(winogradApplies(geometry(7, 3), filters: 64), "5x5 output: 4x4 tiles waste too much")
        XCTAssertFalse(winogradApplies(geometry(13, 3, stride: 2), filters: 64), "stride 2")
        XCTAssertFalse(winogradApplies(geometry(28, 5, channels: 1), filters: 32), "one channel")
        XCTAssertFalse(winogradApplies(geometry(13, 3), filters: 10), "filters not in whole panels")
        XCTAssertFalse(winogradApplies(geometry(13, 4), filters: 64), "no transforms for 4x4")
    }
}
