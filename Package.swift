// swift-tools-version:6.0
// Read top to bottom, this file is the architecture: system shims, the engine, the command line, the tests.
import PackageDescription

/// Release builds on x86-64: AVX2 + FMA. Without `-march`, `addingProduct` becomes a call to `fmaf` and nothing
/// uses ymm registers. Other architectures (aarch64, Apple silicon) build with the compiler's defaults.
#if arch(x86_64)
let isaFlags = ["-Xcc", "-march=x86-64-v3"]
#else
let isaFlags: [String] = []
#endif
/// Every module keeps Swift's runtime checks (bounds, overflow, preconditions): they read untrusted files and flags.
let release: [SwiftSetting] = [.unsafeFlags(isaFlags, .when(configuration: .release))]
/// The kernels alone drop the checks: they work on pointers whose sizes the layers have already checked, and
/// their index arithmetic sits in the innermost loops.
let uncheckedKernels: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"] + isaFlags, .when(configuration: .release))]

let package = Package(
    name: "mnist-train",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mnist-train", targets: ["mnist-train"]),
        .library(name: "Engine", targets: ["Engine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // MARK: System libraries (Debian: libopenmpi-dev + openmpi-bin, libzstd-dev, zlib1g-dev, libhdf5-dev; see
        // deploy/install-deps.sh)
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "SystemZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),

        // MARK: Input checks: caps, overflow-checked sizes, regular files only, for every reader of outside files
        .target(name: "InputChecks", swiftSettings: release),

        // MARK: Kernels: GEMM, convolution, pooling, activations on raw pointers; C micro-kernels for ISAs
        // chosen at run time (each function compiled for its own ISA)
        .target(name: "CKernels"),
        .target(name: "Kernels", dependencies: ["CKernels"], swiftSettings: uncheckedKernels),

        // MARK: Engine: tensors, layers, losses, optimizers, Sequential, the worker threads of a rank. No MPI, no
        // files. CThreads: the Linux CPU-affinity calls Swift's Glibc module leaves out
        .target(name: "CThreads"),
        .target(name: "Engine", dependencies: ["Kernels", "CKernels", "InputChecks", "CThreads"], swiftSettings: release),

        // MARK: Data: IDX files (raw or gzip), validation, download, batches, the per-epoch sample order
        .target(name: "MNIST", dependencies: ["Engine", "CKernels", "InputChecks", "SystemZlib"], swiftSettings: release),

        // MARK: Distributed: the Communicator protocol, OpenMPI and single-process implementations
        .target(name: "Distributed", dependencies: ["CMPI"], swiftSettings: release),

        // MARK: Checkpoints: zstd-compressed safetensors, written atomically
        .target(name: "Checkpoint", dependencies: ["Engine", "InputChecks", "CZstd"], swiftSettings: release),

        // MARK: Observability: TensorBoard event files (protobuf code generated from TensorBoard's .proto files by
        // deploy/generate-protobuf.sh and committed)
        .target(name: "Observability", dependencies: ["InputChecks", "SystemZlib", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
                exclude: ["Protos"], swiftSettings: release),

        // MARK: Interop: ONNX export (protobuf code generated from ONNX's onnx.proto by deploy/generate-protobuf.sh
        // and committed)
        .target(name: "Interop", dependencies: ["Engine", "InputChecks", "CHDF5", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                                                .product(name: "ZIPFoundation", package: "ZIPFoundation")],
                exclude: ["Protos"], swiftSettings: release),

        // MARK: Training: fit, evaluate, early stopping, progress and logs
        .target(name: "Training", dependencies: ["Engine", "MNIST", "Distributed", "Checkpoint", "InputChecks", "Observability"], swiftSettings: release),

        // MARK: Report: one self-contained HTML page of a run (inline SVG charts, no external resources)
        .target(name: "Report", dependencies: ["Training", "Observability", "InputChecks"], swiftSettings: release),

        // MARK: Command line
        .executableTarget(
            name: "mnist-train",
            dependencies: ["Engine", "MNIST", "Checkpoint", "Training", "Distributed", "InputChecks", "Interop", "Report",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: release
        ),

        // MARK: Tests
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "MNISTTests", dependencies: ["MNIST", "SystemZlib"]),
        .testTarget(name: "CheckpointTests", dependencies: ["Checkpoint", "Engine", "InputChecks", "CZstd"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Training"]),
        .testTarget(name: "InteropTests", dependencies: ["Interop", "Engine", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
                    exclude: ["Keras"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Distributed", "Engine"]),
        .testTarget(name: "CommandLineTests", dependencies: ["Checkpoint", "MNIST"], exclude: ["read_tensorboard.py", "check_onnx.py", "keras_client.py", "check_metrics.py", "check_report.py"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CMPI", "CZstd"]),
        // Every reader of outside input under libFuzzer (deploy/fuzz.sh); built plainly, it replays inputs.
        .executableTarget(name: "fuzz-readers", dependencies: ["Checkpoint", "Engine", "MNIST", "Interop", "Report"], path: "Tests/Fuzz"),
        // Seeded mutations of valid files through every reader of outside input.
        .testTarget(name: "MutationTests", dependencies: ["MNIST", "Checkpoint", "Training", "Distributed", "Engine", "SystemZlib"]),
    ]
)
