import Foundation
import InputChecks

/// A Chrome trace (the Trace Event Format that Perfetto and chrome://tracing open) in its JSON array form: one
/// process row per rank, one thread row per lane, complete ("X") events for spans.
///
/// The array is left open while the run goes on and closed by `finish()`: both viewers read an array whose `]` is
/// missing, so a run that crashes keeps a trace of everything written before. A resumed run continues the same
/// file after its last whole event.
///
/// Timestamps count from the trace's start, which its first event, a global instant "trace start", gives as Unix
/// time: the viewers read timestamps as doubles of microseconds, which keep nanoseconds only for about 100 days.
public final class ChromeTraceFile {
    public let path: String
    /// Unix time, in nanoseconds, of the trace's timestamp 0.
    public let origin: UInt64
    private let descriptor: Int32
    private var pending: [UInt8] = []
    /// Whether an event precedes the next, which then needs a comma.
    private var hasEvents = false
    private var failed = false

    /// Bytes read back from the end of a trace to find where it stops: they need to hold its last event, a line of a
    /// few hundred bytes.
    static let tailLimit = 1 << 16

    /// A new trace at `path` starting `now` (Unix nanoseconds), replacing an earlier trace of this writer there; or
    /// with `continuing`, the trace already there continued (a new one if there is none). A file there that is not
    /// a trace this writer made is refused, not overwritten: `--timeline` may name the wrong file.
    public init(path: String, continuing: Bool, now: UInt64) throws {
        self.path = path
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else {
            throw InputError("cannot open --timeline \(path): \(String(cString: strerror(errno))); name a file to write "
                             + "the trace to")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw InputError("--timeline \(path) is not a regular file; name a file to write the trace to")
        }
        do {
            (origin, hasEvents) = try Self.prepare(descriptor, size: Int(status.st_size), path: path, continuing: continuing,
                                                   now: now)
        } catch {
            close(descriptor)
            throw error
        }
        if !hasEvents {
            pending = Array("[".utf8)
            event(#"{"name":"trace start","ph":"i","s":"g","pid":0,"tid":0,"ts":0.000,"args":{"unix_time_ns":\#(origin)}}"#)
        }
        lseek(descriptor, 0, SEEK_END)
        flush()
    }

    /// Empties the file for a new trace, or cuts a trace to continue to where it can go on; returns the trace's
    /// origin and whether it already holds events.
    private static func prepare(_ descriptor: Int32, size: Int, path: String, continuing: Bool,
                                now: UInt64) throws -> (origin: UInt64, hasEvents: Bool) {
        guard size > 0 else { return (now, false) }
        guard let origin = origin(inHead: try read(descriptor, at: 0, count: min(size, 512), path: path)) else {
            throw InputError("--timeline \(path) exists and is not a trace written by mnist-train; name a new file, or "
                             + "remove it")
        }
        guard continuing else {
            guard ftruncate(descriptor, 0) == 0 else {
                throw InputError("cannot rewrite --timeline \(path): \(String(cString: strerror(errno))); name a file that can "
                                 + "be written")
            }
            return (now, false)
        }
        let start = max(0, size - tailLimit)
        let end = try continuationPoint(read(descriptor, at: start, count: size - start, path: path), path: path)
        guard ftruncate(descriptor, off_t(start + end)) == 0 else {
            throw InputError("cannot continue --timeline \(path): \(String(cString: strerror(errno))); name a new file, or "
                             + "make this one writable")
        }
        return (origin, true)
    }

    deinit {
        flush()
        close(descriptor)
    }

    /// Where to cut the end of a trace to append to it: after its last whole event. A `]` goes, and so does an
    /// event cut short by a crash: every event is a line of its own, written as `,\n{...}`, and the last line is
    /// kept only if it parses as a JSON object.
    static func continuationPoint(_ tail: [UInt8], path: String) throws -> Int {
        let damaged = InputError("--timeline \(path) does not end as a trace written by mnist-train; name a new file, or "
                                 + "remove it")
        var end = tail.count
        while end > 0, isSpace(tail[end - 1]) { end -= 1 }
        // A closed trace's bracket, or the comma of an event whose write never began.
        if end > 0, tail[end - 1] == UInt8(ascii: "]") || tail[end - 1] == UInt8(ascii: ",") {
            end -= 1
            while end > 0, isSpace(tail[end - 1]) { end -= 1 }
        }
        guard let newline = tail[..<end].lastIndex(of: 0x0A) else { throw damaged }
        if (try? JSONSerialization.jsonObject(with: Data(tail[(newline + 1)..<end]))) is [String: Any] { return end }
        // Cut before the comma and newline that lead the damaged event; what precedes was written whole before it.
        let cut = newline > 0 && tail[newline - 1] == UInt8(ascii: ",") ? newline - 1 : newline
        guard cut > 0, tail[cut - 1] == UInt8(ascii: "}") else { throw damaged }
        return cut
    }

    /// The Unix time of timestamp 0 that the "trace start" event at the head of a trace gives, if it is there.
    static func origin(inHead head: [UInt8]) -> UInt64? {
        let text = String(decoding: head, as: UTF8.self)
        guard text.drop(while: \.isWhitespace).hasPrefix("["),
              let match = text.firstMatch(of: /"name":"trace start".*?"unix_time_ns":(\d{1,20})/) else { return nil }
        return UInt64(match.1)
    }

    /// A global instant: a line across every row at `time` (Unix nanoseconds), such as where a resumed run began.
    public func instant(_ name: String, at time: UInt64) {
        event(#"{"name":\#(Self.quoted(name)),"ph":"i","s":"g","pid":0,"tid":0,"ts":\#(Self.microseconds(Int64(bitPattern: time &- origin)))}"#)
    }

    /// Names rank `pid`'s row and keeps the rows in rank order.
    public func nameProcess(_ pid: Int, _ name: String) {
        event(#"{"name":"process_name","ph":"M","pid":\#(pid),"args":{"name":\#(Self.quoted(name))}}"#)
        event(#"{"name":"process_sort_index","ph":"M","pid":\#(pid),"args":{"sort_index":\#(pid)}}"#)
    }

    public func nameThread(pid: Int, tid: Int, _ name: String) {
        event(#"{"name":"thread_name","ph":"M","pid":\#(pid),"tid":\#(tid),"args":{"name":\#(Self.quoted(name))}}"#)
        event(#"{"name":"thread_sort_index","ph":"M","pid":\#(pid),"tid":\#(tid),"args":{"sort_index":\#(tid)}}"#)
    }

    /// A span of rank `pid` starting at `start` (Unix nanoseconds).
    public func span(_ span: Span, pid: Int, start: UInt64) {
        let duration = Int64(bitPattern: span.end &- span.start)
        let timestamp = Int64(bitPattern: start &- origin)
        event(#"{"name":"\#(span.kind.name)","ph":"X","pid":\#(pid),"tid":\#(span.lane),"ts":\#(Self.microseconds(timestamp)),"#
              + #""dur":\#(Self.microseconds(duration)),"args":{"step":\#(span.step)}}"#)
    }

    /// Writes what was recorded since the last flush. A trace that cannot be written costs one warning, never
    /// the training.
    public func flush() {
        defer { pending.removeAll(keepingCapacity: true) }
        guard !failed, !pending.isEmpty, !writeFully(descriptor, pending) else { return }
        failed = true
        FileHandle.standardError.write(Data(("warning: cannot write to --timeline \(path) ("
            + "\(String(cString: strerror(errno)))); training goes on without it\n").utf8))
    }

    /// Closes the array: the file is then strict JSON. A resumed run may still continue it.
    public func finish() {
        pending += Array("\n]\n".utf8)
        flush()
    }

    private func event(_ json: String) {
        if hasEvents { pending += Array(",\n".utf8) } else { pending += Array("\n".utf8) }
        pending += Array(json.utf8)
        hasEvents = true
    }

    /// Nanoseconds as microseconds with three decimals, exactly (the format's unit is the microsecond).
    static func microseconds(_ nanoseconds: Int64) -> String {
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        let fraction = String(magnitude % 1000)
        return "\(sign)\(magnitude / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 }

    private static func read(_ descriptor: Int32, at offset: Int, count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let why = n == 0 ? "it shrank while being read" : String(cString: strerror(errno))
                throw InputError("cannot read --timeline \(path): \(why); name a new file, or remove it")
            }
            done += n
        }
        return bytes
    }
}
