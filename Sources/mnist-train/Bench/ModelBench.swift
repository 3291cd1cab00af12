import ArgumentParser
import Distributed
import Engine
import Foundation
import MNIST
import Training

/// `mnist-train bench model`: where a preset's training step spends its time at the current rank count, on
/// random data of MNIST's shape. Per layer: forward and backward milliseconds and the GEMM work they do as
/// GFLOP/s against the measured FMA peak; then whole steps: global samples/s and the allreduce's share.
struct ModelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Per-layer times, GFLOP/s, samples/s and allreduce time of a preset's training step.")

    @Option(help: "Preset to measure.")
    var model: Preset = .convnet

    @Option(help: "Global batch (default: the preset's), split across the ranks as fit splits it.")
    var batchSize: Int?

    @Option(help: "Steps measured in each phase, after 3 warm-up steps.")
    var steps = 50

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    @Option(help: ArgumentHelp("Worker threads in each rank (default: as fit's --threads).", valueName: "n"))
    var threads: Int?

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive") }
        guard (batchSize ?? 1) > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        try runOnEveryRank(measure)
    }

    func measure(_ communicator: any Communicator) throws {
        let defaults = model.trainingDefaults
        let globalBatch = batchSize ?? defaults.batchSize
        let plan = try ThreadPlan.make(requested: threads)
        let trainer = Trainer(model: try model.makeModel(), configuration: defaults, communicator: communicator,
                              workers: plan.makeWorkers())
        let network = trainer.model
        // One global batch of random bytes; every rank holds it and takes its share, as fit does.
        var rng = SplitMix64(seed: 1)
        let data = Dataset(images: (0..<globalBatch * 784).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                           labels: (0..<globalBatch).map { _ in UInt8(rng.next() % 10) }, rows: 28, columns: 28)
        let indices = Array(0..<globalBatch)[communicator.share(of: globalBatch)]
        let (input, labels) = data.batch(indices)
        let targets = Trainer.targets(labels, classes: 10, loss: defaults.loss)
        func lossGradient(_ output: Tensor) -> Tensor {
            defaults.loss.evaluate(output: output, targets: targets, outputActivation: network.outputActivation).gradient
        }
        let peak = communicator.isRoot ? FMAPeak.measure() : nil

        // Phase 1: layer by layer (no allreduce, no update), mean seconds per step on each rank.
        var layerSeconds = [Double](repeating: 0, count: 2 * network.layerNames.count)
        for step in -3..<steps {
            network.store.zeroGradients()
            let (forward, backward) = network.timedTrainingStep(input, lossGradient: lossGradient)
            if step >= 0 { for (i, s) in (forward + backward).enumerated() { layerSeconds[i] += s / Double(steps) } }
        }
        communicator.allreduce(&layerSeconds, .average)

        // Phase 2: fit's own training step, which times its compute and its allreduce apart.
        var timer = IntervalTimer()
        for step in -3..<steps {
            if step == 0 {
                communicator.barrier()
                timer = IntervalTimer()
            }
            _ = trainer.trainStep(indices, of: data, globalCount: globalBatch, timer: &timer)
        }
        var perRank = [timer.compute + timer.communication, timer.communication, timer.synchronization]
        var slowest = perRank
        communicator.allreduce(&perRank, .average)
        communicator.allreduce(&slowest, .max)
        guard communicator.isRoot else { return }

        let report = ModelBenchReport(
            model: model.rawValue, ranks: communicator.size, threads: plan.threads, globalBatch: globalBatch, steps: steps,
            gradientBytes: 4 * network.store.gradients.count, fmaPeakGigaflops: peak?.gigaflops ?? 0,
            fmaPeakVectorBits: peak?.vectorBits ?? 0,
            layers: network.layerNames.indices.map { i in
                let flops = gemmFlops(of: network, layer: i, rows: indices.count)
                let (forward, backward) = (layerSeconds[i], layerSeconds[network.layerNames.count + i])
                return .init(name: network.layerNames[i], outputShape: network.outputShapes[i],
                             kernels: kernels(of: network, layer: i), forwardMilliseconds: 1000 * forward, backwardMilliseconds: 1000 * backward,
                             gigaflops: flops > 0 ? flops / (forward + backward) / 1e9 : nil)
            },
            samplesPerSecond: Double(globalBatch * steps) / slowest[0],
            trainingGigaflops: network.layerNames.indices.reduce(0) { $0 + gemmFlops(of: network, layer: $1, rows: 1) }
                * Double(globalBatch * steps) / slowest[0] / 1e9,
            directEquivalentGigaflops: network.layerNames.indices.reduce(0) {
                $0 + gemmFlops(of: network, layer: $1, rows: 1, asDirect: true)
            } * Double(globalBatch * steps) / slowest[0] / 1e9,
            machineLimitGigaflops: Double(communicator.size * plan.threads) * (peak?.gigaflops ?? 0),
            isa: KernelISA.active.rawValue,
            stepMilliseconds: 1000 * perRank[0] / Double(steps),
            allreduceMilliseconds: 1000 * perRank[1] / Double(steps),
            synchronizationMilliseconds: 1000 * perRank[2] / Double(steps),
            allreduceFraction: perRank[1] / perRank[0])
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            report.printTables()
        }
    }
}

/// Floating-point work of a layer's GEMMs in one forward and backward for `rows` samples, as the layer does it:
/// forward is 2·(output positions)·(kernel size), or under Winograd 2·(tiles)·(tile points)·(channels)·(filters)
/// (unless `asDirect`: the work of a direct convolution, which Winograd's figures are usually quoted against);
/// backward is that again for the weight gradient and again for the input gradient, which training skips for the
/// first layer with weights.
private func gemmFlops(of model: Sequential, layer: Int, rows: Int, asDirect: Bool = false) -> Double {
    guard let shape = model.gemmShape(ofLayer: layer) else { return 0 }
    let direct = shape.positions * shape.depth * shape.outputs
    let multiplyAdds = asDirect ? direct : (model.layers[layer] as? Conv2D)?.multiplyAddsPerSample ?? direct
    return 2 * Double(rows * multiplyAdds) * (layer == model.firstLayerWithWeights ? 2 : 3)
}

/// The kernels a layer with weights runs: "winograd" or "gemm"; nil for the others.
private func kernels(of model: Sequential, layer: Int) -> String? {
    guard model.gemmShape(ofLayer: layer) != nil else { return nil }
    return (model.layers[layer] as? Conv2D)?.runsWinograd == true ? "winograd" : "gemm"
}

struct ModelBenchReport: Encodable {
    struct Layer: Encodable {
        let name: String
        let outputShape: [Int]
        /// "gemm" or "winograd" for a layer with a kernel.
        let kernels: String?
        let forwardMilliseconds: Double
        let backwardMilliseconds: Double
        /// GEMM work of forward and backward, as the layer does it, over their time; nil for layers without a kernel.
        let gigaflops: Double?
    }

    let model: String
    let ranks: Int
    /// Worker threads in each rank.
    let threads: Int
    let globalBatch: Int
    let steps: Int
    /// What each step's allreduce sums.
    let gradientBytes: Int
    let fmaPeakGigaflops: Double
    let fmaPeakVectorBits: Int
    let layers: [Layer]
    let samplesPerSecond: Double
    /// The GEMM work of the training steps (all ranks) over their time.
    let trainingGigaflops: Double
    /// The same with a direct convolution's work for the Winograd layers.
    let directEquivalentGigaflops: Double
    /// Ranks x threads x one core's FMA peak: the most the job's cores could do, a thread a core.
    let machineLimitGigaflops: Double
    let isa: String
    let stepMilliseconds: Double
    let allreduceMilliseconds: Double
    /// What the calling thread of a rank spends waiting for its other threads and adding their gradients.
    let synchronizationMilliseconds: Double
    let allreduceFraction: Double

    func printTables() {
        print("\(model), global batch \(globalBatch) on \(counted(ranks, "rank")) x \(counted(threads, "thread")), random "
              + "data, mean of \(steps) steps per rank, averaged over ranks (layers: one thread)")
        print("FMA peak, one core (\(fmaPeakVectorBits)-bit FMAs, GEMM-style probe): \(format(fmaPeakGigaflops, 1)) "
              + "GFLOP/s; GEMM kernels: \(isa)\n")
        let rows = layers.map { layer in
            [layer.name, layer.outputShape.map(String.init).joined(separator: "x"), layer.kernels ?? "",
             format(layer.forwardMilliseconds, 3), format(layer.backwardMilliseconds, 3),
             layer.gigaflops.map { format($0, 1) } ?? "", layer.gigaflops.map { format(100 * $0 / fmaPeakGigaflops, 0) + "%" } ?? ""]
        }
        let forward = layers.reduce(0) { $0 + $1.forwardMilliseconds }, backward = layers.reduce(0) { $0 + $1.backwardMilliseconds }
        printTable(header: ["layer", "output", "kernels", "forward ms", "backward ms", "GFLOP/s", "% of peak"],
                   rows: rows + [["total", "", "", format(forward, 3), format(backward, 3), "", ""]])
        let winograd = layers.contains { $0.kernels == "winograd" }
        if winograd {
            print("(GFLOP/s count the work each layer does: a winograd layer's GEMMs over its tiles, 4x (3x3) or "
                  + "2.8x (5x5) less than a direct convolution's)")
        }
        print("\nTraining steps (forward, loss, backward, allreduce, update); samples/s over the slowest rank's time, "
              + "milliseconds per step as the mean over ranks:")
        var header = ["samples/s", "step ms", "allreduce ms", "share", "GFLOP/s", "of limit"]
        var row = [format(samplesPerSecond, 0), format(stepMilliseconds, 3), format(allreduceMilliseconds, 3),
                   format(100 * allreduceFraction, 1) + "%", format(trainingGigaflops, 1),
                   format(100 * trainingGigaflops / machineLimitGigaflops, 0) + "%"]
        if winograd {
            header += ["as direct", "of limit"]
            row += [format(directEquivalentGigaflops, 1),
                    format(100 * directEquivalentGigaflops / machineLimitGigaflops, 0) + "%"]
        }
        printTable(header: header, rows: [row])
        if threads > 1 {
            print("(of the step: \(format(synchronizationMilliseconds, 3)) ms waiting for the other threads and adding their "
                  + "gradients, \(format(100 * synchronizationMilliseconds / stepMilliseconds, 1))%)")
        }
        print("(share: of the step; GFLOP/s of GEMM work; limit: \(counted(ranks, "rank")) x \(counted(threads, "thread")) "
              + "x the one-core FMA peak" + (winograd ? "; as direct: GFLOP/s with direct convolutions' work for the winograd layers)" : ")"))
    }
}
