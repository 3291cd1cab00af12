/// Images in a grid, each captioned underneath in a 3x5-pixel font drawn at twice its size: white on black, as
/// MNIST's digits are. `misclassified` captions each digit "label>prediction".
public enum DigitGrid {
    /// A greyscale PNG of `images` (each `height` x `width` values in [0, 1]), `columns` to a row, with `captions`
    /// (digits, letters drawn as capitals, and a few signs; anything else is left blank), and its size.
    public static func png(images: [[Float]], width: Int, height: Int, captions: [String], columns: Int = 8)
        -> (png: [UInt8], width: Int, height: Int) {
        precondition(images.count == captions.count && !images.isEmpty, "DigitGrid: one caption an image, at least one")
        // Capitals once, before the cells are sized: one letter's capital may be two ("ß" is "SS").
        let captions = captions.map { $0.uppercased() }
        let scale = 2, glyphWidth = 3 * scale + scale
        let cellWidth = max(width, (captions.map(\.count).max() ?? 0) * glyphWidth) + 2
        let cellHeight = height + 5 * scale + 4
        let rows = (images.count + columns - 1) / columns, across = min(columns, images.count)
        let (gridWidth, gridHeight) = (across * cellWidth, rows * cellHeight)
        var pixels = [UInt8](repeating: 0, count: gridWidth * gridHeight)
        for (index, image) in images.enumerated() {
            let left = index % columns * cellWidth + 1, top = index / columns * cellHeight + 1
            for y in 0..<height {
                for x in 0..<width {
                    pixels[(top + y) * gridWidth + left + x] = UInt8((min(max(image[y * width + x], 0), 1) * 255).rounded())
                }
            }
            for (position, character) in captions[index].enumerated() {
                guard let glyph = font[character] else { continue }
                for (row, bits) in glyph.enumerated() {
                    for column in 0..<3 where bits >> (2 - column) & 1 == 1 {
                        for dy in 0..<scale {
                            for dx in 0..<scale {
                                let x = left + position * glyphWidth + column * scale + dx
                                let y = top + height + 2 + row * scale + dy
                                pixels[y * gridWidth + x] = 255
                            }
                        }
                    }
                }
            }
        }
        return (PNG.grey(width: gridWidth, height: gridHeight, pixels: pixels), gridWidth, gridHeight)
    }

    /// Five rows of three bits, the high bit leftmost: digits, capitals (a lower-case letter is drawn as its
    /// capital), and a few signs. Any other character is left blank.
    private static let font: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7], "4": [5, 5, 7, 1, 1],
        "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 2, 2, 2], "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7],
        "A": [2, 5, 7, 5, 5], "B": [6, 5, 6, 5, 6], "C": [3, 4, 4, 4, 3], "D": [6, 5, 5, 5, 6], "E": [7, 4, 6, 4, 7],
        "F": [7, 4, 6, 4, 4], "G": [3, 4, 5, 5, 3], "H": [5, 5, 7, 5, 5], "I": [7, 2, 2, 2, 7], "J": [1, 1, 1, 5, 2],
        "K": [5, 5, 6, 5, 5], "L": [4, 4, 4, 4, 7], "M": [5, 7, 7, 5, 5], "N": [6, 5, 5, 5, 5], "O": [2, 5, 5, 5, 2],
        "P": [6, 5, 6, 4, 4], "Q": [2, 5, 5, 6, 3], "R": [6, 5, 6, 5, 5], "S": [3, 4, 2, 1, 6], "T": [7, 2, 2, 2, 2],
        "U": [5, 5, 5, 5, 7], "V": [5, 5, 5, 5, 2], "W": [5, 5, 7, 7, 5], "X": [5, 5, 2, 5, 5], "Y": [5, 5, 2, 2, 2],
        "Z": [7, 1, 2, 4, 7], ">": [4, 2, 1, 2, 4], "-": [0, 0, 7, 0, 0], "/": [1, 1, 2, 4, 4], ".": [0, 0, 0, 0, 2],
        "_": [0, 0, 0, 0, 7],
    ]
}
