import Foundation
import InputChecks

/// The one file format mnist-train writes, for trained models and training checkpoints alike:
/// `<name>.safetensors.zst`, one zstd frame (content checksum on) holding a standard safetensors file.
/// `__metadata__` always has `format` = "mnist-train" and `format_version`; everything else is the caller's.
public enum CheckpointFile {
    public static let formatName = "mnist-train"
    public static let formatVersion = "1"
    public static let defaultCompressionLevel: Int32 = 3

    /// Writes atomically; returns the compressed size in bytes.
    @discardableResult
    public static func write(_ contents: SafeTensors, to path: String, level: Int32 = defaultCompressionLevel) throws -> Int {
        var contents = contents
        contents.metadata["format"] = formatName
        contents.metadata["format_version"] = formatVersion
        let compressed = try Zstd.compress(try contents.encoded(), level: level)
        try AtomicFile.write(compressed, to: path)
        return compressed.count
    }

    /// Reads and checks a file: zstd frame and checksum, safetensors structure, format name and version.
    public static func read(_ path: String) throws -> SafeTensors {
        try decode(try raw(path), path: path)
    }

    /// The file's bytes as stored (compressed).
    public static func raw(_ path: String) throws -> [UInt8] {
        let bytes: [UInt8]
        do { bytes = try RegularFile.contents(path, limit: InputLimits.checkpointBytes) } catch let error as InputError {
            throw CheckpointError(error.description)
        }
        guard !bytes.isEmpty else { throw CheckpointError("\(path) is empty") }
        return bytes
    }

    /// Checks and decodes a file's stored bytes; `path` names it in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws -> SafeTensors {
        let contents = try SafeTensors(decoding: try Zstd.decompress(bytes, path: path), path: path)
        guard contents.metadata["format"] == formatName else {
            throw CheckpointError("\(path) is not an mnist-train file (no format \"\(formatName)\" in its metadata)")
        }
        guard contents.metadata["format_version"] == formatVersion else {
            throw CheckpointError("\(path) has format version \(contents.metadata["format_version"] ?? "none"); "
                                      + "this mnist-train reads version \(formatVersion)")
        }
        return contents
    }
}
