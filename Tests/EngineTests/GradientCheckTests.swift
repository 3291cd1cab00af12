import Engine
import XCTest

/// Finite-difference checks of every backward pass: layers, activations, losses.
///
/// Each check takes the scalar f(x, w) = Σ y ⊙ R for a fixed random R, and compares the analytic gradient
/// (backward of R) with the central difference (f(θ + h) - f(θ - h)) / 2h, accumulated in Double, for up to
/// 40 entries of the input and of every weight.
/// Tolerance |analytic - numeric| ≤ 5e-3 + 1e-2·|numeric|, with h = 1e-2: the truncation error is
/// h²·f'''/6 ≈ 2e-5 for these smooth functions, and float32 rounding of f (|f| ≲ 10, relative 1e-6) divided by
/// 2h adds up to ~1e-3. A wrong backward (a missing term, a transposed index) is off by O(1).
/// Non-smooth points are kept away: inputs of ReLU, SELU (whose slope jumps from 1.76 to 1.05 at zero) and max
/// pooling sit on a grid of spacing 0.05, at least 0.025 from zero and from each other, so no step of h crosses a
/// kink; the stacked test uses smooth activations only.
final class GradientCheckTests: XCTestCase {
    static let h: Float = 1e-2

    func checkGradients(_ specs: [LayerSpec], inputShape: [Int], batch: Int = 3, input: Tensor? = nil,
                        file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try Sequential(specs + [.flatten], inputShape: inputShape, seed: 7)
        let x = input ?? randomTensor([batch] + inputShape, seed: 11)
        let rngAtStart = model.rng
        // Every evaluation starts from the same generator state: Dropout draws the same mask each time.
        func f(_ x: Tensor) -> Double {
            model.rng = rngAtStart
            let y = model.forward(x, training: true)
            return zip(y.scalars, upstream(y.count)).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        func upstream(_ count: Int) -> [Float] { randomScalars(count, seed: 99) }

        model.store.zeroGradients()
        model.rng = rngAtStart
        let y = model.forward(x, training: true)
        let dx = model.backward(Tensor(shape: y.shape, scalars: upstream(y.count)))

        func compare(_ analytic: Float, _ numeric: Double, _ what: String) {
            let tolerance = 5e-3 + 1e-2 * abs(numeric)
            if abs(Double(analytic) - numeric) > tolerance {
                XCTFail("\(what): analytic \(analytic), finite difference \(numeric)", file: file, line: line)
            }
        }
        for i in probeIndices(x.count) {
            var plus = x, minus = x
            plus.scalars[i] += Self.h
            minus.scalars[i] -= Self.h
            compare(dx.scalars[i], (f(plus) - f(minus)) / Double(2 * Self.h), "d input[\(i)]")
        }
        for view in model.store.views where view.trainable {
            let analytic = model.store.gradientValues(of: view)
            let original = model.store.values(of: view)
            for i in probeIndices(view.count) {
                var values = original
                values[i] = original[i] + Self.h
                model.store.setValues(values, of: view)
                let up = f(x)
                values[i] = original[i] - Self.h
                model.store.setValues(values, of: view)
                let down = f(x)
                model.store.setValues(original, of: view)
                compare(analytic[i], (up - down) / Double(2 * Self.h), "d \(view.name)[\(i)]")
            }
        }
    }

    /// Up to 40 indices spread over the whole tensor.
    func probeIndices(_ count: Int) -> [Int] {
        let step = max(1, count / 40)
        return Array(stride(from: 0, to: count, by: step))
    }

    /// Values on a shuffled grid of spacing 0.05, none within 0.025 of zero: no kink within h.
    func gridTensor(_ shape: [Int], seed: UInt64) -> Tensor {
        let count = shape.reduce(1, *)
        var rng = SplitMix64(seed: seed)
        let values = (0..<count).map { Float($0 - count / 2) * 0.05 + 0.025 }.shuffled(using: &rng)
        return Tensor(shape: shape, scalars: values)
    }

    func testDense() throws {
        try checkGradients([.dense(6, activation: .tanh)], inputShape: [5])
        try checkGradients([.dense(4)], inputShape: [2, 3, 5])  // acts on the last axis
    }

    func testConv2D() throws {
        try checkGradients([.conv2D(3, kernelSize: 3, activation: .tanh)], inputShape: [6, 5, 2], batch: 2)
        try checkGradients([.conv2D(2, kernelSize: 5, padding: .same, activation: .sigmoid)], inputShape: [5, 6, 1], batch: 2)
        try checkGradients([.conv2D(4, kernelSize: 3, strides: 2, padding: .same)], inputShape: [7, 8, 3], batch: 2)
    }

    func testWinogradConv2D() throws {
        // 16 channels into 16 filters at stride 1 take the Winograd path: 3x3 and 5x5, 'same' padding too.
        for (r, padding, size) in [(3, Padding.valid, 8), (5, .valid, 9), (5, .same, 6)] {
            let specs: [LayerSpec] = [.conv2D(16, kernelSize: r, padding: padding, activation: .tanh)]
            let model = try Sequential(specs, inputShape: [size, size, 16], seed: 7)
            XCTAssertEqual((model.layers[0] as? Conv2D)?.runsWinograd, true, "\(r)x\(r), \(padding)")
            try checkGradients(specs, inputShape: [size, size, 16], batch: 2)
        }
    }

    func testMaxPooling2D() throws {
        for spec in [LayerSpec.maxPooling2D(), .maxPooling2D(padding: .same), .maxPooling2D(3, strides: 2, padding: .same)] {
            try checkGradients([spec], inputShape: [5, 7, 2], input: gridTensor([2, 5, 7, 2], seed: 3))
        }
    }

    func testActivations() throws {
        // Activations over a 4-wide last axis (softmax works per row), on grid inputs away from ReLU's kink.
        for activation in Activation.allCases {
            try checkGradients([.activation(activation)], inputShape: [4], batch: 5, input: gridTensor([5, 4], seed: 5))
        }
    }

    func testBatchNormalizationTraining() throws {
        try checkGradients([.batchNormalization()], inputShape: [4], batch: 6)
        try checkGradients([.batchNormalization()], inputShape: [3, 3, 2], batch: 2)
    }

    func testDropoutAndFlatten() throws {
        try checkGradients([.dropout(0.4)], inputShape: [3, 4], batch: 4)
        try checkGradients([.flatten, .dense(3)], inputShape: [2, 3, 2], batch: 2)
    }

    func testSmoothStackBackpropagates() throws {
        // Layers composed, with every gradient checked in context. No max pooling, ReLU or SELU: a weight
        // perturbation moves every downstream value and would push some of them across a kink
        // (PyTorchReferenceTests covers whole presets with those).
        try checkGradients([.conv2D(3, kernelSize: 3, activation: .tanh),
                            .conv2D(4, kernelSize: 3, strides: 2, padding: .same, activation: .tanh),
                            .flatten, .batchNormalization(), .dense(5, activation: .sigmoid), .dense(3)],
                           inputShape: [7, 7, 2], batch: 4)
    }

    func testLosses() {
        let logits = randomTensor([4, 5], seed: 21, in: -3, 3)
        let labels = Tensor(shape: [4], scalars: [0, 3, 4, 1])
        let onehot = Loss.oneHot(labels, classes: 5)
        // Probabilities for the non-fused path (a model whose last layer is not softmax).
        var probabilities = logits
        probabilities.withMutablePointer { Activation.softmax.forward($0, rows: 4, columns: 5) }
        let cases: [(Loss, Tensor, Tensor, Activation)] = [
            (.sparseCategoricalCrossentropy, logits, labels, .softmax),
            (.categoricalCrossentropy, logits, onehot, .softmax),
            (.meanSquaredError, logits, onehot, .softmax),
            (.sparseCategoricalCrossentropy, probabilities, labels, .linear),
            (.categoricalCrossentropy, probabilities, onehot, .linear),
            (.meanSquaredError, logits, onehot, .linear),
        ]
        // Probabilities reach 0.004: the step must stay far below them (the truncation error of -log p is
        // (h/p)²/3 relative), and the O(1) loss keeps rounding error at 1e-7/h = 1e-3.
        let h: Float = 1e-4
        for (loss, output, targets, head) in cases {
            let (_, gradient) = loss.evaluate(output: output, targets: targets, outputActivation: head)
            for i in output.scalars.indices {
                var plus = output, minus = output
                plus.scalars[i] += h
                minus.scalars[i] -= h
                let numeric = (Double(loss.evaluate(output: plus, targets: targets, outputActivation: head).loss)
                    - Double(loss.evaluate(output: minus, targets: targets, outputActivation: head).loss)) / Double(2 * h)
                XCTAssertEqual(Double(gradient.scalars[i]), numeric, accuracy: 2e-3 + 1e-2 * abs(numeric),
                               "\(loss) head \(head) element \(i)")
            }
        }
    }

    func testFusedSoftmaxCrossEntropyIsFiniteForHugeLogits() {
        let logits = Tensor(shape: [2, 3], scalars: [1e4, -1e4, 0, -1e4, -1e4, 1e4])
        let labels = Tensor(shape: [2], scalars: [1, 2])
        for loss in Loss.allCases {
            let targets = loss == .sparseCategoricalCrossentropy ? labels : Loss.oneHot(labels, classes: 3)
            let (value, gradient) = loss.evaluate(output: logits, targets: targets, outputActivation: .softmax)
            XCTAssertTrue(value.isFinite, "\(loss) loss \(value)")
            XCTAssertTrue(gradient.scalars.allSatisfy(\.isFinite), "\(loss) gradient \(gradient.scalars)")
        }
        // Sample 0 puts its mass on class 0 but the label is 1: loss (1e4 - (-1e4)) / 2 samples = 1e4.
        let (value, _) = Loss.sparseCategoricalCrossentropy.evaluate(output: logits, targets: labels,
                                                                     outputActivation: .softmax)
        XCTAssertEqual(value, 1e4, accuracy: 1)
    }
}
