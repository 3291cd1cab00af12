import SystemZlib
import Foundation
import InputChecks

/// An IDX file (LeCun's MNIST format): big-endian magic 0x0000_08_0D where 08 is unsigned bytes and D the number
/// of dimensions, D big-endian UInt32 sizes, then the bytes. Images are magic 2051 (N, rows, cols) or, with
/// channels, 2052 (N, rows, cols, channels); labels are 2049 (N).
public struct IDXFile: Equatable, Sendable {
    public static let imagesMagic: UInt32 = 2051
    public static let imagesWithChannelsMagic: UInt32 = 2052
    public static let labelsMagic: UInt32 = 2049

    public let dimensions: [Int]
    public let bytes: [UInt8]

    /// What to do about a bad data file.
    public static let dataFileHint = "download it again (mnist-train download) or point --data at a directory with valid files"

    /// Reads and validates `path`, raw or gzip-compressed, expecting `magic`; `hint` ends every error with what to do.
    /// The header is read first; its sizes are checked (overflow-checked product, `InputLimits`) before anything
    /// is allocated for the data, and then exactly the declared bytes are read: a file may hold neither fewer nor
    /// more. Only regular files are read.
    public init(contentsOf path: String, magic: UInt32, hint fix: String = IDXFile.dataFileHint) throws {
        try self.init(contentsOf: path, magics: [magic], hint: fix)
    }

    /// The same, accepting any of `magics` (images with or without channels).
    public init(contentsOf path: String, magics: [UInt32], hint fix: String = IDXFile.dataFileHint) throws {
        let source = try IDXSource(path, hint: fix)
        let kind = magics.contains(IDXFile.labelsMagic) ? "label" : "image"
        let start = try source.take(4)
        guard !start.isEmpty else { throw DataError("\(path) is empty; \(fix)") }
        guard start.count == 4 else { throw DataError("\(path) is truncated: \(start.count) bytes, no IDX header; \(fix)") }
        let found = IDXFile.bigEndianUInt32(start, at: 0)
        guard magics.contains(found) else {
            throw DataError("\(path) is not an IDX \(kind) file (magic \(found), expected "
                                + "\(magics.map(String.init).joined(separator: " or "))); \(fix)")
        }
        let rank = Int(found & 0xFF)
        let header = try source.take(4 * rank)
        guard header.count == 4 * rank else { throw DataError("\(path) is truncated inside its header; \(fix)") }
        let dimensions = (0..<rank).map { Int(IDXFile.bigEndianUInt32(header, at: 4 * $0)) }
        let shape = dimensions.map(String.init).joined(separator: "x")
        if rank >= 3, let side = dimensions[1...2].first(where: { $0 == 0 || $0 > InputLimits.imageSide }) {
            throw DataError("\(path) declares \(shape) images: a side of \(side) is outside 1-\(InputLimits.imageSide); \(fix)")
        }
        if rank == 4, !(1...InputLimits.imageChannels).contains(dimensions[3]) {
            throw DataError("\(path) declares \(shape) images: \(dimensions[3]) channels is outside "
                                + "1-\(InputLimits.imageChannels); \(fix)")
        }
        guard let declared = checkedProduct(dimensions, limit: InputLimits.idxDataBytes) else {
            throw DataError("\(path) declares \(shape) bytes of data, more than the \(InputLimits.idxDataBytes) a data "
                                + "file may hold; \(fix)")
        }
        func truncated(holding held: Int) -> DataError {
            DataError("\(path) is truncated: its header declares \(shape) = \(declared) bytes of data but it holds \(held); \(fix)")
        }
        // A raw file's size is known: a header that declares more than the file holds is refused unallocated.
        if let remaining = source.remainingBytes, remaining < declared { throw truncated(holding: remaining) }
        let data = try source.take(declared)
        guard data.count == declared else { throw truncated(holding: data.count) }
        // What follows is counted, up to a point, for the message; it is never kept.
        let extra = try source.take(1 << 20).count
        guard extra == 0 else {
            throw DataError("\(path) has \(extra < 1 << 20 ? "\(extra) bytes" : "more than 1 MiB") after the \(declared) "
                                + "its header declares; \(fix)")
        }
        self.dimensions = dimensions
        bytes = data
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
}

/// The bytes of an IDX file in order, from a regular file, raw or gzip-compressed (told apart by gzip's magic).
final class IDXSource {
    private let descriptor: Int32?
    private let inflater: Inflater?
    private let path: String
    /// A raw file's size, for refusing a header that declares more than the file holds before allocating it.
    private let rawSize: Int

    /// `hint` ends an error with what to do.
    init(_ path: String, hint: String) throws {
        self.path = path
        let (descriptor, size) = try Self.opened(path, hint: hint)
        var magic: [UInt8] = [0, 0]
        let n = pread(descriptor, &magic, 2, 0)
        if n == 2, magic == [0x1F, 0x8B] {
            close(descriptor)
            // The compressed file is read whole (it is bounded by the same cap), and inflated only as far as read.
            guard size <= InputLimits.idxDataBytes else {
                throw DataError("\(path) is \(size) bytes, more than a data file may hold; \(hint)")
            }
            let compressed: [UInt8]
            do { compressed = try RegularFile.contents(path, limit: InputLimits.idxDataBytes) } catch let error as InputError {
                throw DataError(error.description)
            }
            self.descriptor = nil
            inflater = try Inflater(compressed, windowBits: 31, what: path)
            rawSize = 0
        } else {
            self.descriptor = descriptor
            inflater = nil
            rawSize = size
        }
    }

    /// The bytes left in a raw file; nil for a compressed one, known only by inflating it.
    var remainingBytes: Int? {
        guard let descriptor, inflater == nil else { return nil }
        return rawSize - Int(lseek(descriptor, 0, SEEK_CUR))
    }

    private static func opened(_ path: String, hint: String) throws -> (Int32, Int) {
        do { return try RegularFile.opened(path) } catch let error as InputError {
            throw DataError(error.description.hasSuffix("does not exist") ? "\(path) does not exist; \(hint)" : error.description)
        }
    }

    /// Up to `count` bytes; fewer only at the end of the file.
    func take(_ count: Int) throws -> [UInt8] {
        if let inflater { return try inflater.read(count) }
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = bytes.withUnsafeMutableBytes { read(descriptor!, $0.baseAddress! + offset, count - offset) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw DataError("\(path) cannot be read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            offset += n
        }
        return Array(bytes[0..<offset])
    }

    deinit { if let descriptor { close(descriptor) } }
}
