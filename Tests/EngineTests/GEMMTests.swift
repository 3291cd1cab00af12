import Engine
import XCTest

/// The packed SIMD SGEMM against the reference triple loop, under every kernel ISA the CPU has, on shapes that
/// exercise every edge of the 6x16, 8x32 and 8x8 tiles, B read in place (up to 64 rows of A) and packed,
/// the k blocking (384), the m blocking (120), the column blocking (1024) and the 8-deep transposed packing, in
/// all three forms training uses plus AᵀBᵀ.
final class GEMMTests: XCTestCase {
    static let awkward = [1, 7, 33, 129]

    /// Error bound: a k-term float32 dot product is within k·u·Σ|a||b| of the exact value (u = 2⁻²⁴, Higham
    /// 3.1); the Double-accumulated reference is exact to float rounding. We allow 2k·u·Σ|a||b| + 1e-6,
    /// computing Σ|a||b| per element with the reference on absolute values.
    func check(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, accumulate: Bool, padding: Int = 0,
               file: StaticString = #filePath, line: UInt = #line) {
        // Leading dimensions larger than the rows with `padding` check that strides are honoured.
        let lda = (transposeA ? m : k) + padding, ldb = (transposeB ? k : n) + padding, ldc = n + padding
        let a = randomScalars((transposeA ? k : m) * lda, seed: 1)
        let b = randomScalars((transposeB ? n : k) * ldb, seed: 2)
        let c0 = randomScalars(m * ldc, seed: 3)
        var reference = c0
        var bound = [Float](repeating: 0, count: m * ldc)
        let absA = a.map(abs), absB = b.map(abs)
        // Every ISA this CPU runs, each against the reference; they must also agree bit for bit, since every
        // micro-kernel adds the same products in the same order.
        let results = onEveryKernelISA {
            var fast = c0
            fast.withUnsafeMutableBufferPointer {
                sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb,
                      c: $0.baseAddress!, ldc: ldc, accumulate: accumulate)
            }
            return fast
        }
        for (isa, fast) in results.dropFirst() where fast != results[0].1 {
            XCTFail("sgemm m \(m), n \(n), k \(k): \(isa) differs from \(results[0].0)", file: file, line: line)
        }
        let fast = results[0].1
        reference.withUnsafeMutableBufferPointer {
            sgemmReference(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a, lda: lda, b: b,
                           ldb: ldb, c: $0.baseAddress!, ldc: ldc, accumulate: accumulate)
        }
        bound.withUnsafeMutableBufferPointer {
            sgemmReference(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: absA, lda: lda,
                           b: absB, ldb: ldb, c: $0.baseAddress!, ldc: ldc, accumulate: false)
        }
        let u: Float = 0x1p-24
        for i in 0..<m {
            for j in 0..<ldc {
                let index = i * ldc + j
                if j >= n {
                    // Padding columns of C must be untouched.
                    XCTAssertEqual(fast[index], c0[index], "padding of C written at (\(i), \(j))", file: file, line: line)
                    continue
                }
                let tolerance = 2 * Float(k) * u * bound[index] + 1e-6 + (accumulate ? 2 * u * abs(c0[index]) : 0)
                if abs(fast[index] - reference[index]) > tolerance {
                    XCTFail("sgemm(\(transposeA ? "T" : "N")\(transposeB ? "T" : "N"), m \(m), n \(n), k \(k)) at "
                                + "(\(i), \(j)): \(fast[index]) vs reference \(reference[index]), tolerance \(tolerance)",
                            file: file, line: line)
                    return
                }
            }
        }
    }

    func testAllFormsOnAwkwardShapes() {
        for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
            for m in Self.awkward {
                for n in Self.awkward {
                    for k in Self.awkward {
                        check(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, accumulate: false)
                    }
                }
            }
        }
    }

    func testEveryEdgeOfRows() {
        // m = 8q + r for every r: the AVX-512 kernel computes an edge of r rows in a tile of 1, 2, 4 or 8 rows.
        for m in 1...17 {
            for (transposeA, transposeB) in [(false, false), (false, true), (true, false)] {
                check(transposeA: transposeA, transposeB: transposeB, m: m, n: 40, k: 37, accumulate: m % 2 == 0)
            }
        }
    }

    func testAccumulateAddsToC() {
        for (transposeA, transposeB) in [(false, false), (false, true), (true, false)] {
            check(transposeA: transposeA, transposeB: transposeB, m: 13, n: 17, k: 300, accumulate: true)
        }
    }

    func testBlockBoundariesAndStrides() {
        // k > 384 is cut into k blocks (later blocks accumulate), evenly (520) or not (1153 = 3 x 385 - 2);
        // m > 120 crosses an m block; non-square.
        check(transposeA: false, transposeB: false, m: 250, n: 40, k: 520, accumulate: false, padding: 2)
        check(transposeA: true, transposeB: false, m: 130, n: 19, k: 1153, accumulate: false, padding: 3)
        check(transposeA: false, transposeB: true, m: 121, n: 33, k: 64, accumulate: true, padding: 5)
        // B read in place over several k blocks, with a packed remainder panel.
        check(transposeA: false, transposeB: false, m: 13, n: 50, k: 800, accumulate: true, padding: 3)
    }

    /// Names the ISAs this CPU lacks, whose paths the other tests could not run here.
    func testEveryKernelISAIsRunWhereTheCPUHasIt() throws {
        let missing = KernelISA.allCases.filter { !KernelISA.available.contains($0) }
        if !missing.isEmpty {
            throw XCTSkip("this CPU lacks \(missing.map(\.rawValue).joined(separator: ", ")): those kernels were not run")
        }
    }

    func testColumnBlocksPastTheFirst() {
        // n > 1024 is cut into column blocks: cnn-bn's Dense input gradient has n = 10,816. 2,061 = 2 x 1024 + 13
        // gives two whole blocks and a ragged third, in every form, with strides.
        for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
            check(transposeA: transposeA, transposeB: transposeB, m: 7, n: 2_061, k: 19, accumulate: false, padding: 3)
        }
        check(transposeA: false, transposeB: true, m: 13, n: 2_061, k: 70, accumulate: true)
    }

    /// A few rows times a transposed B run as Cᵀ = B·op(A)ᵀ; every element must still be the bits of the direct
    /// product, which a C of many rows (over 64) computes, row by row alike. Over k blocks, accumulating or not.
    func testFewRowsTimesTransposedBGivesTheBitsOfTheDirectProduct() {
        for (transposeA, k, accumulate) in [(false, 200, false), (true, 200, true), (false, 800, true)] {
            let (few, many, n) = (13, 70, 150)
            let lda = transposeA ? many : k
            let a = randomScalars(many * k, seed: 4), b = randomScalars(n * k, seed: 5), c0 = randomScalars(many * n, seed: 6)
            func product(rows: Int) -> [Float] {
                // The first `rows` rows of op(A): under transposeA, the first `rows` columns of the stored A.
                var c = Array(c0[0..<rows * n])
                c.withUnsafeMutableBufferPointer {
                    sgemm(transposeA: transposeA, transposeB: true, m: rows, n: n, k: k, a: a, lda: lda, b: b, ldb: k,
                          c: $0.baseAddress!, ldc: n, accumulate: accumulate)
                }
                return c
            }
            let differing = zip(product(rows: few), product(rows: many)).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "elements of other bits, transposeA \(transposeA), k \(k), accumulate \(accumulate)")
        }
    }

    func testZeroDepthClearsOrKeepsC() {
        var c: [Float] = [1, 2, 3, 4]
        let empty: [Float] = [0]
        c.withUnsafeMutableBufferPointer {
            sgemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 0, a: empty, lda: 1, b: empty, ldb: 2,
                  c: $0.baseAddress!, ldc: 2, accumulate: true)
        }
        XCTAssertEqual(c, [1, 2, 3, 4])
        c.withUnsafeMutableBufferPointer {
            sgemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 0, a: empty, lda: 1, b: empty, ldb: 2,
                  c: $0.baseAddress!, ldc: 2, accumulate: false)
        }
        XCTAssertEqual(c, [0, 0, 0, 0])
    }
}
