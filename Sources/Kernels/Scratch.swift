#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Memory a kernel needs for the length of one call (packed B panels, a zero-padded copy of an image), lent from
/// buffers that each thread keeps for its life: allocating them call by call was most of a training step's heap
/// traffic. Buffers are lent and given back in reverse order, as `defer` gives them back, so a thread's buffers
/// form a stack; each grows to the largest request it has served.
final class ScratchBuffers {
    private var buffers: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
    private var lent = 0

    /// 64-byte-aligned memory for `count` floats, until `giveBack`.
    func lend(floats count: Int) -> UnsafeMutablePointer<Float> {
        let bytes = max(count, 1) * MemoryLayout<Float>.size
        if lent == buffers.count {
            buffers.append((.allocate(byteCount: bytes, alignment: 64), bytes))
        } else if buffers[lent].bytes < bytes {
            buffers[lent].pointer.deallocate()
            buffers[lent] = (.allocate(byteCount: bytes, alignment: 64), bytes)
        }
        lent += 1
        return buffers[lent - 1].pointer.bindMemory(to: Float.self, capacity: count)
    }

    /// Takes back the buffer lent last.
    func giveBack(_ pointer: UnsafeMutablePointer<Float>) {
        lent -= 1
        // A check -Ounchecked keeps, as a precondition would not be.
        if UnsafeMutableRawPointer(pointer) != buffers[lent].pointer { fatalError("scratch given back out of order") }
    }

    deinit { buffers.forEach { $0.pointer.deallocate() } }

    /// The calling thread's buffers, made on its first call and freed when the thread ends.
    static var ofThisThread: ScratchBuffers {
        if let existing = pthread_getspecific(threadKey) {
            return Unmanaged<ScratchBuffers>.fromOpaque(existing).takeUnretainedValue()
        }
        let made = ScratchBuffers()
        pthread_setspecific(threadKey, Unmanaged.passRetained(made).toOpaque())
        return made
    }

    private static let threadKey: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { buffers in
            #if canImport(Glibc)
            guard let buffers else { return }
            #endif
            Unmanaged<ScratchBuffers>.fromOpaque(buffers).release()
        }
        if status != 0 { fatalError("pthread_key_create failed: \(status)") }
        return key
    }()
}
