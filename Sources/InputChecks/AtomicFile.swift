import Foundation

/// Writes a file so that a reader sees either the old file or the whole new one, even across a crash:
/// a temporary file in the same directory, fsync, rename over the target, fsync of the directory.
///
/// For the crash and full-disk tests, `MNIST_TRAIN_FAULT` injects a failure: `crash-before-rename` ends the
/// process after the temporary file is complete but before the rename; `no-space` fails the write as a full
/// disk does (ENOSPC).
public enum AtomicFile {
    static let fault = ProcessInfo.processInfo.environment["MNIST_TRAIN_FAULT"]

    /// Renaming over a device, a directory or a FIFO would replace it (as root, /dev/null itself) with a regular
    /// file: only a regular file, or nothing, may be at `path`.
    public static func refuseReplacingAnythingButAFile(_ path: String) throws {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        let kind = status.st_mode & S_IFMT
        guard kind != S_IFREG else { return }
        let what = kind == S_IFDIR ? "a directory" : kind == S_IFLNK ? "a symbolic link" : "not a regular file (a device, FIFO or socket)"
        throw InputError("\(path) is \(what); mnist-train writes only regular files: name a new or regular file")
    }

    public static func write(_ bytes: [UInt8], to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        try refuseReplacingAnythingButAFile(path)
        // A fresh name that nobody can predict, created exclusively and never through a symbolic link: a link
        // planted at the temporary's name cannot redirect the write outside the directory.
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<8 where fd < 0 {
            temporary = (directory as NSString).appendingPathComponent(
                ".\((path as NSString).lastPathComponent).\(UInt64.random(in: 0...UInt64.max)).tmp")
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            if fd < 0 && errno != EEXIST { break }
        }
        guard fd >= 0 else { throw InputError("cannot write \(path): \(String(cString: strerror(errno)))") }
        if fault == "no-space" {
            close(fd)
            unlink(temporary)
            throw InputError("cannot write \(path): \(String(cString: strerror(ENOSPC))); the previous file is kept")
        }
        let ok = writeFully(fd, bytes) && fsync(fd) == 0
        let error = errno
        close(fd)
        guard ok else {
            unlink(temporary)
            throw InputError("cannot write \(path): \(String(cString: strerror(error))); the previous file is kept")
        }
        if fault == "crash-before-rename" { _exit(70) }
        guard rename(temporary, path) == 0 else {
            let error = errno
            unlink(temporary)
            throw InputError("cannot write \(path): \(String(cString: strerror(error)))")
        }
        let directoryFD = open(directory, O_RDONLY)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}

/// Writes all of `bytes` to `descriptor`, retrying short writes and interrupted calls. False on failure, with errno
/// saying why.
public func writeFully(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}
