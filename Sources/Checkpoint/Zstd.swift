import CZstd
import InputChecks

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

    /// The content of the one frame `input` holds; `path` names the file in errors. The frame's declared size is
    /// only a hint: the output grows as decompression produces it, up to `limit`, so a small file that claims
    /// (or expands to) gigabytes costs an error, not the memory. A frame without a declared size (what `zstd`
    /// writes from a pipe) is read the same way.
    static func decompress(_ input: [UInt8], path: String, limit: Int = InputLimits.checkpointBytes) throws -> [UInt8] {
        guard input.count >= 4, input[0..<4].elementsEqual([0x28, 0xB5, 0x2F, 0xFD]) else {
            throw CheckpointError("\(path) is not a zstd-compressed checkpoint (no zstd frame at its start); mnist-train reads the .safetensors.zst files it writes")
        }
        guard let context = ZSTD_createDCtx() else { throw CheckpointError("zstd: out of memory") }
        defer { ZSTD_freeDCtx(context) }
        // Windows up to 128 MiB, zstd's default limit, stated so that a frame cannot ask for more.
        ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, 27)
        // The first buffer takes the declared size if it is plausible for this input; the output doubles from
        // there as it is produced, so a frame that lies about its size allocates only what it really expands to.
        let declared = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        let plausible = UInt64(max(1 << 20, 16 * input.count))
        var capacity = declared <= min(plausible, UInt64(limit)) ? max(Int(declared), 1) : 1 << 20
        var output = [UInt8](repeating: 0, count: min(capacity, limit))
        var produced = 0
        var consumed = 0
        while true {
            if produced == output.count {
                guard output.count < limit else {
                    throw CheckpointError("\(path) decompresses to more than \(limit) bytes, more than a checkpoint may hold")
                }
                capacity = min(output.count * 2, limit)
                output += [UInt8](repeating: 0, count: capacity - output.count)
            }
            var inBuffer = ZSTD_inBuffer()
            var outBuffer = ZSTD_outBuffer()
            let remaining = try input.withUnsafeBytes { source in
                try output.withUnsafeMutableBytes { target in
                    inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: consumed)
                    outBuffer = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: produced)
                    let code = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                    guard ZSTD_isError(code) == 0 else {
                        let reason = String(cString: ZSTD_getErrorName(code))
                        throw CheckpointError("\(path) " + (reason.lowercased().contains("checksum") ? "fails its checksum (corrupted)"
                                                                : "is damaged (zstd: \(reason))"))
                    }
                    return code
                }
            }
            consumed = inBuffer.pos
            produced = outBuffer.pos
            if remaining == 0 { break }  // the frame is complete and its checksum verified
            if consumed == input.count && produced < output.count { throw CheckpointError("\(path) is truncated") }
        }
        guard consumed == input.count else {
            throw CheckpointError("\(path) has \(input.count - consumed) bytes of something else after its zstd frame")
        }
        return Array(output[0..<produced])
    }
}
