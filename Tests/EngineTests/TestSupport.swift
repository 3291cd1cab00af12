import Engine
import XCTest

/// Uniform random scalars in [low, high) from a fixed seed.
func randomScalars(_ count: Int, seed: UInt64, in low: Float = -1, _ high: Float = 1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<count).map { _ in rng.nextFloat(in: low, high) }
}

func randomTensor(_ shape: [Int], seed: UInt64, in low: Float = -1, _ high: Float = 1) -> Tensor {
    Tensor(shape: shape, scalars: randomScalars(shape.reduce(1, *), seed: seed, in: low, high))
}

/// Asserts |actual - expected| <= atol + rtol·|expected| elementwise; on failure reports the worst element.
func assertClose(_ actual: [Float], _ expected: [Float], atol: Float, rtol: Float = 0, _ what: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.count == expected.count else {
        return XCTFail("\(what): \(actual.count) values, expected \(expected.count)", file: file, line: line)
    }
    var worst = (index: -1, excess: Float(0), difference: Float(0))
    for i in actual.indices {
        let difference = abs(actual[i] - expected[i])
        let excess = difference - (atol + rtol * abs(expected[i]))
        if !(excess <= 0) && (worst.index < 0 || !(excess <= worst.excess)) {
            worst = (i, excess, difference)
        }
    }
    if worst.index >= 0 {
        let i = worst.index
        XCTFail("\(what): element \(i) is \(actual[i]), expected \(expected[i]) (difference \(worst.difference), "
                    + "tolerance atol \(atol) + rtol \(rtol)); max difference \(maxDifference(actual, expected))",
                file: file, line: line)
    }
}

func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Runs `body` once under every kernel ISA this CPU has, widest first, and restores the active one.
func onEveryKernelISA<T>(_ body: () -> T) -> [(isa: KernelISA, result: T)] {
    let previous = KernelISA.active
    defer { KernelISA.active = previous }
    return KernelISA.available.map { isa in
        KernelISA.active = isa
        return (isa, body())
    }
}

/// Each ISA's result within `atol` of `expected`, and all of them the same bits, since every micro-kernel adds
/// the same products in the same order.
func assertEveryISA(_ results: [(isa: KernelISA, result: [Float])], closeTo expected: [Float], atol: Float,
                    _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    for (isa, result) in results {
        assertClose(result, expected, atol: atol, "\(what), \(isa)", file: file, line: line)
        XCTAssertTrue(result == results[0].result, "\(what): \(isa) differs from \(results[0].isa)",
                      file: file, line: line)
    }
}
