import CKernels
import Engine
import Foundation

/// Images and labels held once in memory as bytes; batches are made as Float32 NHWC tensors, pixel / 255.
public struct Dataset: Sendable {
    public let images: [UInt8]
    public let labels: [UInt8]
    public let count: Int
    public let rows: Int
    public let columns: Int
    public let channels: Int
    /// One image's tensor shape: rows, columns, channels.
    public let sampleShape: [Int]
    /// Bytes of one image.
    public var pixelsPerSample: Int { rows * columns * channels }
    /// The classes the labels need: the largest label + 1 (labels are bytes, so at most 256).
    public var classesInLabels: Int { Int(labels.max() ?? 0) + 1 }

    public init(images: [UInt8], labels: [UInt8], rows: Int, columns: Int, channels: Int = 1) {
        precondition(images.count == labels.count * rows * columns * channels, "Dataset: images and labels disagree in count")
        self.images = images
        self.labels = labels
        self.count = labels.count
        self.rows = rows
        self.columns = columns
        self.channels = channels
        sampleShape = [rows, columns, channels]
    }

    /// Loads and validates one images/labels pair of IDX files: images N x rows x columns (grey) or N x rows x
    /// columns x channels. `hint` ends a bad file's error with what to do.
    public init(imagesPath: String, labelsPath: String, hint: String = IDXFile.dataFileHint) throws {
        let images = try IDXFile(contentsOf: imagesPath, magics: [IDXFile.imagesMagic, IDXFile.imagesWithChannelsMagic],
                                 hint: hint)
        let labels = try IDXFile(contentsOf: labelsPath, magic: IDXFile.labelsMagic, hint: hint)
        guard images.dimensions[0] > 0 else { throw DataError("\(imagesPath) holds no images; \(hint)") }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw DataError("\(imagesPath) holds \(images.dimensions[0]) images but \(labelsPath) holds "
                                + "\(labels.dimensions[0]) labels; use files from the same set")
        }
        self.init(images: images.bytes, labels: labels.bytes, rows: images.dimensions[1], columns: images.dimensions[2],
                  channels: images.dimensions.count == 4 ? images.dimensions[3] : 1)
    }

    /// Samples `range` as a new dataset (e.g. a validation split).
    public func subset(_ range: Range<Int>) -> Dataset {
        let pixels = pixelsPerSample
        return Dataset(images: Array(images[range.lowerBound * pixels..<range.upperBound * pixels]),
                       labels: Array(labels[range]), rows: rows, columns: columns, channels: channels)
    }

    /// The samples at `indices` as (images (N, rows, columns, channels) scaled to [0, 1], labels (N) as class
    /// indices).
    public func batch<C: Collection>(_ indices: C) -> (images: Tensor, labels: Tensor) where C.Element == Int {
        (Tensor(batch: indices.count, sampleShape: sampleShape) { writeImages(indices, into: $0) },
         Tensor(batch: indices.count, sampleShape: []) { writeLabels(indices, into: $0) })
    }

    /// The images at `indices`, one after another, scaled to [0, 1]: byte / 255 correctly rounded, as Keras'
    /// `x / 255.0` (multiplying by a rounded 1/255 is an ulp off). Inlinable, so that it is specialized for the
    /// caller's collection: unspecialized, iterating it allocates.
    @inlinable
    public func writeImages<C: Collection>(_ indices: C, into target: UnsafeMutablePointer<Float>) where C.Element == Int {
        let pixels = pixelsPerSample
        // Every index is checked once per sample; the pixel loop then runs on buffers, without a check per pixel.
        images.withUnsafeBufferPointer { source in
            var row = 0, index = indices.startIndex
            while index != indices.endIndex {
                let sample = indices[index]
                precondition(sample >= 0 && sample < count, "Dataset: sample \(sample) of \(count)")
                indices.formIndex(after: &index)
                let next = index == indices.endIndex ? nil : indices[index]
                ckernels_scale_bytes(source.baseAddress! + sample * pixels, target + row * pixels, pixels,
                                     next.flatMap { $0 >= 0 && $0 < count ? source.baseAddress! + $0 * pixels : nil }, pixels)
                row += 1
            }
        }
    }

    /// The labels at `indices` as class indices.
    @inlinable
    public func writeLabels<C: Collection>(_ indices: C, into target: UnsafeMutablePointer<Float>) where C.Element == Int {
        for (row, index) in indices.enumerated() {
            precondition(index >= 0 && index < count, "Dataset: sample \(index) of \(count)")
            target[row] = Float(labels[index])
        }
    }
}

/// The four files of MNIST (or of any dataset in the same IDX form) in one directory.
public struct MNISTFiles: Sendable {
    public static let names = (
        trainImages: "train-images-idx3-ubyte", trainLabels: "train-labels-idx1-ubyte",
        testImages: "t10k-images-idx3-ubyte", testLabels: "t10k-labels-idx1-ubyte"
    )
    public static var allNames: [String] {
        [names.trainImages, names.trainLabels, names.testImages, names.testLabels]
    }

    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `$MNIST_DIR`, else the per-user cache (`cacheDirectory`).
    public static var defaultDirectory: String {
        let directory = ProcessInfo.processInfo.environment["MNIST_DIR"] ?? ""
        return directory.isEmpty ? cacheDirectory : directory
    }

    /// Where `mnist-train download` puts MNIST by default: `$XDG_CACHE_HOME/mnist-train/mnist` or
    /// `~/.cache/mnist-train/mnist`.
    public static var cacheDirectory: String {
        let cache = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        return ((cache as NSString).appendingPathComponent("mnist-train") as NSString).appendingPathComponent("mnist")
    }

    /// True for the MNIST cache, however the path is written: only there did the files come from the download.
    var isCache: Bool {
        URL(fileURLWithPath: directory).standardizedFileURL.path == URL(fileURLWithPath: Self.cacheDirectory).standardizedFileURL.path
    }

    /// The path of `name` in the directory: the raw file if present, else `name.gz`.
    public func path(_ name: String) -> String {
        let raw = (directory as NSString).appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: raw) { return raw }
        let compressed = raw + ".gz"
        return FileManager.default.fileExists(atPath: compressed) ? compressed : raw
    }

    public var isComplete: Bool {
        MNISTFiles.allNames.allSatisfy { FileManager.default.fileExists(atPath: path($0)) }
    }

    public func loadTraining() throws -> Dataset {
        try checkDirectory()
        return try Dataset(imagesPath: path(MNISTFiles.names.trainImages), labelsPath: path(MNISTFiles.names.trainLabels),
                           hint: hint)
    }

    public func loadTest() throws -> Dataset {
        try checkDirectory()
        return try Dataset(imagesPath: path(MNISTFiles.names.testImages), labelsPath: path(MNISTFiles.names.testLabels),
                           hint: hint)
    }

    /// What to do about a bad file here. Downloading again helps only where the files came from the download: the
    /// MNIST cache. Elsewhere the files may be any IDX set.
    var hint: String {
        isCache
            ? "download it again (mnist-train download --data \(directory)) or point --data at a directory with valid files"
            : "replace it with a valid IDX file, or point --data at a directory of valid files"
    }

    private func checkDirectory() throws {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
        if exists && !isDirectory.boolValue {
            throw DataError("--data \(directory) is a file; give the directory that holds the four IDX files")
        }
        let missing = MNISTFiles.allNames.filter { !FileManager.default.fileExists(atPath: path($0)) }
        let holding = "a directory holding \(MNISTFiles.allNames.joined(separator: ", ")) (.gz or raw)"
        // A directory of some other set that lacks a file is not to be filled with MNIST.
        if exists, !missing.isEmpty, !isCache {
            throw DataError("\(directory) lacks \(missing.joined(separator: ", ")): point --data (or MNIST_DIR) at \(holding)")
        }
        guard exists, missing.isEmpty else {
            throw DataError("no MNIST data in \(directory)" + (exists ? " (it lacks \(missing.joined(separator: ", ")))" : "")
                                + ": run `mnist-train download --data \(directory)`, or point --data (or MNIST_DIR) at \(holding)")
        }
    }
}
