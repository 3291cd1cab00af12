import ArgumentParser
import Engine

@main
struct MNISTTrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-train",
        abstract: "Data-parallel training of Keras-style MNIST models on CPUs.",
        subcommands: [Fit.self, Evaluate.self, Predict.self, Download.self, Summary.self, Bench.self]
    )
}

extension Preset: ExpressibleByArgument {}
extension Loss: ExpressibleByArgument {}

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's layers, output shapes and parameter counts, as Keras' model.summary().")

    @OptionGroup var model: ModelChoice

    func run() throws {
        print(try model.definition().makeModel().summary())
    }
}
