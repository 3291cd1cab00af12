import Foundation

/// Writes a file so that a reader sees either the old file or the whole new one, even across a crash:
/// a temporary file in the same directory, fsync, rename over the target, fsync of the directory.
///
/// For the crash and full-disk tests, `MNIST_TRAIN_FAULT` injects a failure: `crash-before-rename` ends the
/// process after the temporary file is complete but before the rename; `no-space` fails the write as a full
/// disk does (ENOSPC).
enum AtomicFile {
    static let fault = ProcessInfo.processInfo.environment["MNIST_TRAIN_FAULT"]

    static func write(_ bytes: [UInt8], to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let temporary = (directory as NSString).appendingPathComponent(".\((path as NSString).lastPathComponent).\(getpid()).tmp")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointError("cannot write \(path): \(String(cString: strerror(errno)))") }
        var written = 0
        if fault == "no-space" {
            close(fd)
            unlink(temporary)
            throw CheckpointError("cannot write \(path): \(String(cString: strerror(ENOSPC))); the previous file is kept")
        }
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            while written < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let error = errno
        close(fd)
        guard ok else {
            unlink(temporary)
            throw CheckpointError("cannot write \(path): \(String(cString: strerror(error))); the previous file is kept")
        }
        if fault == "crash-before-rename" { _exit(70) }
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw CheckpointError("cannot write \(path): \(String(cString: strerror(error)))")
        }
        let directoryFD = open(directory, O_RDONLY)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}
