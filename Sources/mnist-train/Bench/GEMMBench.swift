import ArgumentParser
import Engine

/// `mnist-train bench gemm`: GFLOP/s of every GEMM one training step of a preset runs, the fast kernel beside
/// the reference triple loop, against the measured FMA peak of one core.
struct GEMMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "GEMM GFLOP/s on a preset's shapes, against the FMA peak.")

    @Option(help: "Preset whose GEMM shapes are measured.")
    var model: Preset = .convnet

    @Option(help: "Samples whose rows the measured shapes hold (default: one training pass of the preset's batch).")
    var batchSize: Int?

    func validate() throws {
        guard (batchSize ?? 1) > 0 else { throw ValidationError("--batch-size must be positive") }
    }

    func run() throws {
        warnIfDebugBuild()
        let probe = FMAPeak.measure(), peak = probe.gigaflops
        let network = try model.makeModel()
        // Training puts a step's samples through in passes of a few (Sequential.samplesPerPass), so its GEMMs have
        // the rows of one pass, not of the whole batch.
        let defaultBatch = model.trainingDefaults.batchSize
        let batch = batchSize ?? min(defaultBatch, network.samplesPerPass ?? defaultBatch)
        print("FMA peak, one core (\(probe.vectorBits)-bit FMAs, GEMM-style probe): \(format(peak, 1)) GFLOP/s; "
              + "GEMM kernels: \(KernelISA.active.rawValue)\n")
        print("GEMMs of one \(model.rawValue) training pass of \(batch) samples"
              + (batchSize == nil && batch < defaultBatch ? " (a step of \(defaultBatch) runs them in passes)" : "")
              + ", one thread")
        let header = ["GEMM", "form", "m x n x k", "fast GFLOP/s", "% of peak", "reference GFLOP/s", "speed-up"]
        var rows: [[String]] = []
        for shape in gemmShapes(of: network, batch: batch) {
            let fast = gigaflops(shape, kernel: sgemm, repetitions: 5)
            let reference = gigaflops(shape, kernel: sgemmReference, repetitions: 1)
            rows.append([shape.name, shape.form, "\(shape.m) x \(shape.n) x \(shape.k)", format(fast, 1),
                         format(100 * fast / peak, 0) + "%", format(reference, 2), format(fast / reference, 0) + "x"])
        }
        printTable(header: header, rows: rows)
        let winograd = network.layerNames.indices.filter { (network.layers[$0] as? Conv2D)?.runsWinograd == true }
        if !winograd.isEmpty {
            print("(\(winograd.map { network.layerNames[$0] }.joined(separator: ", ")) train by Winograd, not these "
                  + "im2col GEMMs: `mnist-train bench` gives the work rate of what they run)")
        }
    }
}

struct GEMMShape {
    let name: String, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int
    var form: String { (transposeA ? "AᵀB" : transposeB ? "ABᵀ" : "AB") }
}

/// Forward (AB), weight gradient (AᵀB) and input gradient (ABᵀ) of every layer with a kernel: its rows are the
/// output positions of the batch, its depth the kernel's patch (or input features), its width the outputs.
func gemmShapes(of model: Sequential, batch: Int) -> [GEMMShape] {
    let layers = model.layerNames.indices.compactMap { i -> (String, Int, Int, Int)? in
        model.gemmShape(ofLayer: i).map { (model.layerNames[i], batch * $0.positions, $0.depth, $0.outputs) }
    }
    return layers.flatMap { name, rows, inputs, outputs in
        [GEMMShape(name: "\(name) forward", transposeA: false, transposeB: false, m: rows, n: outputs, k: inputs),
         GEMMShape(name: "\(name) dW", transposeA: true, transposeB: false, m: inputs, n: outputs, k: rows),
         GEMMShape(name: "\(name) dX", transposeA: false, transposeB: true, m: rows, n: inputs, k: outputs)]
    }
}

typealias GEMMKernel = (Bool, Bool, Int, Int, Int, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int,
                        UnsafeMutablePointer<Float>, Int, Bool) -> Void

func gigaflops(_ s: GEMMShape, kernel: GEMMKernel, repetitions: Int) -> Double {
    var rng = SplitMix64(seed: 1)
    let a = (0..<s.m * s.k).map { _ in rng.nextFloat(in: -1, 1) }
    let b = (0..<s.k * s.n).map { _ in rng.nextFloat(in: -1, 1) }
    var c = [Float](repeating: 0, count: s.m * s.n)
    let lda = s.transposeA ? s.m : s.k, ldb = s.transposeB ? s.k : s.n
    let seconds = bestTime(repetitions: repetitions) {
        c.withUnsafeMutableBufferPointer { cp in
            kernel(s.transposeA, s.transposeB, s.m, s.n, s.k, a, lda, b, ldb, cp.baseAddress!, s.n, false)
        }
    }
    blackHole(c)
    return 2 * Double(s.m * s.n * s.k) / seconds / 1e9
}

func format(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return decimals == 0 ? String(Int(rounded)) : String(rounded)
}

func printTable(header: [String], rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).enumerated().map { index, pair in
            let padding = String(repeating: " ", count: pair.1 - pair.0.count)
            return index == 0 ? pair.0 + padding : padding + pair.0
        }.joined(separator: "  ")
    }
    print(line(header))
    print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
    rows.forEach { print(line($0)) }
}
