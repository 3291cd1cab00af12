import Foundation
import InputChecks

/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON header
/// mapping each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} plus a "__metadata__" map of
/// strings, then the raw little-endian tensor bytes. Only F32 tensors are written or read here.
public struct SafeTensors: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public let name: String
        public let shape: [Int]
        public let values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) does not match \(values.count) values")
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    public var tensors: [Entry]
    public var metadata: [String: String]

    public init(tensors: [Entry], metadata: [String: String]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    public subscript(name: String) -> Entry? { tensors.first { $0.name == name } }

    /// A value as a metadata string: JSON with sorted keys, so two files' metadata compare field by field.
    public static func metadataJSON<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public func encoded() throws -> [UInt8] {
        var header: [String: Any] = ["__metadata__": metadata]
        var offset = 0
        for tensor in tensors {
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + 4 * tensor.values.count]]
            offset += 4 * tensor.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces so the data starts 8-byte aligned, as the reference implementation does.
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        out += json
        for tensor in tensors {
            tensor.values.withUnsafeBytes { raw in
                // Float's bytes are little-endian on every platform Swift runs on here (x86-64, arm64).
                out += raw
            }
        }
        return out
    }

    /// Parses and validates a safetensors file's bytes as the reference implementation does; `path` names the
    /// file in errors. The header is capped before it is parsed; every tensor's element count is an
    /// overflow-checked product of its shape; the tensors, in offset order, must tile the data exactly: each
    /// starts where the previous ended (no hole, no overlap, so no two tensors share bytes), each spans exactly
    /// count x 4 bytes, and the last ends at the end of the file.
    public init(decoding bytes: [UInt8], path: String) throws {
        func fail(_ problem: String) -> CheckpointError { CheckpointError("\(path): \(problem)") }
        guard bytes.count >= 8 else { throw fail("too short for a safetensors header") }
        let declared = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard declared <= UInt64(InputLimits.safetensorsHeaderBytes) else {
            throw fail("declares a \(declared)-byte header, more than safetensors' limit of \(InputLimits.safetensorsHeaderBytes)")
        }
        let headerLength = Int(declared)
        guard headerLength > 0, headerLength <= bytes.count - 8 else {
            throw fail("header length \(headerLength) does not fit the file's \(bytes.count) bytes")
        }
        guard bytes[8] == UInt8(ascii: "{"),
              let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<8 + headerLength])) as? [String: Any] else {
            throw fail("the safetensors header is not a JSON object")
        }
        if let name = duplicateJSONKey(bytes[8..<8 + headerLength]) {
            throw fail("the header names \(InputChecks.shown(name)) twice")
        }
        let dataStart = 8 + headerLength
        let dataBytes = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: String] else { throw fail("__metadata__ is not a map of strings") }
                metadata = map
                continue
            }
            let shown = InputChecks.shown(name)
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor \(shown) has a malformed header entry") }
            guard dtype == "F32" else { throw fail("tensor \(shown) is \(InputChecks.shown(dtype)); only F32 is supported") }
            guard let count = checkedProduct(shape, limit: InputLimits.checkpointBytes / 4) else {
                throw fail("tensor \(shown) has shape \(shape): negative, or more values than a file may hold")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end - begin == 4 * count else {
                throw fail("tensor \(shown) has data_offsets [\(begin), \(end)], which do not span its \(count) values")
            }
            entries.append((name, shape, begin, end))
        }
        entries.sort { $0.begin < $1.begin }
        var expected = 0
        for entry in entries {
            guard entry.begin == expected else {
                throw fail(entry.begin < expected ? "tensor \(InputChecks.shown(entry.name)) overlaps the one before it"
                               : "bytes \(expected)..<\(entry.begin) of the data belong to no tensor")
            }
            expected = entry.end
        }
        guard expected == dataBytes else {
            throw fail(expected < dataBytes ? "has \(dataBytes - expected) bytes after its last tensor"
                           : "is truncated: its tensors need \(expected) bytes of data, it holds \(dataBytes)")
        }
        tensors = entries.map { entry in
            let values = bytes[(dataStart + entry.begin)..<(dataStart + entry.end)].withUnsafeBytes { raw in
                (0..<(entry.end - entry.begin) / 4).map {
                    Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
                }
            }
            return Entry(name: entry.name, shape: entry.shape, values: values)
        }
        self.metadata = metadata
    }
}
