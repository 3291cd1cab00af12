import Foundation
import InputChecks
import SwiftProtobuf

/// One TensorBoard event file, `DIR/events.out.tfevents.<time>.<host>.<pid>`: TFRecord-framed `Event` protobufs,
/// the first naming the format version, as TensorFlow's summary writers make them. Records are buffered and
/// written at each `flush`. A file that cannot be written costs one warning, never the training.
public final class EventFileWriter {
    public let path: String
    private let descriptor: Int32
    private var pending: [UInt8] = []
    private var failed = false

    /// Creates `directory` (and its parents) if needed and a new event file in it, named after `host`.
    public init(directory: String, host: String, now: Date = Date()) throws {
        // mkdir -p by hand: Foundation's error for a file in the way names no cause ("error 512").
        var made = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            made += "/" + component
            if mkdir(made, 0o755) != 0, errno != EEXIST {
                throw InputError("cannot create the TensorBoard directory \(made): \(String(cString: strerror(errno))); "
                                 + "--tensorboard must name a directory that can be made or written")
            }
        }
        var status = stat()
        guard stat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw InputError("\(directory) is not a directory; --tensorboard must name a directory that can be made or written")
        }
        // The host goes into a file name: anything but letters, digits and '-' becomes '_'.
        let hostname = host.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        path = directory + "/events.out.tfevents.\(Int(now.timeIntervalSince1970)).\(String(hostname)).\(getpid())"
        descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw InputError("cannot create the TensorBoard event file \(path): \(String(cString: strerror(errno)))")
        }
        var version = Tensorboard_Event()
        version.wallTime = now.timeIntervalSince1970
        version.fileVersion = "brain.Event:2"
        append(version)
        flush()
    }

    deinit {
        flush()
        close(descriptor)
    }

    public func scalar(_ tag: String, _ value: Double, step: Int) {
        var entry = Tensorboard_Summary.Value()
        entry.tag = tag
        entry.simpleValue = Float(value)
        append(entry, step: step)
    }

    /// A histogram of the finite values (TensorFlow's default buckets).
    public func histogram(_ tag: String, _ values: some Sequence<Float>, step: Int) {
        var entry = Tensorboard_Summary.Value()
        entry.tag = tag
        entry.histo = Histogram(values).proto
        append(entry, step: step)
    }

    /// A greyscale PNG, as TensorFlow 1's image summary (which TensorBoard converts for its image dashboard; a
    /// description there would stop that conversion).
    public func image(_ tag: String, png: [UInt8], width: Int, height: Int, step: Int) {
        var image = Tensorboard_Summary.Image()
        (image.width, image.height, image.colorspace) = (Int32(width), Int32(height), 1)
        image.encodedImageString = Data(png)
        var entry = Tensorboard_Summary.Value()
        entry.tag = tag
        entry.image = image
        append(entry, step: step)
    }

    /// Markdown for the text dashboard: a string tensor tagged for the "text" plugin.
    public func text(_ tag: String, _ markdown: String, step: Int) {
        var tensor = Tensorboard_TensorProto()
        tensor.dtype = .dtString
        tensor.tensorShape = Tensorboard_TensorShapeProto()
        tensor.stringVal = [Data(markdown.utf8)]
        var entry = Tensorboard_Summary.Value()
        entry.tag = tag
        entry.metadata.pluginData.pluginName = "text"
        entry.tensor = tensor
        append(entry, step: step)
    }

    private func append(_ value: Tensorboard_Summary.Value, step: Int) {
        var event = Tensorboard_Event()
        event.wallTime = Date().timeIntervalSince1970
        event.step = Int64(step)
        event.summary.value = [value]
        append(event)
    }

    private func append(_ event: Tensorboard_Event) {
        // Serializing a message built here cannot fail: every field it sets is valid.
        guard let bytes: [UInt8] = try? event.serializedBytes() else { return }
        pending += TFRecord.frame(bytes)
    }

    /// Writes what was recorded since the last flush.
    public func flush() {
        defer { pending.removeAll(keepingCapacity: true) }
        guard !failed, !pending.isEmpty, !writeFully(descriptor, pending) else { return }
        failed = true
        FileHandle.standardError.write(Data(("warning: cannot write to the TensorBoard file \(path) ("
            + "\(String(cString: strerror(errno)))); training goes on without it\n").utf8))
    }
}

/// The event files of a run directory, for a resumed run: it keeps what `keep(tag, step)` accepts and drops the
/// rest (the steps after the checkpoint it resumes from, which it will write again), so that no step is there
/// twice. A file is rewritten, atomically, only when something goes.
public enum EventFiles {
    /// Largest event file read back: TensorBoard's own files of a long run stay far below.
    public static let readLimit = 1 << 30

    /// Returns a warning for each file that was damaged (its records after the damage are dropped too).
    public static func keep(inDirectory directory: String, where keep: (_ tag: String, _ step: Int) -> Bool) throws -> [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasPrefix("events.out.tfevents.") }.sorted()
        var warnings: [String] = []
        for name in names {
            let path = directory + "/" + name
            let (records, intact) = TFRecord.records(in: try RegularFile.contents(path, limit: readLimit, what: "TensorBoard event file"))
            var kept: [[UInt8]] = []
            var damaged = !intact, dropped = !intact
            for record in records {
                guard var event = try? Tensorboard_Event(serializedBytes: record) else {
                    (damaged, dropped) = (true, true)
                    continue
                }
                let step = Int(event.step)
                guard event.summary.value.contains(where: { !keep($0.tag, step) }) else {
                    kept.append(record)
                    continue
                }
                dropped = true
                event.summary.value.removeAll { !keep($0.tag, step) }
                if !event.summary.value.isEmpty, let bytes: [UInt8] = try? event.serializedBytes() { kept.append(bytes) }
            }
            if damaged {
                warnings.append("the TensorBoard file \(path) is damaged: kept the \(kept.count) records that could be "
                                + "read and belong before the resumed step")
            }
            if dropped { try AtomicFile.write(kept.flatMap(TFRecord.frame), to: path) }
        }
        return warnings
    }
}
