/// The seven models of the classic Keras MNIST tutorials (Engine.docc/Presets.md), input 28x28x1 and 10 classes;
/// `definition(inputShape:classes:)` makes them for other image sizes and class counts.
public enum Preset: String, CaseIterable, Sendable {
    case mlp
    case mlpBN = "mlp-bn"
    case cnnBN = "cnn-bn"
    case cnnSmall = "cnn-small"
    case convnetDropout = "convnet-dropout"
    case convnet
    case lenet5

    public static let inputShape = [28, 28, 1]

    public var layers: [LayerSpec] {
        switch self {
        case .mlp:
            return [.flatten, .dense(100, activation: .sigmoid), .dense(10, activation: .softmax)]
        case .mlpBN:
            return [.flatten, .batchNormalization(),
                    .dense(200, activation: .selu, kernelInitializer: .lecunNormal), .batchNormalization(),
                    .dense(100, activation: .selu, kernelInitializer: .lecunNormal), .batchNormalization(),
                    .dense(10, activation: .softmax)]
        case .cnnBN:
            return [.conv2D(64, kernelSize: 3, activation: .relu), .maxPooling2D(), .flatten, .batchNormalization(),
                    .dense(200, activation: .selu), .batchNormalization(),
                    .dense(100, activation: .selu), .batchNormalization(),
                    .dense(10, activation: .softmax)]
        case .cnnSmall:
            return [.conv2D(32, kernelSize: 5, activation: .relu), .maxPooling2D(),
                    .conv2D(64, kernelSize: 5, activation: .relu), .maxPooling2D(),
                    .flatten, .dense(10, activation: .softmax)]
        case .convnetDropout:
            return [.conv2D(32, kernelSize: 4, activation: .relu), .maxPooling2D(),
                    .conv2D(32, kernelSize: 3, activation: .relu), .maxPooling2D(padding: .same),
                    .dropout(0.3), .flatten, .dense(10, activation: .softmax)]
        case .convnet:
            return [.conv2D(32, kernelSize: 3, activation: .relu), .maxPooling2D(),
                    .conv2D(64, kernelSize: 3, activation: .relu), .maxPooling2D(),
                    .conv2D(64, kernelSize: 3, activation: .relu),
                    .flatten, .dense(64, activation: .relu), .dense(10, activation: .softmax)]
        case .lenet5:
            return [.conv2D(6, kernelSize: 5, padding: .same, activation: .tanh), .maxPooling2D(),
                    .conv2D(16, kernelSize: 5, padding: .same, activation: .tanh), .maxPooling2D(),
                    .flatten, .dense(120, activation: .tanh), .dense(84, activation: .tanh),
                    .dense(10, activation: .softmax)]
        }
    }

    public func makeModel(seed: UInt64 = 0) throws -> Sequential {
        try Sequential(layers, inputShape: Preset.inputShape, seed: seed)
    }

    /// The preset for images of `inputShape` in `classes` classes: the same layers, with the last Dense as wide as
    /// the classes. Building it throws when the images are too small for its windows.
    public func definition(inputShape: [Int] = Preset.inputShape, classes: Int = 10) -> ModelDefinition {
        var layers = layers
        layers[layers.count - 1].units = classes
        return ModelDefinition(inputShape: inputShape, layers: layers)
    }
}
