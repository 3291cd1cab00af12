import Engine
import XCTest

/// Every layer type, the losses, and three full training steps of convnet and lenet5 under each optimizer,
/// against PyTorch (Tests/Reference/make_reference.py).
///
/// Tolerances: both sides compute in float32 but sum in different orders (blocked SGEMM here, PyTorch's own
/// kernels there), so single values differ by a few ulps of the sums involved. Layer outputs and gradients are
/// sums of at most ~100 terms of order one: atol 2e-5 + rtol 1e-4 is a margin of 10-100x over what is observed
/// (the failure message prints the largest difference).
final class PyTorchReferenceTests: XCTestCase {
    static let layerAtol: Float = 2e-5
    static let layerRtol: Float = 1e-4

    /// Builds `spec` alone (with a Flatten after it, so a final softmax stays inside the layer), loads its weights
    /// from the reference, runs forward and backward, and compares y, dx and every weight gradient.
    func checkLayer(_ prefix: String, _ spec: LayerSpec, weights: [String] = [], file: StaticString = #filePath,
                    line: UInt = #line) throws {
        let data = try ReferenceData("layers.bin")
        let x = data["\(prefix)/x"]
        let model = try Sequential([spec, .flatten], inputShape: Array(x.shape.dropFirst()))
        let layerName = model.layerNames[0]
        for weight in weights {
            model.store.setValues(data["\(prefix)/\(weight)"].scalars, of: model.store.view(named: "\(layerName)/\(weight)")!)
        }
        model.store.zeroGradients()
        let y = model.forward(x, training: true)
        assertClose(y.scalars, data["\(prefix)/y"].scalars, atol: Self.layerAtol, rtol: Self.layerRtol, "\(prefix) y",
                    file: file, line: line)
        let dx = model.backward(data["\(prefix)/dy"].reshaped(y.shape))
        assertClose(dx.scalars, data["\(prefix)/grad_x"].scalars, atol: Self.layerAtol, rtol: Self.layerRtol,
                    "\(prefix) dx", file: file, line: line)
        for weight in weights {
            let view = model.store.view(named: "\(layerName)/\(weight)")!
            assertClose(model.store.gradientValues(of: view), data["\(prefix)/grad_\(weight)"].scalars,
                        atol: Self.layerAtol, rtol: Self.layerRtol, "\(prefix) d\(weight)", file: file, line: line)
        }
    }

    func testDenseWithEveryActivation() throws {
        for activation in Activation.allCases {
            try checkLayer("dense_\(activation.rawValue)", .dense(5, activation: activation), weights: ["kernel", "bias"])
        }
    }

    func testConv2DPaddingsAndStrides() throws {
        try checkLayer("conv_valid", .conv2D(4, kernelSize: 3, activation: .relu), weights: ["kernel", "bias"])
        try checkLayer("conv_same", .conv2D(3, kernelSize: 5, padding: .same, activation: .relu),
                       weights: ["kernel", "bias"])
        try checkLayer("conv_same_stride2", .conv2D(5, kernelSize: 3, strides: 2, padding: .same, activation: .relu),
                       weights: ["kernel", "bias"])
        try checkLayer("conv_valid_stride2", .conv2D(2, kernelSize: 4, strides: 2, activation: .relu),
                       weights: ["kernel", "bias"])
    }

    func testMaxPooling2D() throws {
        try checkLayer("pool_valid", .maxPooling2D())
        try checkLayer("pool_valid_odd", .maxPooling2D())
        try checkLayer("pool_same_odd", .maxPooling2D(padding: .same))
        try checkLayer("pool3_stride2_same", .maxPooling2D(3, strides: 2, padding: .same))
    }

    func testBatchNormalizationTrainingStepAndMovingStatistics() throws {
        let data = try ReferenceData("layers.bin")
        for prefix in ["bn_2d", "bn_4d"] {
            try checkLayer(prefix, .batchNormalization(), weights: ["gamma", "beta"])
            // The same forward pass again, to read the moving statistics it leaves (one update from (0, 1)).
            let x = data["\(prefix)/x"]
            let model = try Sequential([.batchNormalization(), .flatten], inputShape: Array(x.shape.dropFirst()))
            _ = model.forward(x, training: true)
            for name in ["moving_mean", "moving_variance"] {
                assertClose(model.store.values(of: model.store.view(named: "batch_normalization/\(name)")!),
                            data["\(prefix)/\(name)"].scalars, atol: 1e-6, rtol: 1e-5, "\(prefix) \(name)")
            }
        }
    }

    func testLossesOnSoftmaxHeadIncludingHugeLogits() throws {
        let data = try ReferenceData("losses.bin")
        for scale in ["", "_huge"] {
            let logits = data["loss\(scale)/logits"], labels = data["loss\(scale)/labels"]
            for loss in Loss.allCases {
                let targets = loss == .sparseCategoricalCrossentropy ? labels : Loss.oneHot(labels, classes: 10)
                let (value, gradient) = loss.evaluate(output: logits, targets: targets, outputActivation: .softmax)
                let expected = data["loss\(scale)/\(loss.rawValue)/loss"].scalars[0]
                XCTAssertTrue(value.isFinite && gradient.scalars.allSatisfy(\.isFinite), "\(loss) \(scale) not finite")
                // Losses up to ~3e4 for logits of ±1e4: relative 1e-5 is a few float32 ulps.
                XCTAssertEqual(value, expected, accuracy: 1e-5 * max(1, abs(expected)), "\(loss)\(scale)")
                assertClose(gradient.scalars, data["loss\(scale)/\(loss.rawValue)/grad"].scalars, atol: 1e-6,
                            rtol: 1e-4, "\(loss)\(scale) gradient")
            }
        }
    }

    // MARK: Full training steps

    static let optimizers: [(String, @Sendable () -> any Optimizer)] = [
        ("sgd", { SGD(learningRate: 0.1) }),
        ("sgd_momentum", { SGD(learningRate: 0.05, momentum: 0.9) }),
        ("sgd_nesterov", { SGD(learningRate: 0.05, momentum: 0.9, nesterov: true) }),
        ("adam", { Adam(learningRate: 0.001) }),
        ("rmsprop", { RMSprop(learningRate: 0.001) }),
    ]

    /// Three steps on three batches from PyTorch's initial weights: logits and every gradient of the first step,
    /// the loss of every step, and every weight after the third step.
    ///
    /// Weights after three steps: differences in the gradients (≤ 1e-5 relative) pass through the updates;
    /// Adam and RMSprop divide by √v, which magnifies relative gradient noise for gradients near zero, but the
    /// update is bounded by about lr·3 per step, so atol 2e-5 + rtol 1e-4 bounds it.
    func checkTraining(_ preset: Preset, loss: Loss, file: StaticString = #filePath, line: UInt = #line) throws {
        let data = try ReferenceData("train_\(preset.rawValue).bin")
        for (name, makeOptimizer) in Self.optimizers {
            let model = try preset.makeModel()
            for view in model.store.views { model.store.setValues(data["init/\(view.name)"].scalars, of: view) }
            var optimizer = makeOptimizer()
            for step in 0..<3 {
                let x = data["batch\(step)/x"], labels = data["batch\(step)/labels"]
                let targets = loss == .sparseCategoricalCrossentropy ? labels : Loss.oneHot(labels, classes: 10)
                model.store.zeroGradients()
                let logits = model.forward(x, training: true)
                let (value, gradient) = loss.evaluate(output: logits, targets: targets,
                                                      outputActivation: model.outputActivation)
                model.backward(gradient, inputGradient: false)  // as training does
                XCTAssertEqual(value, data["\(name)/loss\(step)"].scalars[0], accuracy: 1e-5,
                               "\(preset) \(name) loss at step \(step)", file: file, line: line)
                if step == 0 && name == "sgd" {
                    assertClose(logits.scalars, data["logits0"].scalars, atol: 2e-5, rtol: 1e-4, "\(preset) logits",
                                file: file, line: line)
                    for view in model.store.views {
                        assertClose(model.store.gradientValues(of: view), data["grad0/\(view.name)"].scalars,
                                    atol: 1e-6, rtol: 1e-3, "\(preset) gradient of \(view.name)", file: file, line: line)
                    }
                }
                optimizer.step(model.store)
            }
            for view in model.store.views {
                assertClose(model.store.values(of: view), data["\(name)/final/\(view.name)"].scalars, atol: 2e-5,
                            rtol: 1e-4, "\(preset) \(name) \(view.name) after 3 steps", file: file, line: line)
            }
        }
    }

    func testConvnetTrainingSteps() throws {
        try checkTraining(.convnet, loss: .categoricalCrossentropy)
    }

    func testLeNet5TrainingSteps() throws {
        try checkTraining(.lenet5, loss: .sparseCategoricalCrossentropy)
    }
}
