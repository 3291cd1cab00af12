import Checkpoint
import Engine
import Foundation
import Interop
import MNIST
import Report

/// One input through every reader of outside files, the first byte choosing which: a zstd-compressed checkpoint,
/// a plain safetensors file, model JSON, an IDX file (raw or gzip), a PGM, Keras' model JSON, a `.keras` archive, a
/// `fit --log` file for `report`. Each either reads the input or throws;
/// a crash or sanitizer report is a bug.
///
/// Built normally, `fuzz-readers FILE...` replays inputs (a crash a fuzzer found, say). Built for libFuzzer,
/// with `deploy/fuzz.sh`, the fuzzer calls `LLVMFuzzerTestOneInput` instead.
enum FuzzReaders {
    static let scratch = NSTemporaryDirectory() + "fuzz-readers-\(getpid())"

    static func read(_ input: [UInt8]) {
        guard let selector = input.first else { return }
        let bytes = Array(input.dropFirst())
        switch selector % 8 {
        case 0: _ = try? ModelFile.model(in: try CheckpointFile.decode(bytes, path: "input"), path: "input")
        case 1: _ = try? ModelFile.model(in: try SafeTensors(decoding: bytes, path: "input"), path: "input")
        case 2: _ = try? JSONDecoder().decode(ModelDefinition.self, from: Data(bytes)).makeModel().summary()
        case 3:
            // IDX reads a path: the input goes through a file, as a user's would.
            let path = scratch + "/input.idx"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            _ = try? IDXFile(contentsOf: path, magics: bytes.count > 3 && bytes[3] == 1
                                 ? [IDXFile.labelsMagic] : [IDXFile.imagesMagic, IDXFile.imagesWithChannelsMagic])
        case 4: _ = try? ImageFile.pgm(bytes, path: "input")
        case 5: _ = try? KerasJSON.definition(Data(bytes)).makeModel().summary()
        case 7:
            let path = scratch + "/input.jsonl"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            _ = try? RunLog(path: path)
        default:
            let path = scratch + "/input.keras"
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            if let archive = try? KerasArchive(path) {
                _ = try? archive.definition()
                _ = try? archive.weights()
                _ = try? KerasCompileSettings.read(archive.config, path: path)
            }
        }
    }
}

#if FUZZING
/// libFuzzer's entry for a program with its own main (LLVM 12 and later).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// The fuzzer's callback, under the name libFuzzer's runtime also links against.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzReaders.read(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

@main
enum Fuzz {
    static func main() {
        try? FileManager.default.createDirectory(atPath: FuzzReaders.scratch, withIntermediateDirectories: true)
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
    }
}
#else
@main
enum Replay {
    static func main() {
        try? FileManager.default.createDirectory(atPath: FuzzReaders.scratch, withIntermediateDirectories: true)
        for path in CommandLine.arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            FuzzReaders.read([UInt8](data))
            print("\(path): read without a crash")
        }
    }
}
#endif
