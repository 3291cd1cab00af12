import CMPI
import CZstd
import XCTest

/// The system-library shims resolve, link and call into the installed libraries.
final class SystemLibraryTests: XCTestCase {
    func testZstdLinksAndRoundTrips() {
        XCTAssertGreaterThanOrEqual(ZSTD_versionNumber(), 10_400, "libzstd 1.4 or newer is expected")
        let input = [UInt8]((0..<4096).map { UInt8($0 % 7) })
        var compressed = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let size = ZSTD_compress(&compressed, compressed.count, input, input.count, 3)
        XCTAssertEqual(ZSTD_isError(size), 0)
        var output = [UInt8](repeating: 0, count: input.count)
        let restored = ZSTD_decompress(&output, output.count, compressed, size)
        XCTAssertEqual(restored, input.count)
        XCTAssertEqual(output, input)
    }

    func testMPIHeaderHandlesImport() {
        // Only the handles: MPI_Init belongs to the process that runs under mpirun, not to the test runner.
        var version: Int32 = 0, subversion: Int32 = 0
        XCTAssertEqual(MPI_Get_version(&version, &subversion), 0)
        XCTAssertGreaterThanOrEqual(version, 3)
        var name = [CChar](repeating: 0, count: Int(MPI_MAX_LIBRARY_VERSION_STRING))
        var length: Int32 = 0
        XCTAssertEqual(MPI_Get_library_version(&name, &length), 0)
        let text = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        XCTAssertTrue(text.contains("Open MPI"), text)
    }
}
