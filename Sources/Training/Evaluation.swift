/// Loss, accuracy and confusion matrix of a model on a labelled set.
public struct Evaluation: Codable, Equatable, Sendable {
    public let loss: Double
    public let correct: Int
    public let count: Int
    /// confusion[true class][predicted class]
    public let confusion: [[Int]]

    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }

    public var perClassAccuracy: [Double] {
        confusion.enumerated().map { label, row in
            let total = row.reduce(0, +)
            return total == 0 ? 0 : Double(row[label]) / Double(total)
        }
    }

    enum CodingKeys: String, CodingKey { case loss, correct, count, confusion = "confusion_matrix" }

    /// A human-readable report: totals, per-class accuracy, confusion matrix. With `classNames` the rows are named;
    /// the matrix's columns keep the labels' numbers, which fit their width.
    public func table(title: String = "Test", classNames: [String]? = nil) -> String {
        let names = classNames ?? confusion.indices.map(String.init)
        let width = max(5, names.map(\.count).max() ?? 0)
        var lines = ["\(title) loss \(loss.fixed(4)), accuracy \((100 * accuracy).fixed(2))% (\(correct)/\(count))", "",
                     "class".padded(width) + "  accuracy  count"]
        for (label, accuracy) in perClassAccuracy.enumerated() {
            lines.append("\(names[label].padded(width))  \(((100 * accuracy).fixed(2) + "%").padded(8))  \(confusion[label].reduce(0, +))")
        }
        let cell = max(5, String(confusion.map { $0.max() ?? 0 }.max() ?? 0).count + 1)
        let rowNames = confusion.indices.map { label in classNames.map { "\($0[label]) \(label)" } ?? String(label) }
        let rowWidth = max(5, rowNames.map(\.count).max() ?? 0)
        lines += ["", "confusion matrix (rows: true class, columns: predicted class)",
                  String(repeating: " ", count: rowWidth) + confusion.indices.map { String($0).padded(cell) }.joined()]
        for (label, row) in confusion.enumerated() {
            lines.append(rowNames[label].padded(rowWidth) + row.map { String($0).padded(cell) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}

extension Double {
    /// Fixed-point text with `digits` decimals.
    public func fixed(_ digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (self * scale).rounded() / scale
        let text = String(rounded)
        guard digits > 0 else { return String(Int(rounded)) }
        let parts = text.split(separator: ".", maxSplits: 1)
        if text.contains("e") { return text }
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        return String(parts[0]) + "." + fraction + String(repeating: "0", count: max(0, digits - fraction.count))
    }
}

extension String {
    /// Right-aligned in `width` columns.
    public func padded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
