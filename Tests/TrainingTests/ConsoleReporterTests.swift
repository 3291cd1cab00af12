@testable import Training
import XCTest

/// The progress bar on terminals of every width, and the lines around it.
final class ConsoleReporterTests: XCTestCase {
    let figures = ["ETA: 12s", "loss: 0.1234", "accuracy: 0.9876"]

    func testBarNeverFillsOrWrapsTheTerminal() {
        for columns in 1...200 {
            for step in [0, 1, 937, 1875] {
                let line = ConsoleReporter.barLine(step: step, of: 1875, figures: figures, columns: columns)
                XCTAssertLessThanOrEqual(line.count, max(0, columns - 1), "\(columns) columns, step \(step): \(line)")
            }
        }
    }

    func testBarShrinksBeforeFiguresAreDropped() {
        let wide = ConsoleReporter.barLine(step: 1875, of: 1875, figures: figures, columns: 200)
        XCTAssertEqual(wide, "1875/1875 [" + String(repeating: "=", count: 30) + "] - ETA: 12s - loss: 0.1234 - accuracy: 0.9876")
        // 80 columns: all three figures still fit beside a shorter bar.
        let standard = ConsoleReporter.barLine(step: 937, of: 1875, figures: figures, columns: 80)
        XCTAssertTrue(standard.hasSuffix(" - ETA: 12s - loss: 0.1234 - accuracy: 0.9876"), standard)
        XCTAssertTrue(standard.hasPrefix(" 937/1875 [=="), standard)
        // 50 columns: the accuracy goes, the bar keeps at least 10 cells.
        let narrow = ConsoleReporter.barLine(step: 937, of: 1875, figures: figures, columns: 50)
        XCTAssertFalse(narrow.contains("accuracy"), narrow)
        XCTAssertTrue(narrow.contains("loss: 0.1234"), narrow)
        XCTAssertNotNil(narrow.firstMatch(of: /\[[=>.]{10,}\]/), narrow)
    }

    func epochRecord() -> EpochRecord {
        EpochRecord(epoch: 1, loss: 0.5, accuracy: 0.9, seconds: 2, samplesPerSecond: 100, learningRate: 0.1,
                    samplesSeen: 200)
    }

    func testNoteAfterTheBarStartsOnItsOwnLine() {
        var written = ""
        let console = ConsoleReporter(isTerminal: true, columns: 80) { written += $0 }
        console.epochBegan(1, of: 2, steps: 10)
        console.stepEnded(StepProgress(epoch: 1, step: 3, steps: 10, globalStep: 3, loss: 1, accuracy: 0.5, elapsed: 1, samplesSeen: 96,
                                       learningRate: 0.1))
        console.note("Checkpoint saved: ckpt")
        XCTAssertTrue(written.hasSuffix("\u{1B}[K\nCheckpoint saved: ckpt\n"), written.debugDescription)
        // The epoch's line keeps the step count, as Keras' does.
        console.epochEnded(epochRecord())
        XCTAssertTrue(written.hasSuffix("\r\u{1B}[K10/10 - 2.0s - 100 samples/s - loss: 0.5000 - accuracy: 0.9000\n"),
                      written.debugDescription)
    }

    func testWithoutATerminalEachEpochIsOneLineWithTheEpochCount() {
        var written = ""
        let console = ConsoleReporter(isTerminal: false, columns: 80) { written += $0 }
        console.epochBegan(1, of: 2, steps: 10)
        console.stepEnded(StepProgress(epoch: 1, step: 3, steps: 10, globalStep: 3, loss: 1, accuracy: 0.5, elapsed: 1, samplesSeen: 96,
                                       learningRate: 0.1))
        console.epochEnded(epochRecord())
        XCTAssertEqual(written, "Epoch 1/2 - 2.0s - 100 samples/s - loss: 0.5000 - accuracy: 0.9000\n")
    }
}
