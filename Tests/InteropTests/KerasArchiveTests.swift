import Engine
import Foundation
@testable import Interop
import XCTest
import ZIPFoundation

/// `.keras` archives: Keras' own (Keras/make_keras_fixtures.py saved them) read with their compile settings, and
/// hostile zips refused before or while inflating, each with one line naming the file.
final class KerasArchiveTests: XCTestCase {
    var directory: String!

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "keras-archive-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func fixture(_ name: String) -> String { KerasJSONTests.fixtures.appendingPathComponent(name).path }

    func testKerasOwnArchiveReadsItsModelCompileSettingsAndWeights() throws {
        let path = fixture("keras3/custom.keras")
        XCTAssertTrue(KerasArchive.isArchive(path))
        XCTAssertFalse(KerasArchive.isArchive(fixture("keras3/custom.json")))
        let archive = try KerasArchive(path)
        let json = try KerasJSON.definition(try Data(contentsOf: URL(fileURLWithPath: fixture("keras3/custom.json"))))
        XCTAssertEqual(try archive.definition(), json)
        XCTAssertEqual(try KerasCompileSettings.read(archive.config, path: path),
                       KerasCompileSettings(optimizer: "sgd", learningRate: 0.05, momentum: 0.9, nesterov: true,
                                            loss: .sparseCategoricalCrossentropy))
        XCTAssertEqual(try archive.weights().map { Array($0.prefix(8)) }, [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A], "HDF5")
    }

    func testAnOptimizerTheEngineLacksIsRefused() throws {
        let path = fixture("refused/adamw.keras")
        XCTAssertThrowsError(try KerasCompileSettings.read(try KerasArchive(path).config, path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): optimizer AdamW is not supported: the engine has SGD, Adam and RMSprop; give "
                           + "--optimizer")
        }
    }

    /// export --keras writes the training settings as Keras' compile_config: this reader takes them back as they
    /// were, for each optimizer, and an uncompiled export has none.
    func testExportedCompileSettingsReadBack() throws {
        let model = try Preset.mlp.definition().makeModel()
        let settings = [
            KerasCompileSettings(optimizer: "sgd", learningRate: 0.05, momentum: 0.9, nesterov: true, loss: .sparseCategoricalCrossentropy),
            KerasCompileSettings(optimizer: "adam", learningRate: 0.002, momentum: 0, nesterov: false, loss: .categoricalCrossentropy),
            KerasCompileSettings(optimizer: "rmsprop", learningRate: 0.001, momentum: 0.5, nesterov: false, loss: .meanSquaredError),
        ]
        for compile in settings + [nil] {
            let path = directory + "/\(compile?.optimizer ?? "uncompiled").keras"
            try KerasExport.write(model, compile: compile, to: path)
            var read = try KerasCompileSettings.read(try KerasArchive(path).config, path: path)
            // Keras keeps no momentum or Nesterov flag for Adam, nor a Nesterov flag for RMSprop.
            if compile?.optimizer == "adam" { read?.momentum = 0; read?.nesterov = false }
            if compile?.optimizer == "rmsprop" { read?.nesterov = false }
            XCTAssertEqual(read, compile, compile?.optimizer ?? "uncompiled")
        }
    }

    func zip(_ entries: [(String, [UInt8])], name: String) throws -> String {
        let path = directory + "/" + name
        let archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .create)
        for (entry, bytes) in entries {
            try archive.addEntry(with: entry, type: .file, uncompressedSize: Int64(bytes.count), compressionMethod: .deflate) { position, size in
                Data(bytes[Int(position)..<Int(position) + size])
            }
        }
        return path
    }

    /// Bytes erased anywhere in Keras' own archive, or the archive cut short: read, or refused, never a trap (the
    /// fuzzer found one in ZIPFoundation's in-memory reader, which is why the file reader reads them).
    func testDamagedArchivesNeverTrap() throws {
        let valid = try Array(Data(contentsOf: URL(fileURLWithPath: fixture("keras3/custom.keras"))))
        let path = directory + "/damaged.keras"
        var refused = 0
        for offset in stride(from: 0, to: valid.count, by: valid.count / 97) {
            let erased = [1, 7, 64, 1000].map { Array(valid[..<offset] + valid[min(valid.count, offset + $0)...]) }
            for damaged in [Array(valid[..<offset])] + erased {
                try Data(damaged).write(to: URL(fileURLWithPath: path))
                do {
                    let archive = try KerasArchive(path)
                    _ = try? archive.definition()
                } catch {
                    refused += 1
                    XCTAssertTrue("\(error)".hasPrefix(path), "\(error)")
                }
            }
        }
        XCTAssertGreaterThan(refused, 100, "most damage is noticed")
    }

    func testHostileArchivesAreRefusedWithOneLine() throws {
        func refusal(_ path: String) -> String {
            do { _ = try KerasArchive(path); return "read" } catch { return "\(error)" }
        }
        let notZip = directory + "/model.keras"
        try Data("{}".utf8).write(to: URL(fileURLWithPath: notZip))
        XCTAssertTrue(refusal(notZip).hasPrefix("\(notZip) is not a valid .keras archive (a zip)"), refusal(notZip))
        let noConfig = try zip([("metadata.json", Array("{}".utf8))], name: "no-config.keras")
        XCTAssertEqual(refusal(noConfig), "\(noConfig) is a zip without config.json: not a .keras file; save it with "
                       + "model.save(\"x.keras\")")
        // 17 MiB of config, declared as such: refused before anything is inflated.
        let large = [UInt8](repeating: 0x20, count: 17 << 20)
        let declared = try zip([("config.json", large)], name: "declared.keras")
        XCTAssertEqual(refusal(declared), "\(declared): config.json declares 17825792 bytes, more than the 16777216 it may hold")
        // The same entry declaring 2 bytes: inflating stops at the cap.
        var lying = try Array(Data(contentsOf: URL(fileURLWithPath: declared)))
        for (signature, offset) in [([0x50, 0x4B, 0x03, 0x04] as [UInt8], 22), ([0x50, 0x4B, 0x01, 0x02], 24)] {
            let start = try XCTUnwrap((0..<lying.count - 4).first { Array(lying[$0..<$0 + 4]) == signature })
            lying.replaceSubrange(start + offset..<start + offset + 4, with: [2, 0, 0, 0])
        }
        let bomb = directory + "/bomb.keras"
        try Data(lying).write(to: URL(fileURLWithPath: bomb))
        XCTAssertEqual(refusal(bomb), "\(bomb): config.json inflates past the 16777216 bytes it may hold; not read")
        XCTAssertFalse(refusal(bomb).contains("\n"))
    }

    /// libhdf5 reads Keras' weights into the model (here in this process; the command line reads in a child): every
    /// weight's sum as Keras computed it at saving.
    func testKerasWeightsReadIntoTheModel() throws {
        let archive = try KerasArchive(fixture("keras3/trained.keras"))
        let model = try archive.definition().makeModel()
        let datasets = KerasWeights.datasets(of: model, kerasNames: KerasJSON.layerNames(archive.config))
        XCTAssertEqual(datasets.first, KerasWeights.Dataset(path: "layers/conv2d/vars/0", shape: [3, 3, 1, 16]))
        let file = directory + "/weights.h5"
        try Data(try XCTUnwrap(try archive.weights())).write(to: URL(fileURLWithPath: file))
        KerasWeights.load(try HDF5Datasets.read(file: file, datasets), into: model)
        struct Expected: Decodable { let weight_sums: [String: Double] }
        let sums = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: fixture("keras3/trained.json"))))
        let views = model.layers.flatMap(\.parameters)
        XCTAssertEqual(views.count, sums.weight_sums.count)
        for (dataset, view) in Swift.zip(datasets, views) {
            let key = dataset.path.replacingOccurrences(of: "layers/", with: "").replacingOccurrences(of: "/vars", with: "")
            let expected = try XCTUnwrap(sums.weight_sums[key], key)
            let sum = model.store.values(of: view).reduce(0.0) { $0 + Double($1) }
            XCTAssertEqual(sum, expected, accuracy: 1e-4 * max(1, abs(expected)), "\(key) into \(view.name)")
        }
        // A file that is not HDF5, and a dataset of the wrong shape, are one line each.
        try Data("not hdf5".utf8).write(to: URL(fileURLWithPath: directory + "/bad.h5"))
        XCTAssertThrowsError(try HDF5Datasets.read(file: directory + "/bad.h5", datasets)) { error in
            XCTAssertEqual("\(error)", "it is not an HDF5 file libhdf5 can open")
        }
        XCTAssertThrowsError(try HDF5Datasets.read(file: file, [KerasWeights.Dataset(path: "layers/conv2d/vars/0", shape: [3, 3, 1, 8])])) { error in
            XCTAssertEqual("\(error)", "layers/conv2d/vars/0 has shape [3, 3, 1, 16], the model's weight [3, 3, 1, 8]")
        }
    }
}
