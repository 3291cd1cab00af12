import Foundation

/// Writes a file so that a reader sees either the old file or the whole new one, even across a crash:
/// a temporary file in the same directory, fsync, rename over the target, fsync of the directory.
enum AtomicFile {
    static func write(_ bytes: [UInt8], to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        let temporary = (directory as NSString).appendingPathComponent(".\((path as NSString).lastPathComponent).\(getpid()).tmp")
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CheckpointError("cannot write \(path): \(String(cString: strerror(errno)))") }
        var written = 0
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
