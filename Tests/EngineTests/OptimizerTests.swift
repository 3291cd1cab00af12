import Engine
import XCTest

/// The vectorized optimizer updates against their formulas written one scalar at a time, bit for bit, on a
/// count that leaves a partial chunk of eight.
final class OptimizerTests: XCTestCase {
    let count = 21

    func run<O: Optimizer>(_ optimizer: inout O, steps: Int) -> [Float] {
        var w = randomScalars(count, seed: 1)
        optimizer.slots = [Float](repeating: 0, count: optimizer.slotNames.count * count)
        for step in 0..<steps {
            let g = randomScalars(count, seed: 10 + UInt64(step))
            optimizer.iterations += 1
            let o = optimizer
            w.withUnsafeMutableBufferPointer { w in
                optimizer.slots.withUnsafeMutableBufferPointer { slots in
                    // In two ranges, as workers would take them: the same arithmetic for every parameter.
                    for range in [0..<8, 8..<count] {
                        o.update(parameters: w.baseAddress!, gradients: g, slots: slots.baseAddress ?? w.baseAddress!,
                                 count: count, range: range)
                    }
                }
            }
        }
        return w
    }

    func testAdamMatchesItsFormula() {
        var adam = Adam(learningRate: 0.01)
        let fast = run(&adam, steps: 3)
        var w = randomScalars(count, seed: 1), m = [Float](repeating: 0, count: count), v = m
        for step in 0..<3 {
            let g = randomScalars(count, seed: 10 + UInt64(step)), t = Float(step + 1)
            let alpha = Float(0.01) * (1 - powf(0.999, t)).squareRoot() / (1 - powf(0.9, t))
            for i in 0..<count {
                m[i] += (g[i] - m[i]) * (1 - 0.9)
                v[i] += (g[i] * g[i] - v[i]) * (1 - 0.999)
                w[i] -= alpha * m[i] / (v[i].squareRoot() + 1e-7)
            }
        }
        XCTAssertEqual(fast, w)
        XCTAssertEqual(Array(adam.slots), m + v)
    }

    func testRMSpropMatchesItsFormulaWithAndWithoutMomentum() {
        for momentum: Float in [0, 0.5] {
            var rmsprop = RMSprop(learningRate: 0.01, momentum: momentum)
            let fast = run(&rmsprop, steps: 3)
            var w = randomScalars(count, seed: 1), v = [Float](repeating: 0, count: count), mom = v
            for step in 0..<3 {
                let g = randomScalars(count, seed: 10 + UInt64(step))
                for i in 0..<count {
                    v[i] = 0.9 * v[i] + (1 - 0.9) * g[i] * g[i]
                    if momentum > 0 {
                        mom[i] = momentum * mom[i] + 0.01 * g[i] / (v[i] + 1e-7).squareRoot()
                        w[i] -= mom[i]
                    } else {
                        w[i] -= 0.01 * g[i] / (v[i] + 1e-7).squareRoot()
                    }
                }
            }
            XCTAssertEqual(fast, w, "momentum \(momentum)")
            XCTAssertEqual(Array(rmsprop.slots), momentum > 0 ? v + mom : v, "momentum \(momentum)")
        }
    }

    func testSGDMatchesItsFormulaPlainWithMomentumAndNesterov() {
        for (momentum, nesterov): (Float, Bool) in [(0, false), (0.9, false), (0.9, true)] {
            var sgd = SGD(learningRate: 0.1, momentum: momentum, nesterov: nesterov)
            let fast = run(&sgd, steps: 3)
            var w = randomScalars(count, seed: 1), v = [Float](repeating: 0, count: count)
            for step in 0..<3 {
                let g = randomScalars(count, seed: 10 + UInt64(step))
                for i in 0..<count {
                    if momentum > 0 {
                        v[i] = momentum * v[i] - 0.1 * g[i]
                        w[i] += nesterov ? momentum * v[i] - 0.1 * g[i] : v[i]
                    } else {
                        w[i] = w[i].addingProduct(-0.1, g[i])
                    }
                }
            }
            XCTAssertEqual(fast, w, "momentum \(momentum), nesterov \(nesterov)")
            if momentum > 0 { XCTAssertEqual(Array(sgd.slots), v) }
        }
    }
}
