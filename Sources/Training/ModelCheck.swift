import Engine

/// Whether a model can be trained or evaluated on a classification set with a loss, checked before any step:
/// a model that does not fit the data fails here with one line saying what to change, instead of training to
/// nonsense or reading past its buffers.
public enum ModelCheck {
    /// Throws the first problem: input shape, output shape, class count, or a loss the output cannot feed. A
    /// `saved` (trained) model's definition cannot change: its advice is about the data.
    public static func check(_ model: Sequential, sampleShape: [Int], classes: Int, loss: Loss, saved: Bool = false) throws {
        guard model.inputShape == sampleShape else {
            throw ModelDefinitionError("the model takes inputs of shape \(model.inputShape), but the images are "
                                           + "\(sampleShape); " + (saved ? "it was trained on other images: use --data with a "
                                                                     + "set of \(model.inputShape) images"
                                                                 : "set \"input_shape\" to \(sampleShape)"))
        }
        let last = model.layerNames.count - 1
        let output = model.outputShapes[last]
        guard output.count == 1 else {
            throw ModelDefinitionError("the model's output per sample has shape \(output), but a classifier gives one "
                                           + "vector of \(classes) scores: put a Flatten before the last Dense")
        }
        guard output[0] == classes else {
            throw ModelDefinitionError("the model's last layer (\(model.layerNames[last])) gives \(output[0]) outputs, "
                                           + "but the data has \(classes) classes (labels 0-\(classes - 1)): give it "
                                           + "\(classes) units")
        }
        if loss != .meanSquaredError, model.outputActivation != .softmax {
            let spec = model.layerSpecs[last]
            let ending = [.dense, .conv2D, .activation].contains(spec.type)
                ? "activation \(spec.activation ?? .linear)" : "a \(spec.type.rawValue) layer"
            throw ModelDefinitionError("\(loss.rawValue) reads the outputs as class probabilities, but the model ends "
                                           + "in \(ending): end it with a softmax (\"activation\": \"softmax\" on "
                                           + "its last Dense)")
        }
    }
}
