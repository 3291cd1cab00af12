import Engine
@testable import Interop
import XCTest

/// The ONNX graph's structure, read back from its bytes: layout changes only where a node needs them, TensorFlow's
/// 'same' split as explicit pads, Keras-ordered weights. onnxruntime runs the graphs in CommandLineTests.
final class ONNXExportTests: XCTestCase {
    func graph(_ layers: [LayerSpec], inputShape: [Int] = [28, 28, 1]) throws -> Onnx_ModelProto {
        let model = try Sequential(layers, inputShape: inputShape, seed: 1)
        return try Onnx_ModelProto(serializedBytes: try ONNXExport(model).serialized(graphName: "test", metadata: ["name": "test"]))
    }

    func testConvnetTransposesOnceEachWayAndEndsInSoftmax() throws {
        let proto = try graph(Preset.convnet.layers)
        XCTAssertEqual(proto.graph.node.map(\.opType),
                       ["Transpose", "Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Conv", "Relu", "Transpose",
                        "Flatten", "MatMul", "Add", "Relu", "MatMul", "Add", "Softmax"])
        XCTAssertEqual(proto.graph.node.first?.input, ["input"])
        XCTAssertEqual(proto.graph.node.last?.output, ["probabilities"])
        XCTAssertEqual(proto.graph.input.first?.type.tensorType.shape.dim.map(\.dimParam), ["N", "", "", ""])
        XCTAssertEqual(proto.graph.input.first?.type.tensorType.shape.dim.map(\.dimValue), [0, 28, 28, 1])
        XCTAssertEqual(proto.opsetImport.map(\.version), [ONNXExport.opset])
        XCTAssertEqual(proto.metadataProps.map(\.key), ["name"])
    }

    func testSamePaddingPutsTheExtraRowAndColumnAtTheEnd() throws {
        // 28 wide, window 4, stride 1: 3 padded cells, 1 before and 2 after; window 3 at stride 2 on 28: 1, after.
        let proto = try graph([.conv2D(2, kernelSize: 4, padding: .same), .conv2D(2, kernelSize: 3, strides: 2, padding: .same),
                               .maxPooling2D(2, padding: .valid), .flatten, .dense(10, activation: .softmax)])
        let pads = proto.graph.node.filter { ["Conv", "MaxPool"].contains($0.opType) }
            .map { $0.attribute.first { $0.name == "pads" }!.ints }
        XCTAssertEqual(pads, [[1, 1, 2, 2], [0, 0, 1, 1], [0, 0, 0, 0]])
    }

    func testConvKernelIsReorderedToOutputInputRowsColumns() throws {
        let model = try Sequential([.conv2D(3, kernelSize: 2), .flatten, .dense(10, activation: .softmax)],
                                   inputShape: [4, 4, 2], seed: 5)
        let proto = try Onnx_ModelProto(serializedBytes: try ONNXExport(model).serialized(graphName: "t", metadata: [:]))
        let kernel = try XCTUnwrap(proto.graph.initializer.first { $0.name == "conv2d/kernel" })
        XCTAssertEqual(kernel.dims, [3, 2, 2, 2])
        let onnx = kernel.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let keras = model.store.values(of: model.store.views.first { $0.name == "conv2d/kernel" }!)
        // Keras [kh, kw, in, out] against ONNX [out, in, kh, kw], element by element.
        for y in 0..<2 { for x in 0..<2 { for i in 0..<2 { for o in 0..<3 {
            XCTAssertEqual(onnx[((o * 2 + i) * 2 + y) * 2 + x], keras[((y * 2 + x) * 2 + i) * 3 + o])
        } } } }
    }

    func testAVectorModelNeedsNoTransposeAndBatchNormalizationOfVectorsIsONNXs() throws {
        let proto = try graph(Preset.mlpBN.layers)
        XCTAssertFalse(proto.graph.node.contains { $0.opType == "Transpose" })
        XCTAssertEqual(proto.graph.node.filter { $0.opType == "BatchNormalization" }.count, 3)
        XCTAssertEqual(proto.graph.node.filter { $0.opType == "Selu" }.first?.attribute.map(\.f),
                       [Activation.seluAlpha, Activation.seluScale])
    }

    func testAModelWithoutSoftmaxOutputsItsLastLayerAsOutput() throws {
        let proto = try graph([.flatten, .dense(3)])
        XCTAssertEqual(proto.graph.output.map(\.name), ["output"])
        XCTAssertEqual(proto.graph.node.last?.output, ["output"])
        XCTAssertEqual(try graph([.dropout(0.5)], inputShape: [4]).graph.node.map(\.opType), ["Identity"],
                       "a model of dropout alone is the identity")
    }

    func testSoftmaxInsideChannelsFirstRunsOverAxisOneAndBatchNormalizationOf2DSamplesIsAScaleAndShift() throws {
        let proto = try graph([.conv2D(4, kernelSize: 3, activation: .softmax), .flatten, .dense(10, activation: .softmax)])
        XCTAssertEqual(proto.graph.node.first { $0.name == "conv2d/softmax" }?.attribute.first?.i, 1)
        let flat = try graph([.batchNormalization(), .flatten, .dense(10, activation: .softmax)], inputShape: [6, 5])
        XCTAssertEqual(Array(flat.graph.node.map(\.opType).prefix(2)), ["Mul", "Add"])
        let model = try Sequential([.dense(10, activation: .softmax)], inputShape: [2, 3, 4], seed: 1)
        XCTAssertThrowsError(try ONNXExport(model).serialized(graphName: "t", metadata: [:])) { error in
            XCTAssertTrue("\(error)".hasPrefix("the model ends in softmax over a [2, 3, 10] output"), "\(error)")
        }
    }
}
