import Foundation

/// Inline SVG for the report: line charts with bands, and a heatmap. Each scales to its container's width
/// (a viewBox, no fixed size), so the page reads on a narrow window as on a wide one.
enum SVG {
    /// A line of a chart; `faint` draws it thin and pale, under the others (the step records under the epochs).
    struct Series {
        let name: String
        let points: [(x: Double, y: Double)]
        let color: String
        var faint = false
        var markers = false
    }

    /// A shaded range between two lines, as min-max over ranks.
    struct Band {
        let name: String
        let points: [(x: Double, low: Double, high: Double)]
        let color: String
    }

    static let width = 640.0, height = 260.0
    static let margin = (left: 62.0, right: 12.0, top: 14.0, bottom: 58.0)

    /// A chart of `series` and `bands` over x, with axes, ticks, grid lines and a legend.
    static func lineChart(title: String, xLabel: String, series: [Series], bands: [Band] = [], yFloor: Double? = nil) -> String {
        let xs = series.flatMap { $0.points.map(\.x) } + bands.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) } + bands.flatMap { $0.points.flatMap { [$0.low, $0.high] } }
        guard let xMin = xs.min(), let xMax = xs.max(), var yMin = ys.min(), var yMax = ys.max() else {
            return "<p class=\"empty\">\(escaped(title)): nothing logged</p>"
        }
        if let yFloor { yMin = Swift.min(yMin, yFloor) }
        if yMax - yMin < 1e-12 { (yMin, yMax) = (yMin - 0.5, yMax + 0.5) }
        let yTicks = niceTicks(yMin, yMax), xTicks = niceTicks(xMin, xMax == xMin ? xMin + 1 : xMax)
        let (y0, y1) = (yTicks.first!, yTicks.last!), (x0, x1) = (xTicks.first!, xTicks.last!)
        let plotWidth = width - margin.left - margin.right, plotHeight = height - margin.top - margin.bottom
        func px(_ x: Double) -> Double { margin.left + (x - x0) / (x1 - x0) * plotWidth }
        func py(_ y: Double) -> Double { margin.top + (1 - (y - y0) / (y1 - y0)) * plotHeight }
        var parts = ["<svg class=\"chart\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-label=\"\(escaped(title))\">"]
        for tick in yTicks {
            parts.append("<line class=\"grid\" x1=\"\(f(margin.left))\" x2=\"\(f(width - margin.right))\" y1=\"\(f(py(tick)))\" y2=\"\(f(py(tick)))\"/>")
            parts.append("<text class=\"tick\" x=\"\(f(margin.left - 6))\" y=\"\(f(py(tick) + 4))\" text-anchor=\"end\">\(label(tick))</text>")
        }
        for tick in xTicks {
            parts.append("<text class=\"tick\" x=\"\(f(px(tick)))\" y=\"\(f(height - margin.bottom + 16))\" text-anchor=\"middle\">\(label(tick))</text>")
        }
        parts.append("<text class=\"axis\" x=\"\(f(margin.left + plotWidth / 2))\" y=\"\(f(height - margin.bottom + 30))\" text-anchor=\"middle\">\(escaped(xLabel))</text>")
        for band in bands where !band.points.isEmpty {
            let upper = band.points.map { "\(f(px($0.x))),\(f(py($0.high)))" }
            let lower = band.points.reversed().map { "\(f(px($0.x))),\(f(py($0.low)))" }
            parts.append("<polygon class=\"band\" fill=\"\(band.color)\" points=\"\((upper + lower).joined(separator: " "))\"/>")
        }
        for line in series.sorted(by: { $0.faint && !$1.faint }) where !line.points.isEmpty {
            let points = line.points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            parts.append("<polyline class=\"\(line.faint ? "faint" : "line")\" stroke=\"\(line.color)\" points=\"\(points)\"/>")
            if line.markers {
                parts += line.points.map { "<circle cx=\"\(f(px($0.x)))\" cy=\"\(f(py($0.y)))\" r=\"3\" fill=\"\(line.color)\"/>" }
            }
        }
        parts.append("<rect class=\"frame\" x=\"\(f(margin.left))\" y=\"\(f(margin.top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\"/>")
        // The legend under the axis label, left to right.
        var x = margin.left
        for (name, color, faint) in series.map({ ($0.name, $0.color, $0.faint) }) + bands.map({ ($0.name, $0.color, true) }) {
            let y = height - 4
            parts.append("<rect x=\"\(f(x))\" y=\"\(f(y - 8))\" width=\"14\" height=\"\(faint ? 6 : 3)\" fill=\"\(color)\" opacity=\"\(faint ? 0.45 : 1)\"/>")
            parts.append("<text class=\"legend\" x=\"\(f(x + 18))\" y=\"\(f(y - 2))\">\(escaped(name))</text>")
            x += 30 + Double(name.count) * 6.4
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    /// `counts[row][column]` as coloured cells with their counts, rows and columns named; the colour follows each
    /// cell's share of its row, so that a rare class's mistakes show as a common one's do.
    static func heatmap(counts: [[Int]], names: [String], rowTitle: String, columnTitle: String) -> String {
        let n = counts.count, cell = 40.0
        let labelWidth = Swift.min(150, 14 + Double(names.map(\.count).max() ?? 1) * 7.2)
        let top = 44.0, size = (width: labelWidth + Double(n) * cell + 8, height: top + Double(n) * cell + 8)
        var parts = ["<svg class=\"heatmap\" viewBox=\"0 0 \(f(size.width)) \(f(size.height))\" role=\"img\" aria-label=\"confusion matrix\">",
                     "<text class=\"axis\" x=\"\(f(labelWidth + Double(n) * cell / 2))\" y=\"14\" text-anchor=\"middle\">\(escaped(columnTitle))</text>",
                     "<text class=\"axis\" x=\"4\" y=\"14\">\(escaped(rowTitle))</text>"]
        for (column, name) in names.enumerated() {
            parts.append("<text class=\"tick\" x=\"\(f(labelWidth + (Double(column) + 0.5) * cell))\" y=\"\(f(top - 8))\" text-anchor=\"middle\">\(escaped(String(column)))<title>\(escaped(name))</title></text>")
        }
        for (row, values) in counts.enumerated() {
            let total = Swift.max(1, values.reduce(0, +))
            let y = top + Double(row) * cell
            parts.append("<text class=\"tick\" x=\"\(f(labelWidth - 6))\" y=\"\(f(y + cell / 2 + 4))\" text-anchor=\"end\">\(escaped(names[row]))</text>")
            for (column, count) in values.enumerated() {
                let share = Double(count) / Double(total)
                // Pale to dark blue by the square root of the share, so single mistakes are still seen.
                let shade = share.squareRoot()
                let fill = "rgb(\(Int(247 - 199 * shade)),\(Int(251 - 145 * shade)),\(Int(255 - 75 * shade)))"
                let x = labelWidth + Double(column) * cell
                parts.append("<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(cell - 1))\" height=\"\(f(cell - 1))\" fill=\"\(fill)\"><title>true \(escaped(names[row])), predicted \(escaped(names[column])): \(count)</title></rect>")
                if count > 0 {
                    parts.append("<text class=\"cell\" x=\"\(f(x + cell / 2))\" y=\"\(f(y + cell / 2 + 4))\" text-anchor=\"middle\" style=\"fill:\(shade > 0.6 ? "#fff" : "#123")\">\(count)</text>")
                }
            }
        }
        parts.append("</svg>")
        return parts.joined(separator: "\n")
    }

    /// About five round values spanning `low`...`high`: steps of 1, 2 or 5 times a power of ten.
    static func niceTicks(_ low: Double, _ high: Double) -> [Double] {
        let raw = (high - low) / 5
        let power = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
        let first = floor(low / step) * step, last = ceil(high / step) * step
        return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
    }

    static func label(_ value: Double) -> String {
        if value == 0 { return "0" }
        if abs(value) >= 1000 { return String(format: "%gk", value / 1000) }
        if abs(value) >= 100 || value == value.rounded() { return String(format: "%.0f", value) }
        return String(format: abs(value) < 1 ? "%.3g" : "%.2f", value)
    }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}

/// Text safe inside HTML and SVG elements and attributes.
func escaped(_ text: String) -> String {
    var result = ""
    for character in text {
        switch character {
        case "&": result += "&amp;"
        case "<": result += "&lt;"
        case ">": result += "&gt;"
        case "\"": result += "&quot;"
        case "'": result += "&#39;"
        default: result.append(character)
        }
    }
    return result
}
