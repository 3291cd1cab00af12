/// TFRecord framing, the container of TensorBoard's event files: each record is its length (little-endian
/// UInt64), the masked CRC-32C of those 8 bytes, the data, and the masked CRC-32C of the data.
enum TFRecord {
    static func frame(_ data: [UInt8]) -> [UInt8] {
        let length = littleEndianBytes(UInt64(data.count))
        return length + littleEndianBytes(CRC32C.masked(length)) + data + littleEndianBytes(CRC32C.masked(data))
    }

    /// The records of `bytes` in order, up to the first that is damaged or cut short: what a writer that stopped
    /// mid-record leaves readable. `intact` is false when something followed that could not be read. A length
    /// is believed only after its own CRC matches, so a damaged one never sizes anything.
    static func records(in bytes: [UInt8]) -> (records: [[UInt8]], intact: Bool) {
        var records: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 12 else { return (records, false) }
            let lengthBytes = bytes[offset..<offset + 8]
            guard littleEndianUInt32(bytes, at: offset + 8) == CRC32C.masked(lengthBytes) else { return (records, false) }
            let length = lengthBytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let start = offset + 12
            guard length <= UInt64(bytes.count - start), bytes.count - start - Int(length) >= 4 else {
                return (records, false)
            }
            let data = Array(bytes[start..<start + Int(length)])
            guard littleEndianUInt32(bytes, at: start + Int(length)) == CRC32C.masked(data) else { return (records, false) }
            records.append(data)
            offset = start + Int(length) + 4
        }
        return (records, true)
    }

    private static func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
    }

    private static func littleEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}
