import Foundation
import Observability
import Training

/// One self-contained HTML page of a run: its curves, speed and time per rank, confusion heatmap, per-class
/// metrics, the test digits it gets wrong, and its configuration. Nothing is fetched: styles are inline, charts
/// are inline SVG, digits are PNG data URLs, and the fonts are the reader's own, so the file opens offline and can
/// be mailed.
public struct HTMLReport {
    /// A test image the model gets wrong.
    public struct Mistake: Sendable {
        public let index: Int
        /// Greyscale, rows x columns.
        public let pixels: [UInt8]
        public let label: Int, predicted: Int
        public let probability: Double

        public init(index: Int, pixels: [UInt8], label: Int, predicted: Int, probability: Double) {
            (self.index, self.pixels, self.label, self.predicted, self.probability) = (index, pixels, label, predicted, probability)
        }
    }

    /// The grid shows at most this many, most confident first.
    public static let mistakesShown = 100

    public let log: RunLog
    public let modelFile: String
    public let modelName: String
    public let parameterCount: Int
    public let evaluation: Evaluation
    public let classNames: [String]
    public let mistakes: [Mistake]
    public let imageSize: (rows: Int, columns: Int)

    public init(log: RunLog, modelFile: String, modelName: String, parameterCount: Int, evaluation: Evaluation,
                classNames: [String]?, mistakes: [Mistake], imageSize: (rows: Int, columns: Int)) {
        (self.log, self.modelFile, self.modelName, self.parameterCount, self.evaluation) = (log, modelFile, modelName, parameterCount, evaluation)
        self.classNames = classNames ?? evaluation.confusion.indices.map(String.init)
        (self.mistakes, self.imageSize) = (mistakes, imageSize)
    }

    static let colors = (training: "#1f6fb4", validation: "#e0701b", steps: "#1f6fb4", compute: "#2a9d5c", communication: "#b8457e")

    public var html: String {
        let title = "\(modelName): test accuracy \(percent(evaluation.accuracy))"
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escaped(title))</title>
            <style>\(Self.style)</style>
            </head>
            <body>
            <header><h1>\(escaped(modelName))</h1>
            <p class="headline">test accuracy <b>\(percent(evaluation.accuracy))</b> (\(evaluation.correct)/\(evaluation.count)), test loss \
            <b>\(evaluation.loss.fixed(4))</b>, Cohen's kappa <b>\(evaluation.classification.kappa.fixed(4))</b></p></header>
            \(runSection)
            \(curvesSection)
            \(timeSection)
            \(confusionSection)
            \(metricsSection)
            \(mistakesSection)
            \(configurationSection)
            <footer>Written by mnist-train report from \(escaped(log.path)) and \(escaped(modelFile)).</footer>
            </body>
            </html>

            """
    }

    var runSection: String {
        let start = log.start
        let ranks = log.worldSize.map { counted($0, "rank") } ?? "?"
        let threads = (start["threads"] as? Int).map { " x \(counted($0, "thread"))" } ?? ""
        let resumes = log.resumedWorldSizes.isEmpty ? ""
            : "; resumed \(counted(log.resumedWorldSizes.count, "time")) (on \(log.resumedWorldSizes.map(String.init).joined(separator: ", ")) ranks)"
        var facts: [(String, String)] = [
            ("Model", "\(modelName), \(grouped(parameterCount)) parameters (\(modelFile))"),
            ("Run", "\(date(log.began)) to \(date(log.ended)), \(duration(log.ended - log.began))"),
            ("World", ranks + threads + resumes),
            ("Epochs", "\(log.epochs.count) logged, \(grouped(log.steps.count)) step records"),
        ]
        if let samples = start["training_samples"] as? Int {
            let validation = start["validation_samples"] as? Int ?? 0
            facts.append(("Data", "\(grouped(samples)) training samples\(validation > 0 ? ", \(grouped(validation)) for validation" : ""), "
                          + "\(grouped(evaluation.count)) test samples in \(classNames.count) classes"))
        }
        let machine = [start["host"] as? String, start["cpu"] as? String, (start["kernels"] as? String).map { "\($0) kernels" }]
            .compactMap { $0 }
        if !machine.isEmpty { facts.append(("Machine", machine.joined(separator: ", "))) }
        if let test = log.test {
            facts.append(("Logged test", "accuracy \(percent(test.accuracy)), loss \(test.loss.fixed(4)) (fit's own, at the end of the run)"))
        }
        return section("Run", "<dl>" + facts.map { "<dt>\(escaped($0.0))</dt><dd>\(escaped($0.1))</dd>" }.joined() + "</dl>")
    }

    var curvesSection: String {
        let epochs = log.epochs, steps = log.steps
        func chart(_ title: String, _ training: (EpochRecord) -> Double, _ validation: (EpochRecord) -> Double?,
                   _ step: (RunLog.Step) -> Double) -> String {
            var series = [SVG.Series(name: "steps (running)", points: steps.map { ($0.position, step($0)) }, color: Self.colors.steps, faint: true),
                          SVG.Series(name: "training", points: epochs.map { (Double($0.epoch), training($0)) },
                                     color: Self.colors.training, markers: true)]
            let validated = epochs.compactMap { record in validation(record).map { (Double(record.epoch), $0) } }
            if !validated.isEmpty {
                series.append(SVG.Series(name: "validation", points: validated, color: Self.colors.validation, markers: true))
            }
            return figure(title, SVG.lineChart(title: title, xLabel: "epoch", series: series))
        }
        return section("Loss and accuracy", "<div class=\"charts\">"
                       + chart("Loss", \.loss, \.valLoss, \.loss) + chart("Accuracy", \.accuracy, \.valAccuracy, \.accuracy) + "</div>")
    }

    var timeSection: String {
        let epochs = log.epochs, steps = log.steps
        let rate = SVG.lineChart(title: "Learning rate", xLabel: "epoch", series: [
            SVG.Series(name: "at each step record", points: steps.map { ($0.position, $0.learningRate) }, color: Self.colors.steps),
            SVG.Series(name: "at the epoch's end", points: epochs.map { (Double($0.epoch), Double($0.learningRate)) },
                       color: Self.colors.training, markers: true)], yFloor: 0)
        let speed = SVG.lineChart(title: "Samples per second", xLabel: "epoch", series: [
            SVG.Series(name: "logging intervals", points: steps.map { ($0.position, $0.samplesPerSecond) }, color: Self.colors.steps, faint: true),
            SVG.Series(name: "epochs", points: epochs.map { (Double($0.epoch), $0.samplesPerSecond) }, color: Self.colors.training,
                       markers: true)], yFloor: 0)
        // Per epoch from the epoch records; a log written before they carried the times sums its step records.
        let timed = epochs.compactMap { record in
            record.computeSeconds.flatMap { compute in record.communicationSeconds.map { (Double(record.epoch), compute, $0) } }
        }
        let perEpoch = timed.isEmpty ? Dictionary(grouping: steps, by: \.epoch).sorted { $0.key < $1.key }.map { epoch, steps in
            (Double(epoch), sum(steps.map(\.computeSeconds)), sum(steps.map(\.communicationSeconds)))
        } : timed
        let times = SVG.lineChart(title: "Seconds per rank", xLabel: "epoch", series: [
            SVG.Series(name: "compute (mean)", points: perEpoch.map { ($0.0, $0.1.mean) }, color: Self.colors.compute, markers: true),
            SVG.Series(name: "communication (mean)", points: perEpoch.map { ($0.0, $0.2.mean) }, color: Self.colors.communication, markers: true),
        ], bands: [
            SVG.Band(name: "compute min-max over ranks", points: perEpoch.map { ($0.0, $0.1.min, $0.1.max) }, color: Self.colors.compute),
            SVG.Band(name: "communication min-max", points: perEpoch.map { ($0.0, $0.2.min, $0.2.max) }, color: Self.colors.communication),
        ].filter { !$0.points.isEmpty }, yFloor: 0)
        let table = perEpoch.isEmpty ? "" : "<table class=\"numbers\"><tr><th>epoch</th><th>compute s (min / mean / max)</th>"
            + "<th>communication s (min / mean / max)</th></tr>" + perEpoch.map { epoch, compute, communication in
                "<tr><td>\(Int(epoch))</td><td>\(spread(compute))</td><td>\(spread(communication))</td></tr>"
            }.joined() + "</table>"
        return section("Speed and time", "<div class=\"charts\">" + figure("Learning rate", rate) + figure("Samples per second", speed)
                       + figure("Compute and communication per rank and epoch", times) + "</div>" + table)
    }

    var confusionSection: String {
        section("Confusion matrix", "<p>Rows are the true class, columns the predicted one; a cell's shade is its share of the row.</p>"
                + SVG.heatmap(counts: evaluation.confusion, names: classNames, rowTitle: "true class", columnTitle: "predicted class"))
    }

    var metricsSection: String {
        let report = evaluation.classification
        func row(_ name: String, _ row: ClassificationReport.Row, _ kind: String = "") -> String {
            "<tr\(kind)><td>\(escaped(name))</td><td>\(row.precision.fixed(4))</td><td>\(row.recall.fixed(4))</td>"
                + "<td>\(row.f1.fixed(4))</td><td>\(grouped(row.support))</td></tr>"
        }
        let rows = report.classes.enumerated().compactMap { label, entry in entry.map { row(classNames[label], $0) } }
        return section("Per-class metrics", "<table class=\"numbers\"><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
                       + rows.joined() + row("macro avg", report.macroAverage, " class=\"total\"")
                       + row("weighted avg", report.weightedAverage, " class=\"total\"")
                       + "<tr class=\"total\"><td>accuracy</td><td colspan=\"3\">\(evaluation.accuracy.fixed(4))</td><td>\(grouped(evaluation.count))</td></tr>"
                       + "<tr class=\"total\"><td>Cohen's kappa</td><td colspan=\"4\">\(report.kappa.fixed(4))</td></tr></table>")
    }

    var mistakesSection: String {
        let shown = mistakes.prefix(Self.mistakesShown)
        let wrong = evaluation.count - evaluation.correct
        let cells = shown.map { mistake in
            let png = PNG.grey(width: imageSize.columns, height: imageSize.rows, pixels: mistake.pixels)
            let caption = "\(classNames[mistake.label]) → \(classNames[mistake.predicted])"
            return "<figure><img alt=\"test image \(mistake.index)\" src=\"data:image/png;base64,\(Data(png).base64EncodedString())\">"
                + "<figcaption>\(escaped(caption))<br><span>\(percent(mistake.probability)) · #\(mistake.index)</span></figcaption></figure>"
        }
        let intro = wrong == 0 ? "The model gets every test image right."
            : "The model gets \(grouped(wrong)) of \(grouped(evaluation.count)) test images wrong; the \(shown.count) it is surest of "
                + "are below, each as true class → prediction, the prediction's probability and the image's index in the test set."
        return section("Test images it gets wrong", "<p>\(escaped(intro))</p><div class=\"digits\">" + cells.joined() + "</div>")
    }

    var configurationSection: String {
        var rows: [(String, String)] = []
        func flatten(_ value: Any, _ key: String) {
            if let object = value as? [String: Any] {
                for (name, inner) in object.sorted(by: { $0.key < $1.key }) { flatten(inner, key.isEmpty ? name : "\(key).\(name)") }
            } else if !(value is NSNull) {
                rows.append((key, "\(value)"))
            }
        }
        flatten(log.start["configuration"] ?? [:], "")
        for key in ["init_from", "classes", "training_samples", "validation_samples", "world_size", "threads"] {
            if let value = log.start[key], !(value is NSNull) { rows.append((key, "\(value)")) }
        }
        return section("Configuration", "<table class=\"settings\">"
                       + rows.map { "<tr><td>\(escaped($0.0))</td><td>\(escaped($0.1))</td></tr>" }.joined() + "</table>")
    }

    func section(_ title: String, _ body: String) -> String { "<section><h2>\(escaped(title))</h2>\n\(body)\n</section>" }

    func figure(_ title: String, _ svg: String) -> String { "<figure class=\"chart\"><figcaption>\(escaped(title))</figcaption>\(svg)</figure>" }

    func sum(_ spreads: [Spread]) -> Spread {
        Spread(min: spreads.reduce(0) { $0 + $1.min }, mean: spreads.reduce(0) { $0 + $1.mean }, max: spreads.reduce(0) { $0 + $1.max })
    }

    func spread(_ s: Spread) -> String { "\(s.min.fixed(2)) / \(s.mean.fixed(2)) / \(s.max.fixed(2))" }

    func percent(_ fraction: Double) -> String { (100 * fraction).fixed(2) + "%" }

    func grouped(_ n: Int) -> String {
        let digits = String(n)
        return digits.enumerated().map { index, digit in (index > 0 && (digits.count - index) % 3 == 0 ? "," : "") + String(digit) }.joined()
    }

    func date(_ unixSeconds: Double) -> String {
        let formatter = DateFormatter()
        (formatter.locale, formatter.timeZone, formatter.dateFormat) = (Locale(identifier: "en_US_POSIX"), TimeZone(identifier: "UTC"),
                                                                        "yyyy-MM-dd HH:mm:ss 'UTC'")
        return formatter.string(from: Date(timeIntervalSince1970: unixSeconds))
    }

    func duration(_ seconds: Double) -> String {
        seconds < 120 ? "\(seconds.fixed(1)) s" : seconds < 7200 ? "\((seconds / 60).fixed(1)) min" : "\((seconds / 3600).fixed(1)) h"
    }

    static let style = """
        body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1b2430;margin:0 auto;max-width:1180px;padding:16px 20px 40px}
        h1{font-size:26px;margin:8px 0 2px}h2{font-size:19px;margin:30px 0 10px;border-bottom:1px solid #d5dbe3;padding-bottom:4px}
        .headline{margin:0;font-size:16px}dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
        dt{font-weight:600;color:#4a5564}dd{margin:0;overflow-wrap:anywhere}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:14px}
        figure{margin:0}figure.chart{border:1px solid #e1e6ec;border-radius:6px;padding:6px 8px}
        figure.chart figcaption{font-weight:600;font-size:14px}svg{display:block;width:100%;height:auto}
        svg.heatmap{max-width:560px}.grid{stroke:#e8ecf1}.frame{fill:none;stroke:#9aa5b1}
        .line{fill:none;stroke-width:2}.faint{fill:none;stroke-width:1;opacity:.35}.band{opacity:.18}
        .tick,.legend,.cell{font-size:11px;fill:#3c4653}.axis{font-size:12px;fill:#4a5564}.cell{font-size:12px}
        table{border-collapse:collapse;margin-top:8px}td,th{padding:3px 12px;border-bottom:1px solid #e6eaef;text-align:right}
        td:first-child,th:first-child{text-align:left}.total td{font-weight:600}.settings td{text-align:left;font-size:13px}
        .digits{display:grid;grid-template-columns:repeat(auto-fill,minmax(92px,1fr));gap:8px}
        .digits figure{text-align:center;font-size:12px}.digits img{width:56px;height:56px;image-rendering:pixelated;background:#000}
        .digits span{color:#5d6875}.empty{color:#5d6875}footer{margin-top:36px;color:#5d6875;font-size:13px}
        @media (max-width:700px){.charts{grid-template-columns:1fr}body{padding:10px}}
        """
}
