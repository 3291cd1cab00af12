#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Engine
import XCTest

/// The vectorized activations against the C library, value by value.
final class ActivationKernelTests: XCTestCase {
    /// tanh is a rational approximation over eight lanes; over a dense sweep of [-20, 20] (every length, so the
    /// scalar tail is covered too) it stays within 3 ulp of 1 (3.6e-7) of libm's tanhf in absolute error, and
    /// keeps tanh's exact values at 0 and its saturation at ±1.
    func testTanhMatchesLibm() {
        var inputs = (0...40_000).map { Float($0 - 20_000) / 1_000 } + [1e-8, -1e-8, 3e-4, -3e-4, 1e4, -1e4]
        inputs += (1...9).map { Float($0) * 0.1 }  // a 9-long tail after the sweep
        var outputs = inputs
        outputs.withUnsafeMutableBufferPointer { Activation.tanh.forward($0.baseAddress!, rows: 1, columns: $0.count) }
        var worst: (error: Float, at: Float) = (0, 0)
        for (x, y) in zip(inputs, outputs) where abs(y - tanhf(x)) > worst.error { worst = (abs(y - tanhf(x)), x) }
        XCTAssertLessThanOrEqual(worst.error, 3 * Float(1).ulp, "largest difference \(worst.error) at x = \(worst.at)")
        func tanhOf(_ x: Float) -> Float { outputs[inputs.firstIndex(of: x)!] }
        XCTAssertEqual(tanhOf(0), 0)
        XCTAssertEqual(tanhOf(1e4), 1)
        XCTAssertEqual(tanhOf(-1e4), -1)
        XCTAssertEqual(tanhOf(1e-8), 1e-8, "tanh x = x near 0")
        print("tanh: largest difference from tanhf \(worst.error) at x = \(worst.at)")
    }

    /// sigmoid runs a vector eˣ; over a dense sweep of [-100, 100] (a tail included) it stays within 3 ulp of the
    /// value libm's expf gives by the same stable formula, relative to the value, down to the smallest normal
    /// float, and keeps σ(0) = 0.5, the saturation at 1 and NaN.
    func testSigmoidMatchesLibm() {
        func reference(_ v: Float) -> Float { v >= 0 ? 1 / (1 + expf(-v)) : expf(v) / (1 + expf(v)) }
        var inputs = (0...200_000).map { Float($0 - 100_000) / 1_000 } + [1e-8, -1e-8, 1e4, -1e4]
        inputs += (1...5).map { Float($0) * 0.1 }
        var outputs = inputs + [.nan]
        outputs.withUnsafeMutableBufferPointer { Activation.sigmoid.forward($0.baseAddress!, rows: 1, columns: $0.count) }
        var worst: (ulps: Float, at: Float) = (0, 0)
        for (x, y) in zip(inputs, outputs) {
            let expected = reference(x)
            guard expected >= Float.leastNormalMagnitude else {
                XCTAssertLessThan(y, 2 * Float.leastNormalMagnitude, "σ(\(x))")
                continue
            }
            let ulps = abs(y - expected) / expected.ulp
            if ulps > worst.ulps { worst = (ulps, x) }
        }
        XCTAssertLessThanOrEqual(worst.ulps, 3, "largest difference \(worst.ulps) ulp at x = \(worst.at)")
        func sigmoidOf(_ x: Float) -> Float { outputs[inputs.firstIndex(of: x)!] }
        XCTAssertEqual(sigmoidOf(0), 0.5)
        XCTAssertEqual(sigmoidOf(1e4), 1)
        XCTAssertEqual(sigmoidOf(-1e4), 0)
        XCTAssertTrue(outputs.last!.isNaN)
        print("sigmoid: largest difference from libm's \(worst.ulps) ulp at x = \(worst.at)")
    }

    /// selu runs a vector eˣ - 1; over a dense sweep of [-100, 100] it stays within 4 ulp of the value libm's
    /// expm1f gives, relative to the value, keeping its relative precision near 0, and NaN.
    func testSeluMatchesLibm() {
        let (scale, alpha) = (Activation.seluScale, Activation.seluAlpha)
        func reference(_ v: Float) -> Float { v > 0 ? scale * v : scale * alpha * expm1f(v) }
        let inputs = (0...200_000).map { Float($0 - 100_000) / 1_000 } + [-1e-8, -3e-5, -0.4999, -0.5001, -1e4]
        var outputs = inputs + [.nan]
        outputs.withUnsafeMutableBufferPointer { Activation.selu.forward($0.baseAddress!, rows: 1, columns: $0.count) }
        var worst: (ulps: Float, at: Float) = (0, 0)
        for (x, y) in zip(inputs, outputs) where x != 0 {
            let ulps = abs(y - reference(x)) / reference(x).ulp
            if ulps > worst.ulps { worst = (ulps, x) }
        }
        XCTAssertLessThanOrEqual(worst.ulps, 4, "largest difference \(worst.ulps) ulp at x = \(worst.at)")
        XCTAssertEqual(outputs[inputs.firstIndex(of: 0)!], 0)
        XCTAssertTrue(outputs.last!.isNaN)
        print("selu: largest difference from libm's \(worst.ulps) ulp at x = \(worst.at)")
    }

    func testColumnSumsOfEveryWidth() {
        // Widths whose row groups are 8 values (1, 8), 24 (3, 6), 40 (10), 64, and past the 512-value group
        // (130: one row at a time); row counts that leave a partial group.
        for columns in [1, 3, 6, 8, 10, 16, 64, 130] {
            for rows in [0, 1, 3, 5, 37] {
                let dz = randomScalars(rows * columns, seed: UInt64(columns * 100 + rows))
                let start = randomScalars(columns, seed: 7)
                var sums = start
                sums.withUnsafeMutableBufferPointer { addColumnSums(of: dz, rows: rows, columns: columns, into: $0.baseAddress!) }
                let expected = (0..<columns).map { c in
                    Float((0..<rows).reduce(Double(start[c])) { $0 + Double(dz[$1 * columns + c]) })
                }
                assertClose(sums, expected, atol: 1e-5, "\(rows) rows of \(columns) columns")
            }
        }
    }
}
