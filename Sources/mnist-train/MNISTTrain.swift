import ArgumentParser
import Engine
import Foundation

@main
struct MNISTTrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-train",
        abstract: "Data-parallel training of Keras-style MNIST models on CPUs.",
        subcommands: [Fit.self, Evaluate.self, Predict.self, Download.self, Summary.self, Bench.self, CheckMPI.self]
    )

    /// As ArgumentParser's own main, except that under mpirun only rank 0 prints a usage error: every rank
    /// parses the same flags, and N copies of one message help nobody.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if launcherRank == 0 { exit(withError: error) }
            Foundation.exit(exitCode(for: error).rawValue)
        }
    }
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
