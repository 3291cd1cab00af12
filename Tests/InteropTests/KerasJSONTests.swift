import Engine
import Foundation
@testable import Interop
import XCTest

/// Keras' own JSON of every preset and a custom model, in the dialects of Keras 2, tf.keras 2.x and Keras 3
/// (Keras/make_keras_fixtures.py wrote them with real Keras, and Keras' parameter counts beside them), read into the
/// engine's models; and one model per unsupported argument, refused with one line naming the layer and argument.
final class KerasJSONTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Keras")

    func fixture(_ name: String) throws -> Data { try Data(contentsOf: Self.fixtures.appendingPathComponent(name + ".json")) }

    func testEveryPresetAndACustomModelReadsInEveryDialectWithKerasParameterCounts() throws {
        let counts = try JSONDecoder().decode([String: Int].self, from: try fixture("counts"))
        XCTAssertEqual(counts.count, 3 * 8)
        for (key, count) in counts.sorted(by: { $0.key < $1.key }) {
            let data = try fixture(key)
            XCTAssertTrue(KerasJSON.isKeras(try JSONDecoder().decode(JSONValue.self, from: data)), key)
            let definition = try KerasJSON.definition(data)
            XCTAssertEqual(definition.inputShape, [28, 28, 1], key)
            let model = try definition.makeModel()
            XCTAssertEqual(model.parameterCount, count, "\(key): Keras' count_params()")
            let presetName = String(key.split(separator: "/")[1])
            guard let preset = Preset(rawValue: presetName) else { continue }
            let expected = try preset.makeModel()
            XCTAssertEqual(model.layerSpecs.map(\.type), expected.layerSpecs.map(\.type), key)
            XCTAssertEqual(model.outputShapes, expected.outputShapes, key)
            XCTAssertEqual(model.store.views.map(\.name), expected.store.views.map(\.name), "\(key): Keras' weight names")
            XCTAssertEqual(model.layerSpecs.map { $0.activation ?? .linear }, preset.layers.map { $0.activation ?? .linear }, key)
        }
    }

    func testTheCustomModelKeepsItsStridesPaddingInitializersAndBatchNormalization() throws {
        for dialect in ["keras2", "tfkeras2", "keras3"] {
            let layers = try KerasJSON.definition(try fixture("\(dialect)/custom")).layers
            XCTAssertEqual(layers[0].strides, [2, 2], dialect)
            XCTAssertEqual(layers[0].padding, .same, dialect)
            XCTAssertEqual(layers[0].kernelInitializer, .heNormal, dialect)
            XCTAssertEqual(layers[1].momentum, 0.9, dialect)
            XCTAssertEqual(layers[1].epsilon, 1e-5, dialect)
            XCTAssertEqual(layers[2].kernelSize, [3, 2], dialect)
            XCTAssertEqual(layers[2].strides, [2, 1], dialect)
            XCTAssertEqual(layers[4].poolSize, [3, 3], dialect)
            XCTAssertEqual(layers[6].useBias, false, dialect)
            XCTAssertEqual(layers[8].rate, 0.25, dialect)
        }
    }

    func testUnsupportedArgumentsAreRefusedNamingTheLayerAndArgument() throws {
        let expected = [
            "kernel_regularizer": "layer dense (Dense): kernel_regularizer is not supported: the engine has no regularizers",
            "bias_constraint": "layer dense (Dense): bias_constraint is not supported: the engine has no constraints",
            "dilation_rate": "layer conv2d (Conv2D): dilation_rate [2, 2] is not supported: dilation is not supported",
            "groups": "layer conv2d_1 (Conv2D): groups 2 is not supported: grouped convolution is not supported",
            "activation": "layer dense (Dense): activation gelu is not supported: use linear, relu, tanh, sigmoid, selu or softmax",
            "layer": "layer global_average_pooling2d (GlobalAveragePooling2D): Keras layer GlobalAveragePooling2D is not supported",
            "kernel_initializer": "layer dense (Dense): kernel_initializer GlorotNormal is not supported",
            "trainable": "layer dense (Dense): trainable false (a frozen layer) is not supported",
        ]
        for (name, message) in expected {
            XCTAssertThrowsError(try KerasJSON.definition(try fixture("refused/\(name)")), name) { error in
                XCTAssertTrue("\(error)".hasPrefix(message), "\(name): \(error)")
                XCTAssertFalse("\(error)".contains("\n"), "one line")
            }
        }
    }

    func testAnUnknownArgumentIsNotDroppedSilently() throws {
        var json = try JSONSerialization.jsonObject(with: try fixture("keras3/mlp")) as! [String: Any]
        var config = json["config"] as! [String: Any], layers = config["layers"] as! [[String: Any]]
        var dense = layers[2]["config"] as! [String: Any]
        dense["kernel_quantizer"] = "int8"
        layers[2]["config"] = dense
        config["layers"] = layers
        json["config"] = config
        XCTAssertThrowsError(try KerasJSON.definition(try JSONSerialization.data(withJSONObject: json))) { error in
            XCTAssertEqual("\(error)", "layer dense (Dense): kernel_quantizer is not supported here (it has no form in the engine)")
        }
    }
}
