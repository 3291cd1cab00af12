import CKernels
import Foundation

/// The kernels in use, chosen once at start: the widest this CPU has, unless `MNIST_TRAIN_ISA` names another
/// (for tests and comparisons). One binary serves a cluster of mixed CPUs.
///
/// `avx512` and `avx2` are GEMM micro-kernels in the C target CKernels, each function compiled for its own ISA
/// with `__attribute__((target))`: Swift has no per-function target, and a whole module built for AVX-512 would
/// not run on the AVX2 machines of the same cluster. `portable` is the same micro-kernel in Swift SIMD types,
/// the only one on other architectures (aarch64 NEON, Apple silicon), where the compiler lowers it for the
/// target. Every kernel adds the same products in the same order, so all three give the same bits.
public enum KernelISA: String, CaseIterable, Sendable {
    case avx512, avx2, portable

    /// What this CPU can run, widest first.
    public static let available: [KernelISA] =
        // The avx512 path also runs the AVX2 8x8 tile for narrow C.
        (ckernels_cpu_has_avx512f() != 0 && ckernels_cpu_has_avx2_fma() != 0 ? [.avx512] : [])
        + (ckernels_cpu_has_avx2_fma() != 0 ? [.avx2] : [])
        + [.portable]

    /// The kernels in use. Tests set it to run every available path; a name this CPU cannot run falls back.
    nonisolated(unsafe) public static var active: KernelISA = {
        if let name = ProcessInfo.processInfo.environment["MNIST_TRAIN_ISA"], let forced = KernelISA(rawValue: name),
           available.contains(forced) {
            return forced
        }
        return available[0]
    }()

    /// Rows and columns of C one micro-kernel call computes: twelve 256-bit accumulators, or sixteen 512-bit
    /// ones from AVX-512's 32 registers.
    var tileRows: Int { self == .avx512 ? 8 : 6 }
    var tileColumns: Int { self == .avx512 ? 32 : 16 }

    /// Whether the micro-kernels can read B's panels in place (`BPanels.inPlace`); the portable one reads them
    /// packed.
    var readsBInPlace: Bool { self != .portable }
}
