#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A file or value from outside that cannot be used: one line naming it, what is wrong and, where it helps,
/// what to do.
public struct InputError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The most any file may make mnist-train allocate. Each reader checks its sizes against these before it
/// allocates, so that a hostile file costs an error, not the machine's memory.
public enum InputLimits {
    /// safetensors' own cap on its JSON header (huggingface/safetensors refuses larger ones).
    public static let safetensorsHeaderBytes = 100_000_000
    /// A checkpoint or saved model, compressed or not. The largest preset's checkpoint (cnn-bn with its
    /// optimizer slots and the early-stopping copy) is under 40 MB; this leaves room for models ten times
    /// larger.
    public static let checkpointBytes = 512 << 20
    /// The image or label bytes of one IDX file: EMNIST's largest split holds about 550 MB.
    public static let idxDataBytes = 1 << 30
    /// Rows and columns of an image (IDX or PGM).
    public static let imageSide = 4096
    /// Channels of an image: grey, RGB and RGBA sets need at most 4; a multispectral set a few dozen.
    public static let imageChannels = 64
    /// Weights of a model, trainable and not (80 MB as float32, about 400 MB in training with gradients, Adam's
    /// two slots and early stopping's copy); cnn-bn, the largest preset, has 2.2 million.
    public static let modelParameters = 20_000_000
    /// Values one sample's activations may take in any one layer (16 MB as float32; a batch multiplies it).
    /// The presets' largest layer holds 21,632.
    public static let activationsPerSample = 4_000_000
    /// Values of one sample's im2col columns in a convolution (output pixels x kernel area x input channels),
    /// 64 MB as float32: a 4096-wide kernel with same padding passes the parameter and activation caps yet asks
    /// for tens of gigabytes here. The presets' largest take 51,200.
    public static let convolutionColumnsPerSample = 16_000_000
    /// A model definition's layers.
    public static let layers = 1000
}

/// The product of sizes read from input, or nil when one is negative, the product overflows, or it exceeds
/// `limit`: a wrapped product must never pass as a small one.
public func checkedProduct(_ factors: [Int], limit: Int) -> Int? {
    var product = 1
    for factor in factors {
        guard factor >= 0 else { return nil }
        let (next, overflow) = product.multipliedReportingOverflow(by: factor)
        guard !overflow, next <= limit else { return nil }
        product = next
    }
    return product
}

/// Files read from outside: regular files only (a FIFO would block forever, a device never end), and never more
/// bytes than a stated limit.
public enum RegularFile {
    /// Opens `path` for reading if it is a regular file (symbolic links are followed to one); returns the
    /// descriptor, which the caller closes, and the size. Opening does not block on a FIFO.
    public static func opened(_ path: String, what: String = "") throws -> (descriptor: Int32, size: Int) {
        let name = what.isEmpty ? path : what
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let error = errno
            throw InputError(error == ENOENT ? "\(name) does not exist" : "\(name) cannot be opened: \(String(cString: strerror(error)))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw InputError("\(name) cannot be read: \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            let kind = status.st_mode & S_IFMT == S_IFDIR ? "a directory" : "not a regular file (a device, FIFO or socket)"
            throw InputError("\(name) is \(kind); give a file")
        }
        // Back to blocking reads, as for any regular file.
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        return (descriptor, Int(status.st_size))
    }

    /// The whole file, if it is regular and at most `limit` bytes.
    public static func contents(_ path: String, limit: Int, what: String = "") throws -> [UInt8] {
        let name = what.isEmpty ? path : what
        let (descriptor, size) = try opened(path, what: what)
        defer { close(descriptor) }
        guard size <= limit else {
            throw InputError("\(name) is \(size) bytes, more than the \(limit) a file of its kind may hold")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let n = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + offset, size - offset) }
            guard n > 0 else {
                if n < 0 && errno == EINTR { continue }
                throw InputError("\(name) cannot be read: " + (n == 0 ? "it shrank while being read" : String(cString: strerror(errno))))
            }
            offset += n
        }
        return bytes
    }
}

/// False for what a terminal may act on rather than show: C0 and C1 controls (escapes among them), DEL, and format
/// characters (bidirectional overrides, a byte-order mark).
public func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
    !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.properties.generalCategory == .format)
}

/// Text taken from a file, made safe to print: control characters (terminal escapes among them) shown as
/// `\u{..}`, and cut to `limit` characters so a 10 MB string cannot flood a one-line error.
public func shown(_ text: some StringProtocol, limit: Int = 80) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if out.count >= limit { return out + "…" }
        if !isPrintable(scalar) {
            out += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// The first key that appears twice in one object of the JSON text `bytes`, or nil. JSON parsers keep one of
/// the two silently; a file that says two things under one name (two tensors called "dense/kernel", two
/// "units" in a layer) is refused instead. The text is only scanned (strings and nesting); whether it is valid
/// JSON is the parser's question.
public func duplicateJSONKey(_ bytes: some Collection<UInt8>) -> String? {
    var objects: [Set<[UInt8]>?] = []  // per open bracket: the keys seen so far, nil for an array
    var expectingKey = false
    var iterator = bytes.makeIterator()
    while let byte = iterator.next() {
        switch byte {
        case UInt8(ascii: "{"):
            objects.append([])
            expectingKey = true
        case UInt8(ascii: "["):
            objects.append(nil)
            expectingKey = false
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            _ = objects.popLast()
            expectingKey = false
        case UInt8(ascii: ","):
            expectingKey = objects.last.map { $0 != nil } ?? false
        case UInt8(ascii: "\""):
            // The raw bytes between the quotes, escapes kept as written: equal keys written alike compare equal.
            var string: [UInt8] = []
            var escaped = false
            while let next = iterator.next() {
                if escaped { escaped = false } else if next == UInt8(ascii: "\\") { escaped = true } else if next == UInt8(ascii: "\"") { break }
                string.append(next)
            }
            if expectingKey, let last = objects.indices.last, objects[last] != nil {
                // In place: copying the set for each key would make a header of a million keys take hours.
                if !objects[last]!.insert(string).inserted { return String(decoding: string, as: UTF8.self) }
                expectingKey = false
            }
        default:
            break
        }
    }
    return nil
}
