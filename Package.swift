// swift-tools-version:6.0
// Read top to bottom, this file is the architecture: system shims, the engine, the command line, the tests.
import PackageDescription

/// Release builds: no runtime checks, AVX2 + FMA. Without `-march`, `addingProduct` becomes a call to `fmaf` and
/// nothing uses ymm registers (15-25x slower kernels). Debug builds keep every check.
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-Xcc", "-march=x86-64-v3"], .when(configuration: .release)),
]

let package = Package(
    name: "mnist-train",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mnist-train", targets: ["mnist-train"]),
        .library(name: "Engine", targets: ["Engine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // MARK: System libraries (Debian: libopenmpi-dev + openmpi-bin, libzstd-dev; see deploy/install-deps.sh)
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // MARK: Engine: tensors, kernels, layers, losses, optimizers, Sequential. No MPI, no files.
        .target(name: "Engine", swiftSettings: fastMath),

        // MARK: Data: IDX files (raw or gzip), validation, download, batches, the per-epoch sample order
        .target(name: "MNIST", dependencies: ["Engine", "CZlib"], swiftSettings: fastMath),

        // MARK: Distributed: the Communicator protocol, OpenMPI and single-process implementations
        .target(name: "Distributed", dependencies: ["CMPI"], swiftSettings: fastMath),

        // MARK: Checkpoints: zstd-compressed safetensors, written atomically
        .target(name: "Checkpoint", dependencies: ["Engine", "CZstd"], swiftSettings: fastMath),

        // MARK: Training: fit, evaluate, early stopping, progress and logs
        .target(name: "Training", dependencies: ["Engine", "MNIST", "Distributed", "Checkpoint"], swiftSettings: fastMath),

        // MARK: Command line
        .executableTarget(
            name: "mnist-train",
            dependencies: ["Engine", "MNIST", "Checkpoint", "Training", "Distributed", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: fastMath
        ),

        // MARK: Tests
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "MNISTTests", dependencies: ["MNIST", "CZlib"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Engine"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Distributed", "Engine"]),
        .testTarget(name: "CommandLineTests", dependencies: ["Checkpoint"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CMPI", "CZstd"]),
    ]
)
