import SystemZlib

/// An 8-bit greyscale PNG: what TensorBoard's image dashboard shows. Rows are deflated with zlib, unfiltered.
public enum PNG {
    public static func grey(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
        precondition(pixels.count == width * height, "PNG: \(pixels.count) pixels for \(width) x \(height)")
        var raw: [UInt8] = []
        raw.reserveCapacity((width + 1) * height)
        for row in 0..<height {
            raw.append(0)  // filter type: none
            raw += pixels[row * width..<(row + 1) * width]
        }
        var deflated = [UInt8](repeating: 0, count: Int(compressBound(UInt(raw.count))))
        var deflatedCount = UInt(deflated.count)
        let status = compress2(&deflated, &deflatedCount, raw, UInt(raw.count), Z_BEST_COMPRESSION)
        precondition(status == Z_OK, "zlib compress2 failed: \(status)")
        let header = bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 0, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header)
            + chunk("IDAT", Array(deflated.prefix(Int(deflatedCount)))) + chunk("IEND", [])
    }

    private static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + typed + bigEndian(UInt32(crc32(0, typed, UInt32(typed.count))))
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
}
