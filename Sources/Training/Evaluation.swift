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

    public var classification: ClassificationReport { ClassificationReport(confusion: confusion) }

    /// A human-readable report: totals, per-class precision, recall, F1 and support with their averages, Cohen's
    /// kappa, confusion matrix. With `classNames` the rows are named; the matrix's columns keep the labels'
    /// numbers, which fit their width.
    public func table(title: String = "Test", classNames: [String]? = nil) -> String {
        let names = classNames ?? confusion.indices.map(String.init)
        let report = classification
        let width = max(12, names.map(\.count).max() ?? 0)
        var lines = ["\(title) loss \(loss.fixed(4)), accuracy \((100 * accuracy).fixed(2))% (\(correct)/\(count))", "",
                     "class".padded(width) + "  precision  recall  f1-score  support"]
        func line(_ name: String, _ row: ClassificationReport.Row) -> String {
            name.padded(width) + row.precision.fixed(4).padded(11) + row.recall.fixed(4).padded(8)
                + row.f1.fixed(4).padded(10) + String(row.support).padded(9)
        }
        for (label, row) in report.classes.enumerated() {
            lines.append(row.map { line(names[label], $0) } ?? names[label].padded(width) + "  (neither in the labels nor predicted)")
        }
        lines += ["", line("macro avg", report.macroAverage), line("weighted avg", report.weightedAverage),
                  "", "Cohen's kappa \(report.kappa.fixed(4))"]
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

/// Per-class precision, recall, F1 and support, their macro and weighted averages, and Cohen's kappa, from a
/// confusion matrix, as scikit-learn's `classification_report` and `cohen_kappa_score` give them: a class in
/// neither the labels nor the predictions has no row and no part in the averages; a ratio with nothing to
/// divide by is 0 (scikit-learn's `zero_division` default), and so is kappa where chance agreement is total
/// (scikit-learn's NaN).
public struct ClassificationReport: Codable, Equatable, Sendable {
    public struct Row: Codable, Equatable, Sendable {
        public let precision: Double, recall: Double, f1: Double
        public let support: Int

        enum CodingKeys: String, CodingKey { case precision, recall, f1 = "f1_score", support }
    }

    /// By label; nil for a class in neither the labels nor the predictions.
    public let classes: [Row?]
    public let macroAverage: Row
    public let weightedAverage: Row
    public let kappa: Double

    enum CodingKeys: String, CodingKey {
        case classes = "per_class", macroAverage = "macro_avg", weightedAverage = "weighted_avg", kappa = "cohen_kappa"
    }

    /// `confusion[true class][predicted class]`.
    public init(confusion: [[Int]]) {
        let n = confusion.indices
        let support = n.map { confusion[$0].reduce(0, +) }
        let predicted = n.map { column in n.reduce(0) { $0 + confusion[$1][column] } }
        func ratio(_ a: Double, _ b: Double) -> Double { b == 0 ? 0 : a / b }
        classes = n.map { label in
            guard support[label] + predicted[label] > 0 else { return nil }
            let hits = Double(confusion[label][label])
            let precision = ratio(hits, Double(predicted[label])), recall = ratio(hits, Double(support[label]))
            return Row(precision: precision, recall: recall, f1: ratio(2 * precision * recall, precision + recall),
                       support: support[label])
        }
        let rows = classes.compactMap { $0 }
        let total = support.reduce(0, +)
        func average(_ weight: (Row) -> Double) -> Row {
            let weights = rows.map(weight), sum = weights.reduce(0, +)
            func mean(_ value: (Row) -> Double) -> Double { ratio(zip(rows, weights).reduce(0) { $0 + value($1.0) * $1.1 }, sum) }
            return Row(precision: mean(\.precision), recall: mean(\.recall), f1: mean(\.f1), support: total)
        }
        macroAverage = average { _ in 1 }
        weightedAverage = average { Double($0.support) }
        // Observed against chance agreement, from the row and column totals.
        let count = Double(total)
        let observed = ratio(Double(n.reduce(0) { $0 + confusion[$1][$1] }), count)
        let chance = ratio(n.reduce(0) { $0 + Double(support[$1]) * Double(predicted[$1]) }, count * count)
        kappa = chance == 1 ? 0 : (observed - chance) / (1 - chance)
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
