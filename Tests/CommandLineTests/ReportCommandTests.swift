import Foundation
import XCTest

/// `mnist-train report` on real runs: a resumed 2-rank run's page opens in headless Chromium with the network cut
/// off, no console errors, and its charts, heatmap and digits in place, at 1280 and 800 px; `evaluate`'s metrics
/// are scikit-learn's on the same predictions; class names of another IDX set reach the page; a log cut short
/// or a model of another run is one line.
final class ReportCommandTests: BinaryTestCase {
    /// A 2-rank mlp-bn run of 2 epochs with a validation split, stopped after the first and resumed, logged to
    /// one file.
    func resumedRun() throws -> (log: String, model: String) {
        let log = path("run.jsonl"), model = path("mlp-bn.safetensors.zst")
        let common = ["fit", "--model", "mlp-bn", "--data", dataDirectory, "--train-samples", "3000", "--validation-split", "0.2",
                      "--log-every", "10", "--checkpoint-dir", path("ckpt"), "--log", log, "--output", model, "--quiet"]
        let first = try run(common + ["--epochs", "1"], ranks: 2)
        XCTAssertEqual(first.status, 0, first.error)
        let resumed = try run(common + ["--epochs", "2", "--resume"], ranks: 2)
        XCTAssertEqual(resumed.status, 0, resumed.error)
        return (log, model)
    }

    struct Page: Decodable {
        let errors: [String], outside_requests: [String]
        let svg: Int, charts: Int, heatmap_cells: Int, polylines: Int, images_loaded: Int
        let sections: [String]
        let overflows: Bool
        let screenshot: String
    }

    func testAResumedRunsReportOpensOfflineInChromiumWithEverySection() throws {
        let python = try clientsPython()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            throw XCTSkip("no /usr/bin/chromium: deploy/install-deps.sh --test installs Debian's chromium where the package sources have it")
        }
        let (log, model) = try resumedRun()
        let html = path("run.html")
        let report = try run(["report", log, model, "-o", html, "--data", dataDirectory])
        XCTAssertEqual(report.status, 0, report.error)
        XCTAssertTrue(report.output.hasPrefix("wrote \(html): 2 epochs of \(log), test accuracy "), report.output)
        let text = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertFalse(text.contains("http://") || text.contains("https://") || text.contains("<script"), "self-contained, no scripts")
        XCTAssertTrue(text.contains("resumed 1 time (on 2 ranks)"), "the resume is named")
        let wrong = try XCTUnwrap(report.output.split(separator: ",").last.flatMap { Int($0.split(separator: " ")[0]) })
        let checker = Self.repository.appendingPathComponent("Tests/CommandLineTests/check_report.py").path
        let checked = try launch([python, checker, html, directory], timeout: 300)
        XCTAssertEqual(checked.status, 0, checked.error)
        struct Result: Decodable { let widths: [String: Page] }
        let pages = try JSONDecoder().decode(Result.self, from: Data(checked.output.utf8)).widths
        XCTAssertEqual(Set(pages.keys), ["1280", "800"])
        for (width, page) in pages {
            XCTAssertEqual(page.errors, [], "\(width) px: console errors")
            XCTAssertEqual(page.outside_requests, [], "\(width) px: requests outside the file")
            XCTAssertEqual(page.sections, ["Run", "Loss and accuracy", "Speed and time", "Confusion matrix", "Per-class metrics",
                                           "Test images it gets wrong", "Configuration"], width)
            XCTAssertEqual(page.charts, 5, "\(width) px: loss, accuracy, learning rate, samples/s, time per rank")
            XCTAssertEqual(page.svg, 6, "\(width) px: the charts and the heatmap")
            XCTAssertEqual(page.heatmap_cells, 100, "\(width) px: 10 x 10 cells")
            // Steps, training and validation in two charts; steps and epochs in two; two means in one.
            XCTAssertEqual(page.polylines, 3 + 3 + 2 + 2 + 2, width)
            XCTAssertEqual(page.images_loaded, min(100, wrong), "\(width) px: the digits it gets wrong")
            XCTAssertFalse(page.overflows, "\(width) px: the page fits the window's width")
            XCTAssertGreaterThan(try FileManager.default.attributesOfItem(atPath: page.screenshot)[.size] as? Int ?? 0, 50_000)
        }
    }

    /// A 1-rank run on another IDX set with class names (Fashion-MNIST, Debian's dataset-fashion-mnist): the page
    /// names the classes.
    func testAnotherIDXSetsClassNamesReachThePage() throws {
        let fashion = AnyIDXSetTests.fashionMNIST
        guard FileManager.default.fileExists(atPath: fashion + "/t10k-labels-idx1-ubyte.gz") else {
            throw XCTSkip("no Fashion-MNIST in \(fashion): deploy/install-deps.sh --test installs Debian's dataset-fashion-mnist "
                          + "where the package sources have it")
        }
        let names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
        try (names.joined(separator: "\n") + "\n").write(toFile: path("classes.txt"), atomically: true, encoding: .utf8)
        let log = path("fashion.jsonl"), model = path("fashion.safetensors.zst")
        let fit = try run(["fit", "--model", "mlp", "--data", fashion, "--class-names", path("classes.txt"), "--epochs", "1",
                           "--train-samples", "2000", "--log", log, "--output", model, "--quiet"])
        XCTAssertEqual(fit.status, 0, fit.error)
        let report = try run(["report", log, model, "-o", path("fashion.html"), "--data", fashion])
        XCTAssertEqual(report.status, 0, report.error)
        let page = try String(contentsOfFile: path("fashion.html"), encoding: .utf8)
        for name in names { XCTAssertTrue(page.contains("<td>\(name)</td>"), "\(name) in the metrics table") }
        XCTAssertTrue(page.contains("true Ankle boot, predicted Sneaker: "), "the heatmap's cells are named")
        XCTAssertTrue(page.contains("<dd>1 rank x "), "the world of a 1-rank run")
    }

    struct Compared: Decodable { let compared: Int, largest_difference: Double, classes: Int }

    /// evaluate --json's precision, recall, F1, support, averages, accuracy and Cohen's kappa against scikit-learn's
    /// classification_report and cohen_kappa_score of predict's predictions, for a briefly trained model (so that
    /// every class has mistakes).
    func testEvaluateMetricsAreScikitLearns() throws {
        let python = try clientsPython()
        let model = path("mlp.safetensors.zst")
        let fit = try run(["fit", "--model", "mlp", "--data", dataDirectory, "--epochs", "1", "--train-samples", "500",
                           "--output", model, "--quiet"])
        XCTAssertEqual(fit.status, 0, fit.error)
        let evaluated = try run(["evaluate", model, "--data", dataDirectory, "--json"])
        XCTAssertEqual(evaluated.status, 0, evaluated.error)
        try evaluated.output.write(toFile: path("evaluation.json"), atomically: true, encoding: .utf8)
        let images = (dataDirectory as NSString).appendingPathComponent("t10k-images-idx3-ubyte")
        let labels = (dataDirectory as NSString).appendingPathComponent("t10k-labels-idx1-ubyte")
        let exists = { FileManager.default.fileExists(atPath: $0) }
        let predicted = try run(["predict", model, "--image", exists(images) ? images : images + ".gz", "--json"])
        XCTAssertEqual(predicted.status, 0, predicted.error)
        try predicted.output.write(toFile: path("predictions.json"), atomically: true, encoding: .utf8)
        let checker = Self.repository.appendingPathComponent("Tests/CommandLineTests/check_metrics.py").path
        let checked = try launch([python, checker, path("evaluation.json"), path("predictions.json"),
                                  exists(labels) ? labels : labels + ".gz"], timeout: 300)
        XCTAssertEqual(checked.status, 0, checked.error)
        let result = try JSONDecoder().decode(Compared.self, from: Data(checked.output.utf8))
        XCTAssertEqual(result.classes, 10)
        XCTAssertEqual(result.compared, 10 * 4 + 2 * 4 + 2)
        XCTAssertLessThanOrEqual(result.largest_difference, 1e-9)
        let table = try run(["evaluate", model, "--data", dataDirectory])
        XCTAssertTrue(table.output.contains("precision  recall  f1-score  support") && table.output.contains("Cohen's kappa 0."),
                      table.output)
    }

    func testALogCutShortOrAnotherRunsModelIsOneLine() throws {
        let (log, model) = try resumedRun()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let cut = path("cut.jsonl")
        try (lines.dropLast().joined(separator: "\n") + "\n" + lines.last!.prefix(30)).write(toFile: cut, atomically: true, encoding: .utf8)
        let truncated = try run(["report", cut, model, "-o", path("cut.html"), "--data", dataDirectory])
        XCTAssertNotEqual(truncated.status, 0)
        XCTAssertEqual(truncated.error, "Error: \(cut): line \(lines.count) is not a whole JSON record (the log was cut short); "
                       + "give the log fit wrote, or delete that line\n")
        let other = path("mlp.safetensors.zst")
        let fit = try run(["fit", "--model", "mlp", "--data", dataDirectory, "--epochs", "1", "--train-samples", "300",
                           "--output", other, "--quiet"])
        XCTAssertEqual(fit.status, 0, fit.error)
        let mismatched = try run(["report", log, other, "-o", path("other.html"), "--data", dataDirectory])
        XCTAssertNotEqual(mismatched.status, 0)
        XCTAssertEqual(mismatched.error, "Error: \(other) holds mlp, but \(log)'s run trained mlp-bn: give the model that run saved\n")
        // The same model trained again: the name matches, the history does not.
        let again = path("again.safetensors.zst")
        let refit = try run(["fit", "--model", "mlp-bn", "--data", dataDirectory, "--epochs", "2", "--train-samples", "3000",
                             "--seed", "7", "--output", again, "--quiet"])
        XCTAssertEqual(refit.status, 0, refit.error)
        let retrained = try run(["report", log, again, "-o", path("again.html"), "--data", dataDirectory])
        XCTAssertNotEqual(retrained.status, 0)
        XCTAssertTrue(retrained.error.hasPrefix("Error: \(again) is not the model of \(log)'s run: its epoch 1 training loss is "),
                      retrained.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("cut.html")) || FileManager.default.fileExists(atPath: path("again.html")))
    }
}
