import Foundation
import InputChecks

/// A directory of training checkpoints: `ckpt-<global step>.safetensors.zst` files, a `latest` pointer file
/// naming the newest complete one, and a `best` pointer to the best by the monitored metric.
///
/// Order of a save, so that a crash at any point leaves `latest` naming a whole checkpoint:
/// 1. the new file, written atomically (temporary file, fsync, rename, fsync of the directory);
/// 2. `latest` (and `best`), rewritten the same way;
/// 3. only then, files beyond the last `keep` (never the best, never the newest) are deleted.
public struct CheckpointDirectory: Sendable {
    public let path: String
    public let keep: Int

    public init(path: String, keep: Int) {
        self.path = path
        self.keep = keep
    }

    public func fileName(globalStep: Int) -> String { String(format: "ckpt-%09d.safetensors.zst", globalStep) }

    /// Saves `contents` as the checkpoint of `globalStep`; returns its path and compressed size.
    public func save(_ contents: SafeTensors, globalStep: Int, isBest: Bool, level: Int32) throws -> (path: String, bytes: Int) {
        try WritablePath.prepareDirectory(path, what: "--checkpoint-dir \(path)")
        let name = fileName(globalStep: globalStep)
        let file = (path as NSString).appendingPathComponent(name)
        let bytes = try CheckpointFile.write(contents, to: file, level: level)
        try AtomicFile.write(Array((name + "\n").utf8), to: pointer("latest"))
        if isBest { try AtomicFile.write(Array((name + "\n").utf8), to: pointer("best")) }
        prune()
        return (file, bytes)
    }

    /// The newest checkpoint that reads back whole and holds a model that builds, with finite weights: `latest`
    /// if it does, else the newest other one, with a warning for each one passed over. Throws when there is none.
    /// `bytes` are the file as stored, the very bytes `contents` were decoded from.
    public func newestValid() throws -> (path: String, contents: SafeTensors, bytes: [UInt8], warnings: [String]) {
        var warnings: [String] = []
        var candidates = checkpointFiles().reversed().map { (path as NSString).appendingPathComponent($0) }
        if let latest = target(of: "latest") {
            candidates.removeAll { $0 == latest }
            candidates.insert(latest, at: 0)
        }
        for candidate in candidates {
            do {
                let bytes = try CheckpointFile.raw(candidate)
                let contents = try CheckpointFile.decode(bytes, path: candidate)
                _ = try ModelFile.model(in: contents, path: candidate)
                return (candidate, contents, bytes, warnings)
            } catch {
                warnings.append("warning: skipping a damaged checkpoint (\(error)); trying an older one")
            }
        }
        throw CheckpointError("no readable checkpoint in \(path)" + (warnings.isEmpty ? "" : " (\(warnings.count) damaged)")
                                  + "; start without --resume, or name a checkpoint file")
    }

    /// The path a pointer file names, if it names a checkpoint file of this directory. Anything else (another
    /// directory, `../outside.zst`, a pointer file grown huge) is ignored, as if there were no pointer.
    public func target(of pointerName: String) -> String? {
        guard let bytes = try? RegularFile.contents(pointer(pointerName), limit: 256) else { return nil }
        let name = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Self.isCheckpointName(name) ? (path as NSString).appendingPathComponent(name) : nil
    }

    /// Checkpoint file names, oldest first: by the step in the name as a number, so that a step of ten digits
    /// (or a name planted with fewer) sorts where it belongs.
    public func checkpointFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter(Self.isCheckpointName)
            .sorted { (Self.step(of: $0), $0) < (Self.step(of: $1), $1) }
    }

    /// The global step a checkpoint name carries.
    static func step(of name: String) -> UInt64 {
        UInt64(name.dropFirst("ckpt-".count).prefix { $0.isNumber }) ?? 0
    }

    /// `ckpt-<digits>.safetensors.zst`: a plain name, no path.
    static func isCheckpointName(_ name: String) -> Bool {
        name.wholeMatch(of: /ckpt-[0-9]{1,19}\.safetensors\.zst/) != nil
    }

    /// True when the directory holds a checkpoint or a pointer to one: a run's work, which a new run must not mix
    /// its own files with.
    public var holdsARun: Bool {
        !checkpointFiles().isEmpty || target(of: "latest") != nil || target(of: "best") != nil
    }

    /// Deletes every checkpoint and pointer, for a new run that was told to start over here.
    public func removeRun() throws {
        for name in checkpointFiles() + ["latest", "best"] {
            let file = (path as NSString).appendingPathComponent(name)
            if unlink(file) != 0 && errno != ENOENT {
                throw CheckpointError("cannot delete \(file): \(String(cString: strerror(errno)))")
            }
        }
    }

    private func pointer(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Deletes all but the newest `keep` checkpoints, keeping the best and whatever `latest` names.
    private func prune() {
        let files = checkpointFiles()
        let protected = Set([target(of: "best"), target(of: "latest")].compactMap { $0.map { ($0 as NSString).lastPathComponent } })
        for name in files.dropLast(max(keep, 1)) where !protected.contains(name) {
            try? FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(name))
        }
    }
}

/// One job's exclusive hold on a checkpoint directory, for as long as the object lives: `flock` on the
/// directory's `lock` file, which names the holder (pid and host) for the message a second job gets. The kernel
/// releases it when the process ends, however it ends, so a crashed job never leaves the directory locked.
public final class CheckpointLock {
    private let descriptor: Int32

    public init(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent("lock")
        // Never through a link or into a FIFO or device: the lock file is written (truncated, then the holder).
        descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CheckpointError("--checkpoint-dir \(directory): cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw CheckpointError("--checkpoint-dir \(directory): \(path) is not a regular file; remove it")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = shown(String(decoding: (try? RegularFile.contents(path, limit: 256)) ?? [], as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines))
            close(descriptor)
            throw CheckpointError("--checkpoint-dir \(directory) is in use by another job (\(holder.isEmpty ? "unknown" : holder)); "
                                      + "wait for it to end, or give this job a directory of its own")
        }
        let holder = Array("pid \(getpid()) on \(ProcessInfo.processInfo.hostName)\n".utf8)
        ftruncate(descriptor, 0)
        _ = holder.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit { close(descriptor) }
}
