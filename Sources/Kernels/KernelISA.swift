import CKernels
import Foundation

/// The instruction set the kernels use, chosen once at start: the widest this CPU has, unless
/// `MNIST_TRAIN_ISA` names another (for tests and comparisons). One binary serves a cluster of mixed CPUs.
///
/// The Swift kernels are compiled for AVX2 + FMA (Package.swift); wider ISAs have micro-kernels in the C target
/// CKernels, each function compiled for its own ISA, so that nothing of them runs on a CPU without it.
public enum KernelISA: String, CaseIterable, Sendable {
    case avx512, avx2

    /// What this CPU can run, widest first.
    public static let available: [KernelISA] = ckernels_cpu_has_avx512f() != 0 ? [.avx512, .avx2] : [.avx2]

    /// The ISA in use. Tests set it to run every available path; a name this CPU cannot run falls back.
    nonisolated(unsafe) public static var active: KernelISA = {
        if let name = ProcessInfo.processInfo.environment["MNIST_TRAIN_ISA"], let forced = KernelISA(rawValue: name),
           available.contains(forced) {
            return forced
        }
        return available[0]
    }()
}
