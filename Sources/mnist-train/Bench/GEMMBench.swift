import ArgumentParser
import Engine

/// `mnist-train bench gemm`: GFLOP/s of every GEMM one convnet training step runs at batch 64,
/// the fast kernel beside the reference triple loop, against the measured FMA peak of one core.
struct GEMMBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm", abstract: "GEMM GFLOP/s on convnet's shapes at batch 64, against the FMA peak.")

    @Option(help: "Global batch size whose shapes are measured.")
    var batchSize = 64

    func run() throws {
        warnIfDebugBuild()
        let peak = measureFMAPeak()
        print("FMA peak, one core (GEMM-style probe): \(format(peak, 1)) GFLOP/s\n")
        print("GEMMs of one convnet training step at batch \(batchSize), one thread")
        let header = ["GEMM", "form", "m x n x k", "fast GFLOP/s", "% of peak", "reference GFLOP/s", "speed-up"]
        var rows: [[String]] = []
        for shape in convnetShapes(batch: batchSize) {
            let fast = gigaflops(shape, kernel: sgemm, repetitions: 5)
            let reference = gigaflops(shape, kernel: sgemmReference, repetitions: 1)
            rows.append([shape.name, shape.form, "\(shape.m) x \(shape.n) x \(shape.k)", format(fast, 1),
                         format(100 * fast / peak, 0) + "%", format(reference, 2), format(fast / reference, 0) + "x"])
        }
        printTable(header: header, rows: rows)
    }
}

struct GEMMShape {
    let name: String, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int
    var form: String { (transposeA ? "AᵀB" : transposeB ? "ABᵀ" : "AB") }
}

/// Forward (AB), weight gradient (AᵀB) and input gradient (ABᵀ) of every convnet layer that runs a GEMM.
func convnetShapes(batch: Int) -> [GEMMShape] {
    // (name, rows = output pixels or samples, patch or input features, outputs)
    let layers = [("conv2d", batch * 26 * 26, 9, 32), ("conv2d_1", batch * 11 * 11, 288, 64),
                  ("conv2d_2", batch * 3 * 3, 576, 64), ("dense", batch, 576, 64), ("dense_1", batch, 64, 10)]
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
