import Engine
import XCTest

/// Sequential: shape inference, Keras parameter counts and summary, definition errors, seeding, presets.
final class ModelTests: XCTestCase {
    /// Keras' figures for the tutorial models (Sources/Engine/Engine.docc/Presets.md): total and trainable parameters.
    static let kerasCounts: [Preset: (total: Int, trainable: Int)] = [
        .mlp: (79_510, 79_510),
        .mlpBN: (182_446, 180_278),
        .cnnBN: (2_229_614, 2_207_382),
        .cnnSmall: (62_346, 62_346),
        .convnetDropout: (17_802, 17_802),
        .convnet: (93_322, 93_322),
        .lenet5: (107_786, 107_786),
    ]

    func testPresetParameterCountsMatchKeras() throws {
        for preset in Preset.allCases {
            let model = try preset.makeModel()
            let expected = try XCTUnwrap(Self.kerasCounts[preset])
            XCTAssertEqual(model.parameterCount, expected.total, "\(preset) total")
            XCTAssertEqual(model.trainableParameterCount, expected.trainable, "\(preset) trainable")
            let summary = model.summary()
            XCTAssertTrue(summary.contains("Total params: \(expected.total.formatted)"), "\(preset):\n\(summary)")
            XCTAssertTrue(summary.contains("Trainable params: \(expected.trainable.formatted)"), "\(preset)")
        }
    }

    func testConvnetSummaryTable() throws {
        let lines = try Preset.convnet.makeModel().summary().split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "Model: \"sequential\"")
        let rows = lines.filter { $0.hasPrefix(" ") && !$0.hasPrefix(" Layer") }
        XCTAssertEqual(rows.count, 8)
        XCTAssertTrue(rows[0].hasPrefix(" conv2d (Conv2D)") && rows[0].contains("(None, 26, 26, 32)") && rows[0].hasSuffix("320"))
        XCTAssertTrue(rows[3].hasPrefix(" max_pooling2d_1 (MaxPooling2D)") && rows[3].contains("(None, 5, 5, 64)"))
        XCTAssertTrue(rows[5].hasPrefix(" flatten (Flatten)") && rows[5].contains("(None, 576)") && rows[5].hasSuffix(" 0"))
        XCTAssertTrue(rows[7].hasPrefix(" dense_1 (Dense)") && rows[7].hasSuffix("650"))
        XCTAssertEqual(lines[lines.count - 4], "Total params: 93,322")
        XCTAssertEqual(lines[lines.count - 2], "Non-trainable params: 0")
    }

    func testOutputShapesOfLeNet5WithSamePadding() throws {
        let model = try Preset.lenet5.makeModel()
        XCTAssertEqual(model.outputShapes, [[28, 28, 6], [14, 14, 6], [14, 14, 16], [7, 7, 16], [784], [120], [84], [10]])
        let probabilities = model.predict(randomTensor([2, 28, 28, 1], seed: 1, in: 0, 1))
        XCTAssertEqual(probabilities.shape, [2, 10])
        for row in 0..<2 {
            XCTAssertEqual(probabilities.scalars[row * 10..<(row + 1) * 10].reduce(0, +), 1, accuracy: 1e-5)
        }
    }

    func testImpossibleStackIsAClearError() {
        // A 5x5 convolution on the 3x3 map left after two poolings of a 12x12 input.
        let specs: [LayerSpec] = [.conv2D(4, kernelSize: 3, padding: .same), .maxPooling2D(), .maxPooling2D(),
                                  .conv2D(8, kernelSize: 5), .flatten, .dense(10)]
        XCTAssertThrowsError(try Sequential(specs, inputShape: [12, 12, 1])) { error in
            let message = String(describing: error)
            XCTAssertTrue(message.contains("layers[3] (conv2d_1)"), message)
            XCTAssertTrue(message.contains("5x5 kernel does not fit a 3x3 input"), message)
        }
        XCTAssertThrowsError(try Sequential([.dense(3)], inputShape: [])) { error in
            XCTAssertTrue(String(describing: error).contains("input_shape []"), "\(error)")
        }
        XCTAssertThrowsError(try Sequential([.dropout(1.5)], inputShape: [4]))
        XCTAssertThrowsError(try Sequential([], inputShape: [4]))
    }

    /// Sizes from a hostile definition: each refused with its name before anything is allocated. Unchecked,
    /// kernel_size 2^32 with same padding counted 1 parameter and then divided by zero, and units 2^62 without a
    /// bias wrapped to 0 parameters.
    func testHostileSizesAreRefusedBeforeAllocation() throws {
        func refused(_ json: String, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try JSONDecoder().decode(ModelDefinition.self, from: Data(json.utf8)).makeModel(),
                                 file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "expected '\(fragment)' in: \(error)", file: file, line: line)
            }
        }
        refused(#"{"layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 4294967296, "padding": "same"}]}"#,
                "kernel_size 4294967296 is outside 1-4096")
        refused(#"{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 4611686018427387904, "use_bias": false}]}"#,
                "units 4611686018427387904 is outside 1-1000000")
        refused(#"{"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 500000}]}"#, "over 20000000 parameters")
        refused(#"{"input_shape": [4096, 4096, 8], "layers": [{"type": "Flatten"}]}"#, "at most 4000000 values")
        refused(#"{"input_shape": [64, 64, 1], "layers": [{"type": "Conv2D", "filters": 100000, "kernel_size": 1}]}"#,
                "holds more than 4000000 values per sample")
        refused(#"{"input_shape": [-28, 28, 1], "layers": [{"type": "Flatten"}]}"#, "input_shape [-28, 28, 1]")
        refused(#"{"layers": [{"type": "BatchNormalization", "epsilon": 0}]}"#, "epsilon must be positive")
        refused(#"{"layers": [{"type": "BatchNormalization", "momentum": 5}]}"#, "momentum must be in [0, 1]")
        refused(#"{"layerz": [], "layers": [{"type": "Flatten"}]}"#, #"unknown key "layerz" at the top"#)
        let many = Array(repeating: #"{"type": "Flatten"}"#, count: 1001).joined(separator: ",")
        refused(#"{"layers": [\#(many)]}"#, "more than 1000")
    }

    func testSoftmaxHeadIsFusedIntoTheLoss() throws {
        let model = try Preset.convnet.makeModel()
        XCTAssertEqual(model.outputActivation, .softmax)
        let plain = try Sequential([.flatten, .dense(10, activation: .sigmoid)], inputShape: [28, 28, 1])
        XCTAssertEqual(plain.outputActivation, .linear)
    }

    // MARK: Seeding

    func testSameSeedGivesBitIdenticalWeightsAndDropoutMasks() throws {
        for preset in [Preset.convnetDropout, .mlpBN] {
            let a = try preset.makeModel(seed: 42), b = try preset.makeModel(seed: 42), c = try preset.makeModel(seed: 43)
            XCTAssertEqual(Array(a.store.values), Array(b.store.values), "\(preset)")
            XCTAssertNotEqual(Array(a.store.values), Array(c.store.values), "\(preset)")
            let x = randomTensor([4, 28, 28, 1], seed: 9, in: 0, 1)
            XCTAssertEqual(a.forward(x, training: true), b.forward(x, training: true), "\(preset) training forward")
        }
    }

    func testSplitMix64KnownSequence() {
        // First outputs for seed 0 of the published SplitMix64 (Vigna's splitmix64.c).
        var rng = SplitMix64(seed: 0)
        XCTAssertEqual(rng.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(rng.next(), 0x6E78_9E6A_A1B9_65F4)
        XCTAssertEqual(rng.next(), 0x06C4_5D18_8009_454F)
    }

    func testDropoutKeepsTheExpectedFractionAndScales() throws {
        let model = try Sequential([.dropout(0.3), .flatten], inputShape: [100, 100])
        let x = Tensor(shape: [1, 100, 100], scalars: [Float](repeating: 1, count: 10_000))
        let y = model.forward(x, training: true)
        let zeros = y.scalars.filter { $0 == 0 }.count
        // Binomial(10000, 0.3): standard deviation 46; 5 sigma is 230.
        XCTAssertEqual(Double(zeros), 3000, accuracy: 230)
        XCTAssertTrue(y.scalars.allSatisfy { $0 == 0 || abs($0 - 1 / 0.7) < 1e-6 })
        XCTAssertEqual(model.forward(x, training: false), x.reshaped([1, 10_000]), "inference is the identity")
    }

    func testInitializersHaveKerasScale() {
        var rng = SplitMix64(seed: 5)
        var values = [Float](repeating: 0, count: 3 * 3 * 32 * 64)
        values.withUnsafeMutableBufferPointer { Initializer.glorotUniform.fill($0, shape: [3, 3, 32, 64], rng: &rng) }
        // glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)) = sqrt(6 / (288 + 576)).
        let limit = (6.0 / 864.0).squareRoot()
        XCTAssertLessThanOrEqual(values.map { Double(abs($0)) }.max()!, limit)
        XCTAssertGreaterThan(values.map { Double(abs($0)) }.max()!, 0.99 * limit)
        XCTAssertEqual(standardDeviation(values), limit / 3.0.squareRoot(), accuracy: 0.02 * limit)

        values.withUnsafeMutableBufferPointer { Initializer.lecunNormal.fill($0, shape: [288, 64], rng: &rng) }
        // lecun_normal: truncated normal with variance 1 / fan_in, never beyond 2 of its pre-truncation stddevs.
        let expected = (1.0 / 288.0).squareRoot()
        XCTAssertEqual(standardDeviation(values), expected, accuracy: 0.03 * expected)
        XCTAssertLessThanOrEqual(values.map { Double(abs($0)) }.max()!, 2 * expected / 0.8796 + 1e-6)
    }

    func standardDeviation(_ values: [Float]) -> Double {
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        return (values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)).squareRoot()
    }
}

extension Int {
    var formatted: String {
        String(self).reversed().enumerated().map { $0 > 0 && $0 % 3 == 0 ? "\($1)," : "\($1)" }.reversed().joined()
    }
}
