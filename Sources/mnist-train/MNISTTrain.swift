import ArgumentParser
import Engine
import Foundation

@main
struct MNISTTrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-train",
        abstract: "Data-parallel training of Keras-style MNIST models on CPUs.",
        subcommands: [Fit.self, Evaluate.self, Predict.self, Inspect.self, Export.self, Download.self, Summary.self, Bench.self,
                      CheckMPI.self]
    )

    /// As ArgumentParser's own main, except that under mpirun only rank 0 prints a usage error: every rank
    /// parses the same flags, and N copies of one message help nobody.
    static func main() async {
        do {
            var command = try parseAsRoot(normalizingResume(Array(CommandLine.arguments.dropFirst())))
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

/// `--resume` takes an optional value, which ArgumentParser has no form for: a bare `--resume` (last, or before
/// another option) becomes `--resume=:latest`, meaning the newest checkpoint in --checkpoint-dir.
func normalizingResume(_ arguments: [String]) -> [String] {
    arguments.enumerated().map { index, argument in
        guard argument == "--resume" else { return argument }
        let next = index + 1 < arguments.count ? arguments[index + 1] : nil
        return next == nil || next!.hasPrefix("-") ? "--resume=\(Fit.newestInCheckpointDirectory)" : argument
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
