import Foundation
import InputChecks

/// Images to predict from a file: IDX images (magic 2051, or 2052 with channels) or a PGM (P2 text or P5 binary).
public enum ImageFile {
    public static func load(_ path: String, invert: Bool) throws -> Dataset {
        // The first two bytes tell a PGM from an IDX file; each is then read with its own reader and cap.
        let (descriptor, _) = try opened(path)
        var magic: [UInt8] = [0, 0]
        let count = pread(descriptor, &magic, 2, 0)
        close(descriptor)
        var dataset: Dataset
        if count == 2, magic == Array("P2".utf8) || magic == Array("P5".utf8) {
            let bytes: [UInt8]
            do {
                // The largest PGM of sides within the cap, as P2 text of 3 digits and a space per pixel.
                bytes = try RegularFile.contents(path, limit: 64 + 4 * InputLimits.imageSide * InputLimits.imageSide)
            } catch let error as InputError {
                throw DataError(error.description)
            }
            dataset = try pgm(bytes, path: path)
        } else {
            let images = try IDXFile(contentsOf: path, magics: [IDXFile.imagesMagic, IDXFile.imagesWithChannelsMagic],
                                     hint: "give a PGM (P2 or P5) or an IDX image file")
            dataset = Dataset(images: images.bytes, labels: [UInt8](repeating: 0, count: images.dimensions[0]),
                              rows: images.dimensions[1], columns: images.dimensions[2],
                              channels: images.dimensions.count == 4 ? images.dimensions[3] : 1)
        }
        if invert {
            dataset = Dataset(images: dataset.images.map { 255 - $0 }, labels: dataset.labels, rows: dataset.rows,
                              columns: dataset.columns, channels: dataset.channels)
        }
        return dataset
    }

    private static func opened(_ path: String) throws -> (Int32, Int) {
        do { return try RegularFile.opened(path) } catch let error as InputError { throw DataError(error.description) }
    }

    /// A P2 or P5 PGM, scaled to 0-255.
    public static func pgm(_ bytes: [UInt8], path: String) throws -> Dataset {
        guard bytes.starts(with: Array("P2".utf8)) || bytes.starts(with: Array("P5".utf8)) else {
            throw DataError("\(path): not a PGM (it does not start with P2 or P5)")
        }
        var i = 2
        func token() throws -> Int {
            while i < bytes.count {
                if bytes[i] == UInt8(ascii: "#") { while i < bytes.count && bytes[i] != 0x0A { i += 1 } }
                else if bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
                else { break }
            }
            let start = i
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            guard let value = Int(String(decoding: bytes[start..<i], as: UTF8.self)) else {
                throw DataError("\(path): malformed PGM: expected a number at byte \(start)")
            }
            return value
        }
        let width = try token(), height = try token(), maxValue = try token()
        let sides = 1...InputLimits.imageSide
        guard sides.contains(width), sides.contains(height), (1...255).contains(maxValue) else {
            throw DataError("\(path): a PGM of \(width)x\(height), maximum \(maxValue) is not supported "
                                   + "(sides 1-\(InputLimits.imageSide), 8-bit gray)")
        }
        var pixels: [Int] = []
        if bytes[1] == UInt8(ascii: "5") {
            i += 1  // the single whitespace after maxval
            guard bytes.count - i >= width * height else { throw DataError("\(path): PGM is truncated") }
            pixels = bytes[i..<i + width * height].map(Int.init)
        } else {
            // Pixel by pixel as they are read: a header's size is a claim, not an allocation order.
            while pixels.count < width * height {
                guard i < bytes.count else { throw DataError("\(path): PGM is truncated") }
                pixels.append(try token())
            }
        }
        if let bad = pixels.first(where: { $0 > maxValue }) {
            throw DataError("\(path): a pixel of \(bad) exceeds the PGM's maximum \(maxValue)")
        }
        return Dataset(images: pixels.map { UInt8(min(255, $0 * 255 / maxValue)) }, labels: [0], rows: height, columns: width)
    }
}
