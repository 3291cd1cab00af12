import ArgumentParser
import Engine

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the engine's speed on this machine (build with -c release).",
        subcommands: [ModelBench.self, GEMMBench.self], defaultSubcommand: ModelBench.self
    )
}

/// Warns when figures would come from a debug build, where numeric Swift runs many times slower.
func warnIfDebugBuild() {
    #if DEBUG
    print("warning: this is a debug build; benchmark with `swift build -c release` for meaningful figures\n")
    #endif
}

/// Keeps a result alive so the optimizer cannot delete the work that produced it.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

/// Seconds taken by `body`, best of `repetitions` runs after one warm-up.
func bestTime(repetitions: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<repetitions {
        let elapsed = clock.measure(body)
        best = min(best, elapsed.inSeconds)
    }
    return best
}
