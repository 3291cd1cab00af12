import ArgumentParser
import Engine

@main
struct MNISTTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-train",
        abstract: "Data-parallel training of Keras-style MNIST models on CPUs.",
        subcommands: [Summary.self, Bench.self]
    )
}

/// `--model PRESET`, shared by the commands that build a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Preset model: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: Preset = .convnet
}

extension Preset: ExpressibleByArgument {}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's layers, output shapes and parameter counts, as Keras' model.summary().")

    @OptionGroup var options: ModelOptions

    func run() throws {
        print(try options.model.makeModel().summary())
    }
}
