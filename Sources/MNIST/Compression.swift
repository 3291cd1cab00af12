import SystemZlib
import InputChecks

/// Inflates a whole zlib-family stream in memory, refusing to produce more than `limit` bytes: the size a
/// stream expands to is not known before it is inflated. windowBits: -15 raw deflate (zip entries), 31 gzip.
func inflate(_ input: [UInt8], windowBits: Int32, limit: Int, what: String) throws -> [UInt8] {
    let reader = try Inflater(input, windowBits: windowBits, what: what)
    let output = try reader.read(limit)
    guard try reader.isAtEnd() else { throw DataError("\(what) inflates to more than \(limit) bytes; not used") }
    return output
}

/// A zlib-family stream inflated piece by piece, only as far as the caller reads: a reader takes a header
/// first and then exactly the bytes it declares, so a stream that expands without end costs no memory.
/// Concatenated gzip members read as one stream, as gunzip reads them; anything else after the end is an error.
final class Inflater {
    private var stream = z_stream()
    private let input: UnsafeMutableBufferPointer<UInt8>
    private let windowBits: Int32
    private let what: String
    private var ended = false

    init(_ compressed: [UInt8], windowBits: Int32, what: String) throws {
        input = .allocate(capacity: max(compressed.count, 1))
        _ = input.initialize(from: compressed)
        self.windowBits = windowBits
        self.what = what
        guard czlib_inflate_init2(&stream, windowBits) == Z_OK else {
            input.deallocate()
            throw DataError("\(what): zlib could not start")
        }
        stream.next_in = input.baseAddress
        stream.avail_in = UInt32(compressed.count)
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    /// Up to `count` bytes: fewer only where the stream ends.
    func read(_ count: Int) throws -> [UInt8] {
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: min(max(count, 1), 1 << 20))
        while output.count < count, !ended {
            let wanted = min(chunk.count, count - output.count)
            let status = chunk.withUnsafeMutableBufferPointer { buffer in
                stream.next_out = buffer.baseAddress
                stream.avail_out = UInt32(wanted)
                return SystemZlib.inflate(&stream, Z_NO_FLUSH)
            }
            let produced = wanted - Int(stream.avail_out)
            output += chunk[0..<produced]
            switch status {
            case Z_STREAM_END:
                // Another gzip member may follow; anything else is garbage.
                if stream.avail_in >= 2, windowBits == 31, stream.next_in[0] == 0x1F, stream.next_in[1] == 0x8B {
                    inflateReset(&stream)
                } else if stream.avail_in > 0 {
                    throw DataError("\(what) has \(stream.avail_in) bytes of something else after its compressed data")
                } else {
                    ended = true
                }
            case Z_OK:
                if produced == 0 && stream.avail_in == 0 { throw DataError("\(what) is a truncated compressed file") }
            case Z_BUF_ERROR where stream.avail_in == 0:
                throw DataError("\(what) is a truncated compressed file")
            default:
                throw DataError("\(what) is a damaged compressed file (zlib error \(status))")
            }
        }
        return output
    }

    /// True when the stream has ended and nothing follows it.
    func isAtEnd() throws -> Bool {
        if ended { return true }
        return try read(1).isEmpty
    }
}
