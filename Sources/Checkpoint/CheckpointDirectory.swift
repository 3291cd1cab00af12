import Foundation

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
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let name = fileName(globalStep: globalStep)
        let file = (path as NSString).appendingPathComponent(name)
        let bytes = try CheckpointFile.write(contents, to: file, level: level)
        try AtomicFile.write(Array((name + "\n").utf8), to: pointer("latest"))
        if isBest { try AtomicFile.write(Array((name + "\n").utf8), to: pointer("best")) }
        prune()
        return (file, bytes)
    }

    /// The newest checkpoint that reads back whole: `latest` if it does, else the newest other one, with a
    /// warning for each one passed over. Throws when there is none.
    public func newestValid() throws -> (path: String, contents: SafeTensors, warnings: [String]) {
        var warnings: [String] = []
        var candidates = checkpointFiles().reversed().map { (path as NSString).appendingPathComponent($0) }
        if let latest = target(of: "latest") {
            candidates.removeAll { $0 == latest }
            candidates.insert(latest, at: 0)
        }
        for candidate in candidates {
            do {
                return (candidate, try CheckpointFile.read(candidate), warnings)
            } catch {
                warnings.append("warning: skipping \(error); trying an older checkpoint")
            }
        }
        throw CheckpointError("no readable checkpoint in \(path)" + (warnings.isEmpty ? "" : " (\(warnings.count) damaged)")
                                  + "; start without --resume, or name a checkpoint file")
    }

    /// The path a pointer file names, if it exists.
    public func target(of pointerName: String) -> String? {
        guard let text = try? String(contentsOfFile: pointer(pointerName), encoding: .utf8) else { return nil }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return name.isEmpty ? nil : (path as NSString).appendingPathComponent(name)
    }

    /// Checkpoint file names, oldest first (the zero-padded step orders them).
    public func checkpointFiles() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { $0.hasPrefix("ckpt-") && $0.hasSuffix(".safetensors.zst") }.sorted()
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
