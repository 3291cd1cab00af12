import CZlib

/// Inflates a whole zlib-family stream in memory. windowBits: -15 raw deflate (zip entries), 31 gzip.
func inflate(_ input: [UInt8], windowBits: Int32, what: String) throws -> [UInt8] {
    var stream = z_stream()
    guard czlib_inflate_init2(&stream, windowBits) == Z_OK else { throw DataError("\(what): zlib could not start") }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 22)
    var status = Z_OK
    try input.withUnsafeBufferPointer { source in
        stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
        stream.avail_in = UInt32(source.count)
        repeat {
            status = chunk.withUnsafeMutableBufferPointer { buffer in
                stream.next_out = buffer.baseAddress
                stream.avail_out = UInt32(buffer.count)
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            guard status == Z_OK || status == Z_STREAM_END else {
                throw DataError("\(what) is damaged (zlib error \(status)); download it again")
            }
            output += chunk[0..<(chunk.count - Int(stream.avail_out))]
        } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
    }
    guard status == Z_STREAM_END else { throw DataError("\(what) is truncated; download it again") }
    return output
}
