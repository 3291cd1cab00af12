import Engine
import Foundation
import ZIPFoundation

/// A trained model as a Keras 3 `.keras` archive that `keras.models.load_model` opens without custom objects:
/// `config.json` (a Sequential of Keras' own layers, under the engine's names, which are Keras' automatic
/// ones), `metadata.json`, and `model.weights.h5` (each layer's weights as `layers/<name>/vars/<i>`, in Keras'
/// order, which is the engine's).
public enum KerasExport {
    /// The Keras version whose format this writes.
    public static let kerasVersion = "3.15.1"

    /// `compile`: the settings the model was trained with, written as its `compile_config`, so that Keras' `fit`
    /// goes on as this tool's did; nil writes the model uncompiled.
    public static func write(_ model: Sequential, compile: KerasCompileSettings?, to path: String) throws {
        let scratch = NSTemporaryDirectory() + "mnist-train-export-\(getpid())-\(UUID().uuidString).h5"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let datasets = KerasWeights.datasets(of: model, kerasNames: model.layerNames)
        let values = model.layers.flatMap(\.parameters).map { model.store.values(of: $0) }
        try HDF5Datasets.write(file: scratch, Array(zip(datasets, values)),
                               groups: ["vars"] + model.layerNames.map { "layers/\($0)/vars" })
        let weights = try Data(contentsOf: URL(fileURLWithPath: scratch))
        let config = try JSONSerialization.data(withJSONObject: configuration(model, compile: compile), options: [.sortedKeys])
        let metadata = try JSONSerialization.data(withJSONObject: ["keras_version": kerasVersion, "date_saved": dateSaved()],
                                                  options: [.sortedKeys])
        try? FileManager.default.removeItem(atPath: path)
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        for (name, bytes) in [("metadata.json", metadata), ("config.json", config), ("model.weights.h5", weights)] {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(bytes.count), compressionMethod: .none) { position, size in
                bytes.subdata(in: Int(position)..<Int(position) + size)
            }
        }
    }

    /// Keras 3's `config.json` of the model.
    static func configuration(_ model: Sequential, compile: KerasCompileSettings?) -> [String: Any] {
        let batchShape: [Any] = [NSNull()] + model.inputShape
        let input = layer("InputLayer", ["batch_shape": batchShape, "dtype": "float32", "sparse": false, "ragged": false,
                                         "name": "input_layer", "optional": false])
        let layers = zip(model.layerSpecs, model.layerNames).map { spec, name in self.layer(spec, name: name) }
        return ["module": "keras", "class_name": "Sequential", "registered_name": NSNull(),
                "config": ["name": "sequential", "trainable": true, "dtype": dtypePolicy, "layers": [input] + layers],
                "build_config": ["input_shape": batchShape], "compile_config": compile.map(compileConfig) ?? NSNull()]
    }

    /// `compile_config` as Keras 3 writes it for `model.compile(optimizer, loss, metrics=["accuracy"])`: the
    /// optimizer's constants are the engine's, which are Keras' defaults.
    static func compileConfig(_ settings: KerasCompileSettings) -> [String: Any] {
        let className = ["sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"][settings.optimizer]!
        var optimizer: [String: Any] = [
            "name": settings.optimizer, "learning_rate": Double(settings.learningRate ?? (settings.optimizer == "sgd" ? 0.01 : 0.001)),
            "weight_decay": NSNull(), "clipnorm": NSNull(), "global_clipnorm": NSNull(), "clipvalue": NSNull(), "use_ema": false,
            "ema_momentum": 0.99, "ema_overwrite_frequency": NSNull(), "loss_scale_factor": NSNull(),
            "gradient_accumulation_steps": NSNull()]
        switch settings.optimizer {
        case "sgd": optimizer.merge(["momentum": Double(settings.momentum ?? 0), "nesterov": settings.nesterov ?? false]) { $1 }
        case "adam": optimizer.merge(["beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": false]) { $1 }
        default: optimizer.merge(["rho": 0.9, "momentum": Double(settings.momentum ?? 0), "epsilon": 1e-7, "centered": false]) { $1 }
        }
        return ["optimizer": ["module": "keras.optimizers", "class_name": className, "config": optimizer, "registered_name": NSNull()],
                "loss": settings.loss.rawValue, "loss_weights": NSNull(), "metrics": ["accuracy"], "weighted_metrics": NSNull(),
                "run_eagerly": false, "steps_per_execution": 1, "jit_compile": true]
    }

    static var dtypePolicy: [String: Any] { ["module": "keras", "class_name": "DTypePolicy", "config": ["name": "float32"],
                                             "registered_name": NSNull()] }

    static func layer(_ className: String, _ config: [String: Any]) -> [String: Any] {
        ["module": "keras.layers", "class_name": className, "config": config, "registered_name": NSNull()]
    }

    static func initializer(_ initializer: Initializer) -> [String: Any] {
        let names: [Initializer: String] = [.glorotUniform: "GlorotUniform", .lecunNormal: "LecunNormal", .heNormal: "HeNormal",
                                            .zeros: "Zeros", .ones: "Ones"]
        let config: [String: Any] = [.zeros, .ones].contains(initializer) ? [:] : ["seed": NSNull()]
        return ["module": "keras.initializers", "class_name": names[initializer]!, "config": config, "registered_name": NSNull()]
    }

    /// One layer as Keras 3 writes it; the engine's defaults are Keras' own.
    static func layer(_ spec: LayerSpec, name: String) -> [String: Any] {
        var config: [String: Any] = ["name": name, "trainable": true, "dtype": dtypePolicy]
        let activation = (spec.activation ?? .linear).rawValue
        switch spec.type {
        case .conv2D:
            config.merge(["filters": spec.filters!, "kernel_size": spec.kernelSize!, "strides": spec.strides ?? [1, 1],
                          "padding": (spec.padding ?? .valid).rawValue, "data_format": "channels_last", "dilation_rate": [1, 1],
                          "groups": 1, "activation": activation, "use_bias": spec.useBias ?? true,
                          "kernel_initializer": initializer(spec.kernelInitializer ?? .glorotUniform),
                          "bias_initializer": initializer(.zeros)]) { $1 }
            return layer("Conv2D", config)
        case .dense:
            config.merge(["units": spec.units!, "activation": activation, "use_bias": spec.useBias ?? true,
                          "kernel_initializer": initializer(spec.kernelInitializer ?? .glorotUniform),
                          "bias_initializer": initializer(.zeros)]) { $1 }
            return layer("Dense", config)
        case .maxPooling2D:
            let pool = spec.poolSize ?? [2, 2]
            config.merge(["pool_size": pool, "strides": spec.strides ?? pool, "padding": (spec.padding ?? .valid).rawValue,
                          "data_format": "channels_last"]) { $1 }
            return layer("MaxPooling2D", config)
        case .flatten:
            config["data_format"] = "channels_last"
            return layer("Flatten", config)
        case .dropout:
            config.merge(["rate": Double(spec.rate ?? 0), "seed": NSNull(), "noise_shape": NSNull()]) { $1 }
            return layer("Dropout", config)
        case .batchNormalization:
            config.merge(["axis": -1, "momentum": Double(spec.momentum ?? 0.99), "epsilon": Double(spec.epsilon ?? 1e-3),
                          "center": true, "scale": true]) { $1 }
            return layer("BatchNormalization", config)
        case .activation:
            config["activation"] = activation
            return layer("Activation", config)
        }
    }

    /// Keras' `date_saved` form, 2026-12-02@05:30:00.
    static func dateSaved() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd@HH:mm:ss"
        return formatter.string(from: Date())
    }
}
