import ArgumentParser
import Engine
import Foundation
import Training

@main
struct MNISTTrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist-train",
        abstract: "Data-parallel training of Keras-style MNIST models on CPUs.",
        discussion: "Shell completion: mnist-train --generate-completion-script bash (or zsh, fish).",
        version: "0.13.0",
        subcommands: [Fit.self, Evaluate.self, Predict.self, Report.self, Inspect.self, Export.self, Download.self, Summary.self,
                      Presets.self, Bench.self, CheckMPI.self, ReadHDF5.self]
    )

    /// As ArgumentParser's own main, except that under mpirun only rank 0 prints a usage error: every rank
    /// parses the same flags, and N copies of one message help nobody.
    static func main() async {
        do {
            var command = try parseAsRoot(joiningNegativeValues(normalizingResume(Array(CommandLine.arguments.dropFirst()))))
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

/// ArgumentParser reads `--lr -1` as the option `--lr` followed by a flag `-1`, and reports a missing value. An
/// option followed by a negative number becomes `--lr=-1`, so the value reaches the option's range check.
func joiningNegativeValues(_ arguments: [String]) -> [String] {
    var joined: [String] = []
    var index = 0
    while index < arguments.count {
        let argument = arguments[index]
        if argument.hasPrefix("--"), !argument.contains("="), index + 1 < arguments.count,
           arguments[index + 1].wholeMatch(of: /-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/) != nil {
            joined.append(argument + "=" + arguments[index + 1])
            index += 2
        } else {
            joined.append(argument)
            index += 1
        }
    }
    return joined
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

struct Presets: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the preset models with their parameter counts and the training settings fit gives them.")

    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let rows = try Preset.allCases.map { preset in
            (preset, try preset.makeModel().parameterCount, preset.trainingDefaults)
        }
        if json {
            let objects = rows.map { preset, parameters, training in
                ["name": preset.rawValue, "parameters": parameters, "training": jsonObject(training)] as [String: Any]
            }
            print(String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        for (preset, parameters, training) in rows {
            let validation = training.validationSplit > 0 ? ", validation split \(training.validationSplit)" : ""
            print("\(preset.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0))\(String(parameters).padded(8)) params  "
                  + "\(training.epochs) epochs, batch \(training.batchSize), \(training.optimizerText), \(training.loss.rawValue)"
                  + validation + (training.earlyStoppingText.map { ", " + $0 } ?? ""))
        }
    }
}
