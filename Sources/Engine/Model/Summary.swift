extension Sequential {
    /// A Keras-style summary table: layer (type), output shape, parameter count; then the totals.
    public func summary(name: String = "sequential") -> String {
        let labels = layerSpecs.indices.map { " \(layerNames[$0]) (\(layerSpecs[$0].type.rawValue))" }
        let widths = (layer: max(29, labels.map(\.count).max()! + 1), shape: 26, params: 12)
        let width = widths.layer + widths.shape + widths.params
        func row(_ a: String, _ b: String, _ c: String) -> String {
            (a.padding(widths.layer) + b.padding(widths.shape) + c).trimmingTrailingSpaces
        }
        var lines = ["Model: \"\(name)\"", String(repeating: "_", count: width),
                     row(" Layer (type)", "Output Shape", "Param #"), String(repeating: "=", count: width)]
        for index in layerSpecs.indices {
            let count = layers[index].parameterSpecs.reduce(0) { $0 + $1.count }
            let shape = "(None, " + outputShapes[index].map(String.init).joined(separator: ", ") + ")"
            lines.append(row(labels[index], shape, count.grouped))
        }
        lines += [
            String(repeating: "=", count: width),
            "Total params: \(parameterCount.grouped)",
            "Trainable params: \(trainableParameterCount.grouped)",
            "Non-trainable params: \((parameterCount - trainableParameterCount).grouped)",
            String(repeating: "_", count: width),
        ]
        return lines.joined(separator: "\n")
    }
}

extension Int {
    /// 93322 -> "93,322", as Keras prints parameter counts.
    var grouped: String {
        let digits = Array(String(magnitude))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return self < 0 ? "-" + out : out
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }

    fileprivate var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
