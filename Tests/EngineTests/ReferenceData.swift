import Engine
import Foundation

/// Reads the reference files written by Tests/Reference/make_reference.py (format described there):
/// magic "MNTREF\0\0", version, then named float32 tensors.
struct ReferenceData {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Reference")

    let name: String
    let tensors: [String: Tensor]

    init(_ name: String) throws {
        let url = Self.directory.appendingPathComponent(name)
        let data = try Data(contentsOf: url)
        var cursor = 0
        func take(_ count: Int) throws -> Data {
            guard cursor + count <= data.count else {
                throw ReferenceError("\(url.path): truncated at byte \(cursor); regenerate with Tests/Reference/make_reference.py")
            }
            defer { cursor += count }
            return data.subdata(in: cursor..<cursor + count)
        }
        func uint32() throws -> Int {
            Int(try take(4).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
        }
        guard try take(8) == Data("MNTREF\0\0".utf8) else {
            throw ReferenceError("\(url.path): not a reference file (bad magic)")
        }
        let version = try uint32()
        guard version == 1 else { throw ReferenceError("\(url.path): unknown version \(version), expected 1") }
        var tensors: [String: Tensor] = [:]
        for _ in 0..<(try uint32()) {
            let key = String(decoding: try take(try uint32()), as: UTF8.self)
            let shape = try (0..<(try uint32())).map { _ in try uint32() }
            let count = shape.reduce(1, *)
            let scalars = try take(4 * count).withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            }
            tensors[key] = Tensor(shape: shape, scalars: scalars)
        }
        self.name = name
        self.tensors = tensors
    }

    subscript(key: String) -> Tensor {
        guard let tensor = tensors[key] else { fatalError("\(name) has no tensor \(key)") }
        return tensor
    }
}

struct ReferenceError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
