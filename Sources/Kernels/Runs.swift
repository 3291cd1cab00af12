// Copying, adding and filling short runs of scalars: im2col's window rows (5 values for a 5-wide window on one
// channel) and GEMM's packed panel rows (6 or 16). At these lengths a libc memmove call costs more than the
// work, so these are inline loops, eight lanes at a time and then one at a time.

@inline(__always)
public func copy(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        UnsafeMutableRawPointer(target + i).storeBytes(
            of: UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { target[i] = source[i]; i += 1 }
}

@inline(__always)
public func add(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let sum = UnsafeRawPointer(target + i).loadUnaligned(as: SIMD8<Float>.self)
            + UnsafeRawPointer(source + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(target + i).storeBytes(of: sum, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { target[i] += source[i]; i += 1 }
}

@inline(__always)
public func fill(_ target: UnsafeMutablePointer<Float>, count: Int, with value: Float) {
    var i = 0
    while i + 8 <= count {
        UnsafeMutableRawPointer(target + i).storeBytes(of: SIMD8(repeating: value), as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { target[i] = value; i += 1 }
}
