import CZlib
import Foundation

/// An IDX file (LeCun's MNIST format): big-endian magic 0x0000_08_0D where 08 is unsigned bytes and D the number
/// of dimensions, D big-endian UInt32 sizes, then the bytes. Images are magic 2051 (N, rows, cols), labels 2049 (N).
public struct IDXFile: Equatable, Sendable {
    public static let imagesMagic: UInt32 = 2051
    public static let labelsMagic: UInt32 = 2049

    public let dimensions: [Int]
    public let bytes: [UInt8]

    /// What to do about a bad data file.
    public static let dataFileHint = "download it again (mnist-train download) or point --data at a directory with valid files"

    /// Reads and validates `path`, raw or gzip-compressed, expecting `magic`; `hint` ends every error with what to do.
    public init(contentsOf path: String, magic: UInt32, hint fix: String = IDXFile.dataFileHint) throws {
        let data = try IDXFile.readPossiblyCompressed(path)
        let kind = magic == IDXFile.imagesMagic ? "image" : "label"
        guard !data.isEmpty else { throw DataError("\(path) is empty; \(fix)") }
        guard data.count >= 4 else { throw DataError("\(path) is truncated: \(data.count) bytes, no IDX header; \(fix)") }
        let found = IDXFile.bigEndianUInt32(data, at: 0)
        guard found == magic else {
            throw DataError("\(path) is not an IDX \(kind) file (magic \(found), expected \(magic)); \(fix)")
        }
        let rank = Int(magic & 0xFF)
        let headerSize = 4 + 4 * rank
        guard data.count >= headerSize else {
            throw DataError("\(path) is truncated inside its header (\(data.count) bytes); \(fix)")
        }
        let dimensions = (0..<rank).map { Int(IDXFile.bigEndianUInt32(data, at: 4 + 4 * $0)) }
        let declared = dimensions.reduce(1, *)
        let actual = data.count - headerSize
        guard actual >= declared else {
            throw DataError("\(path) is truncated: its header declares \(dimensions.map(String.init).joined(separator: "x")) "
                                + "= \(declared) bytes of data but it holds \(actual); \(fix)")
        }
        guard actual == declared else {
            throw DataError("\(path) has \(actual - declared) bytes after the \(declared) its header declares; \(fix)")
        }
        self.dimensions = dimensions
        bytes = Array(data[headerSize...])
    }

    public init(dimensions: [Int], bytes: [UInt8]) {
        precondition(dimensions.reduce(1, *) == bytes.count, "IDX dimensions \(dimensions) do not match \(bytes.count) bytes")
        self.dimensions = dimensions
        self.bytes = bytes
    }

    /// The file's bytes: big-endian header then data.
    public func encoded(magic: UInt32) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4 + 4 * dimensions.count + bytes.count)
        for value in [Int(magic)] + dimensions {
            out += [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        return out + bytes
    }

    static func bigEndianUInt32(_ data: [UInt8], at offset: Int) -> UInt32 {
        data[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The whole file, gunzipped when it is gzip (zlib reads plain files through unchanged).
    static func readPossiblyCompressed(_ path: String) throws -> [UInt8] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError("\(path) does not exist; run `mnist-train download` or pass --data DIR")
        }
        guard let file = gzopen(path, "rb") else { throw DataError("\(path) cannot be opened: \(String(cString: strerror(errno)))") }
        defer { gzclose(file) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = String(cString: gzerror(file, &code))
                throw DataError("\(path) is a damaged gzip file (\(message)); download it again (mnist-train download)")
            }
            if n == 0 { break }
            out += chunk[0..<Int(n)]
        }
        // A gzip stream cut short reads as a clean end of file in some zlib versions: ask explicitly.
        var code: Int32 = 0
        _ = gzerror(file, &code)
        if code != Z_OK && code != Z_STREAM_END {
            throw DataError("\(path) is a truncated gzip file; download it again (mnist-train download)")
        }
        return out
    }
}
