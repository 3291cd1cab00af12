import ArgumentParser
import Distributed
import Engine
import Foundation
import Training

/// `mnist-train check-mpi`: checks that collectives give exact results across the job's ranks, and times the
/// gradient allreduce of each preset. Run it under mpirun on a new cluster before training.
struct CheckMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-mpi",
        abstract: "Check MPI across the job's ranks: exact allreduce and broadcast, and allreduce timings.")

    func run() throws {
        try runOnEveryRank(check)
    }

    func check(_ communicator: any Communicator) throws {
        let rank = communicator.rank, size = communicator.size
        // Whole numbers below 2^24 add exactly in float32 in any order: the results must be exact.
        for count in [1, 7, 1000, 1_000_003] {
            // Rank r holds (i mod 1000) + 7r + 1 at index i.
            func value(_ i: Int, rank r: Int) -> Float { Float(i % 1000 + 7 * r + 1) }
            let mine = (0..<count).map { value($0, rank: rank) }
            var sum = [Float](repeating: 0, count: count)
            for r in 0..<size { for i in 0..<count { sum[i] += value(i, rank: r) } }
            let expected: [(ReduceOperation, [Float])] = [
                (.sum, sum), (.max, (0..<count).map { value($0, rank: size - 1) }), (.min, (0..<count).map { value($0, rank: 0) }),
            ]
            for (operation, target) in expected {
                var values = mine
                communicator.allreduce(&values, operation)
                if let index = values.indices.first(where: { values[$0] != target[$0] }) {
                    throw TrainingCheckError("allreduce \(operation) of \(count) floats: element \(index) is \(values[index]), "
                                                 + "expected \(target[index])")
                }
            }
            var doubles = mine.map(Double.init)
            communicator.allreduce(&doubles, .sum)
            guard doubles == sum.map(Double.init) else { throw TrainingCheckError("allreduce sum of \(count) doubles is not exact") }
            // Averages are sums times 1/size: exact when size is a power of two, within an ulp otherwise.
            var averages = mine
            communicator.allreduce(&averages, .average)
            for i in 0..<count {
                let target = sum[i] / Float(size)
                if abs(averages[i] - target) > target.ulp {
                    throw TrainingCheckError("allreduce average of \(count) floats: element \(i) is \(averages[i]), expected \(target)")
                }
            }
        }
        var broadcast = (0..<1001).map { Float(rank == 0 ? $0 : -1) }
        communicator.broadcast(&broadcast, root: 0)
        guard broadcast == (0..<1001).map(Float.init) else { throw TrainingCheckError("broadcast from rank 0 differs") }
        communicator.barrier()

        // Timing: the gradient buffer of each preset, best of 20 after 3 warm-ups.
        var lines: [String] = []
        for preset in Preset.allCases {
            var gradients = [Float](repeating: 1, count: try preset.makeModel().trainableParameterCount)
            var best = Double.infinity
            for repetition in 0..<23 {
                communicator.barrier()
                let start = Date()
                communicator.allreduce(&gradients, .sum)
                if repetition >= 3 { best = min(best, Date().timeIntervalSince(start)) }
            }
            var slowest = [best]
            communicator.allreduce(&slowest, .max)
            lines.append("  \(preset.rawValue): \(gradients.count * 4 / 1024) KiB in \(String(format: "%.3f", slowest[0] * 1000)) ms")
        }
        if communicator.isRoot {
            print("\(counted(size, "rank")): allreduce (sum, max, min, average) exact for 1, 7, 1000 and "
                  + "1000003 floats; broadcast exact")
            print("gradient allreduce per step, slowest rank, best of 20:")
            lines.forEach { print($0) }
        }
    }
}

struct TrainingCheckError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "check-mpi: " + description }
}
