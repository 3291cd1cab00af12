import Foundation
import InputChecks

/// Checks made before a run starts, so that a path it cannot write fails in the first second with one line,
/// not after hours of training. `what` names the path as the user gave it ("--output model.safetensors.zst").
public enum WritablePath {
    /// Throws unless a file can be written at `path` the way `AtomicFile` writes: a temporary file beside it,
    /// renamed over it. `path` must not be a directory, and its directory must exist and take new files.
    public static func checkFile(_ path: String, what: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw CheckpointError("\(what): is a directory; name a file")
        }
        do { try AtomicFile.refuseReplacingAnythingButAFile(path) } catch let error as InputError {
            throw CheckpointError("\(what): \(error.description)")
        }
        let parent = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError("\(what): the directory \(parent) does not exist; create it or choose another path")
        }
        try probe(parent, what: what)
    }

    /// Makes `path` a directory (with its parents) if it is not one; throws unless it then takes new files.
    public static func prepareDirectory(_ path: String, what: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw CheckpointError("\(what): is a file, not a directory") }
        } else {
            var made = ""
            for component in (path as NSString).pathComponents {
                made = (made as NSString).appendingPathComponent(component)
                if mkdir(made, 0o755) != 0, errno != EEXIST {
                    throw CheckpointError("\(what): cannot create \(made): \(String(cString: strerror(errno)))")
                }
            }
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CheckpointError("\(what): cannot create it (a file of that name is in the way)")
            }
        }
        try probe(path, what: what)
    }

    /// Creates and removes a file in `directory`: the only test of writability that ACLs, read-only mounts and
    /// full quotas all answer truthfully.
    private static func probe(_ directory: String, what: String) throws {
        // A random name: a stale probe, or another host's process of the same pid on shared storage, is no clash.
        let probe = (directory as NSString).appendingPathComponent(".mnist-train-probe-\(UInt64.random(in: 0...UInt64.max))")
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CheckpointError("\(what): cannot write in \(directory): \(String(cString: strerror(errno)))")
        }
        close(fd)
        unlink(probe)
    }
}
