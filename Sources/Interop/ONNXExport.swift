import Engine
import Foundation
import SwiftProtobuf

/// A trained Sequential model as an ONNX model (opset 17), for onnxruntime, browsers and C++ services.
///
/// The graph takes what `fit` feeds the model: float32 images in 0-1, `[N, H, W, C]` (channels last, as Keras),
/// with a dynamic batch `N`; it returns what `predict` returns (probabilities when the last layer ends in
/// softmax). ONNX's Conv, MaxPool and BatchNormalization want channels first, so the graph transposes into that
/// layout before them and back before Flatten, Dense and softmax, which then see the values in Keras' order:
/// the weights go in as trained, only the Conv kernels reordered to ONNX's `[out, in, kh, kw]`. Dropout is the
/// identity at inference and has no node.
public struct ONNXExport {
    public static let opset: Int64 = 17
    /// IR version 8, the one that goes with opsets 14-18.
    static let irVersion: Int64 = 8
    public static let inputName = "input"

    public let model: Sequential
    /// The output's name: `probabilities` when the model ends in softmax, else `output`.
    public var outputName: String { model.outputActivation == .softmax ? "probabilities" : "output" }
    /// The input's shape and the output's, with `N` for the batch.
    public var inputShape: [String] { ["N"] + model.inputShape.map(String.init) }
    public var outputShape: [String] { ["N"] + model.outputShapes.last!.map(String.init) }

    public init(_ model: Sequential) { self.model = model }

    /// The serialized ModelProto; `metadata` becomes its metadata_props.
    public func serialized(graphName: String, metadata: [String: String]) throws -> [UInt8] {
        var builder = GraphBuilder(model: model)
        var graph = try builder.graph(name: graphName, outputName: outputName)
        graph.input = [valueInfo(Self.inputName, inputShape)]
        graph.output = [valueInfo(outputName, outputShape)]
        var proto = Onnx_ModelProto()
        proto.irVersion = Self.irVersion
        proto.producerName = "mnist-train"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Self.opset
        proto.opsetImport = [opset]
        proto.graph = graph
        proto.metadataProps = metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            (entry.key, entry.value) = (key, value)
            return entry
        }
        return try proto.serializedBytes()
    }

    private func valueInfo(_ name: String, _ shape: [String]) -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.shape.dim = shape.map { size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if let value = Int64(size) { dimension.dimValue = value } else { dimension.dimParam = size }
            return dimension
        }
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type.tensorType = tensor
        return info
    }
}

/// The nodes and initializers of one export, layer by layer.
private struct GraphBuilder {
    let model: Sequential
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    /// The tensor the next node reads, and whether it is in ONNX's channels-first layout (else in the engine's).
    var current = ONNXExport.inputName
    var channelsFirst = false
    /// Sample rank of `current` (no batch axis).
    var sampleRank: Int

    init(model: Sequential) {
        self.model = model
        sampleRank = model.inputShape.count
    }

    mutating func graph(name: String, outputName: String) throws -> Onnx_GraphProto {
        for (index, layer) in model.layers.enumerated() {
            let name = model.layerNames[index]
            switch layer {
            case let conv as Conv2D:
                layout(channelsFirst: true, before: name)
                let kernel = weights(name, "kernel")
                // [kh, kw, in, out] -> [out, in, kh, kw]
                let (kh, kw, inputs, outputs) = (conv.kernelSize.height, conv.kernelSize.width, conv.inputShape[2], conv.filters)
                var reordered = [Float](repeating: 0, count: kernel.count)
                for y in 0..<kh { for x in 0..<kw { for i in 0..<inputs { for o in 0..<outputs {
                    reordered[((o * inputs + i) * kh + y) * kw + x] = kernel[((y * kw + x) * inputs + i) * outputs + o]
                } } } }
                var operands = [current, constant("\(name)/kernel", reordered, [outputs, inputs, kh, kw])]
                if conv.useBias { operands.append(constant("\(name)/bias", weights(name, "bias"), [outputs])) }
                node("Conv", name, operands, attributes: [
                    ints("kernel_shape", [kh, kw]), ints("strides", [conv.strides.height, conv.strides.width]),
                    ints("pads", pads(conv.inputShape, window: conv.kernelSize, strides: conv.strides, padding: conv.padding))])
                activation(conv.activation, of: name)
            case let pool as MaxPooling2D:
                layout(channelsFirst: true, before: name)
                node("MaxPool", name, [current], attributes: [
                    ints("kernel_shape", [pool.poolSize.height, pool.poolSize.width]),
                    ints("strides", [pool.strides.height, pool.strides.width]),
                    ints("pads", pads(pool.inputShape, window: pool.poolSize, strides: pool.strides, padding: pool.padding))])
            case let dense as Dense:
                layout(channelsFirst: false, before: name)
                node("MatMul", name + "/matmul", [current, constant("\(name)/kernel", weights(name, "kernel"),
                                                                     [dense.inputFeatures, dense.units])])
                if dense.useBias { node("Add", name, [current, constant("\(name)/bias", weights(name, "bias"), [dense.units])]) }
                sampleRank = dense.outputShape.count
                activation(dense.activation, of: name)
            case is Flatten:
                layout(channelsFirst: false, before: name)
                node("Flatten", name, [current], attributes: [int("axis", 1)])
                sampleRank = 1
            case let normalization as BatchNormalization:
                try batchNormalization(normalization, name)
            case let activationLayer as ActivationLayer:
                activation(activationLayer.activation, of: name)
            case is Dropout:
                continue
            default:
                throw InteropError("layer \(name) (\(type(of: layer))) has no ONNX form; export its weights with --safetensors")
            }
        }
        layout(channelsFirst: false, before: "output")
        if model.outputActivation == .softmax {
            // predict's softmax runs over a whole sample, ONNX's over one axis: the same only for a vector.
            guard sampleRank == 1 else {
                throw InteropError("the model ends in softmax over a \(model.outputShapes.last!) output, which ONNX's Softmax "
                                   + "does not take whole; put a Flatten before its last layer to export it")
            }
            node("Softmax", "softmax", [current], attributes: [int("axis", -1)])
        }
        if nodes.isEmpty { node("Identity", "identity", [current]) }
        // The last node's output takes the graph output's name.
        nodes[nodes.count - 1].output = [outputName]
        var graph = Onnx_GraphProto()
        graph.name = name
        graph.node = nodes
        graph.initializer = initializers
        return graph
    }

    /// Moves `current` into the layout a node needs: a Transpose, when the sample is an image ([H, W, C]).
    mutating func layout(channelsFirst wanted: Bool, before name: String) {
        guard sampleRank == 3, channelsFirst != wanted else { return }
        node("Transpose", "\(name)/to_" + (wanted ? "nchw" : "nhwc"), [current],
             attributes: [ints("perm", wanted ? [0, 3, 1, 2] : [0, 2, 3, 1])])
        channelsFirst = wanted
    }

    /// Inference form, with the moving statistics. ONNX normalizes axis 1: an image goes channels first; a
    /// vector's features are axis 1 already. Anything else (a 2-D sample, normalized over its last axis) is the
    /// same arithmetic as a scale and a shift along that axis.
    mutating func batchNormalization(_ layer: BatchNormalization, _ name: String) throws {
        let (gamma, beta) = (weights(name, "gamma"), weights(name, "beta"))
        let (mean, variance) = (weights(name, "moving_mean"), weights(name, "moving_variance"))
        let features = layer.features
        if sampleRank == 1 || sampleRank == 3 {
            layout(channelsFirst: true, before: name)
            node("BatchNormalization", name, [current, constant("\(name)/gamma", gamma, [features]),
                                             constant("\(name)/beta", beta, [features]),
                                             constant("\(name)/moving_mean", mean, [features]),
                                             constant("\(name)/moving_variance", variance, [features])],
                 attributes: [float("epsilon", layer.epsilon)])
            return
        }
        let scale = (0..<features).map { gamma[$0] / (variance[$0] + layer.epsilon).squareRoot() }
        let shift = (0..<features).map { beta[$0] - mean[$0] * scale[$0] }
        node("Mul", name + "/scale", [current, constant("\(name)/scale", scale, [features])])
        node("Add", name, [current, constant("\(name)/shift", shift, [features])])
    }

    mutating func activation(_ activation: Activation, of name: String) {
        switch activation {
        case .linear: return
        case .relu: node("Relu", name + "/relu", [current])
        case .tanh: node("Tanh", name + "/tanh", [current])
        case .sigmoid: node("Sigmoid", name + "/sigmoid", [current])
        case .selu:
            node("Selu", name + "/selu", [current], attributes: [float("alpha", Activation.seluAlpha),
                                                                  float("gamma", Activation.seluScale)])
        case .softmax:
            // Over the features: the last axis of the engine's layout, axis 1 of channels first.
            node("Softmax", name + "/softmax", [current], attributes: [int("axis", channelsFirst ? 1 : -1)])
        }
    }

    /// ONNX's [top, left, bottom, right] for the engine's (TensorFlow's) split of 'same' padding.
    func pads(_ inputShape: [Int], window: (height: Int, width: Int), strides: (height: Int, width: Int),
              padding: Padding) -> [Int] {
        let rows = windowOutput(input: inputShape[0], window: window.height, stride: strides.height, padding: padding)
        let columns = windowOutput(input: inputShape[1], window: window.width, stride: strides.width, padding: padding)
        let bottom = max((rows.length - 1) * strides.height + window.height - inputShape[0] - rows.padBefore, 0)
        let right = max((columns.length - 1) * strides.width + window.width - inputShape[1] - columns.padBefore, 0)
        return [rows.padBefore, columns.padBefore, bottom, right]
    }

    /// A weight of a layer; every layer of a built model has the weights its kind declares.
    func weights(_ layer: String, _ parameter: String) -> [Float] {
        model.store.values(of: model.store.view(named: "\(layer)/\(parameter)")!)
    }

    /// Adds an initializer; returns its name.
    mutating func constant(_ name: String, _ values: [Float], _ shape: [Int]) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = name
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = shape.map(Int64.init)
        // raw_data is little-endian whatever the machine.
        tensor.rawData = values.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        initializers.append(tensor)
        return name
    }

    /// Appends a node reading `inputs`; its output, named after it, becomes `current`.
    mutating func node(_ operation: String, _ name: String, _ inputs: [String], attributes: [Onnx_AttributeProto] = []) {
        var node = Onnx_NodeProto()
        node.opType = operation
        node.name = name
        node.input = inputs
        node.output = [name + ":0"]
        node.attribute = attributes
        nodes.append(node)
        current = node.output[0]
    }

    func ints(_ name: String, _ values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    func int(_ name: String, _ value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    func float(_ name: String, _ value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }
}

/// A model that cannot be exported: one line for the user.
public struct InteropError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
