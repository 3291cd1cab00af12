import CZstd

/// One zstd frame with its content size and content checksum, so corruption is detected on reading.
enum Zstd {
    static func compress(_ input: [UInt8], level: Int32) throws -> [UInt8] {
        guard let context = ZSTD_createCCtx() else { throw CheckpointError("zstd: out of memory") }
        defer { ZSTD_freeCCtx(context) }
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
        var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let size = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { ZSTD_compress2(context, out.baseAddress, out.count, $0.baseAddress, $0.count) }
        }
        guard ZSTD_isError(size) == 0 else {
            throw CheckpointError("zstd: \(String(cString: ZSTD_getErrorName(size)))")
        }
        return Array(output[0..<size])
    }

    /// The content of one frame; `path` names the file in errors.
    static func decompress(_ input: [UInt8], path: String) throws -> [UInt8] {
        let contentSize = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // ZSTD_CONTENTSIZE_ERROR is UInt64.max - 1, ZSTD_CONTENTSIZE_UNKNOWN UInt64.max.
        guard contentSize < UInt64.max - 1 else {
            throw CheckpointError("\(path) is not a zstd-compressed checkpoint (bad zstd frame header)")
        }
        guard contentSize < 1 << 34 else { throw CheckpointError("\(path) declares an implausible size (\(contentSize) bytes)") }
        var output = [UInt8](repeating: 0, count: Int(contentSize))
        let size = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { ZSTD_decompress(out.baseAddress, out.count, $0.baseAddress, $0.count) }
        }
        guard ZSTD_isError(size) == 0 else {
            let reason = String(cString: ZSTD_getErrorName(size))
            let problem = reason.lowercased().contains("checksum") ? "fails its checksum (corrupted)"
                : reason.lowercased().contains("src size") || reason.lowercased().contains("truncat") ? "is truncated"
                : "is damaged (\(reason))"
            throw CheckpointError("\(path) \(problem)")
        }
        guard size == output.count else { throw CheckpointError("\(path) is truncated") }
        return output
    }
}
