/// A histogram of values in TensorFlow's default buckets (limits ±10⁻¹² · 1.1ᵏ up to 10²⁰, with 0 and ±Double.max
/// at the ends) and its encoding, runs of empty buckets collapsed into one, as TensorFlow's `Histogram` writes it
/// for TensorBoard's histogram and distribution dashboards.
struct Histogram {
    private(set) var minimum = Double.infinity, maximum = -Double.infinity
    private(set) var count = 0.0, sum = 0.0, sumOfSquares = 0.0
    private var buckets = [Double](repeating: 0, count: Histogram.limits.count)

    static let limits: [Double] = {
        var positive: [Double] = []
        var v = 1e-12
        while v < 1e20 {
            positive.append(v)
            v *= 1.1
        }
        positive.append(.greatestFiniteMagnitude)
        return positive.reversed().map { -$0 } + [0] + positive
    }()

    /// The finite values of `values`: a NaN or infinity would fall in no bucket, as in TensorFlow.
    init<Values: Sequence>(_ values: Values) where Values.Element == Float {
        for value in values.lazy.map(Double.init) where value.isFinite {
            minimum = min(minimum, value)
            maximum = max(maximum, value)
            count += 1
            sum += value
            sumOfSquares += value * value
            // The first limit above the value.
            var low = 0, high = Histogram.limits.count - 1
            while low < high {
                let middle = (low + high) / 2
                if Histogram.limits[middle] > value { high = middle } else { low = middle + 1 }
            }
            buckets[low] += 1
        }
    }

    var proto: Tensorboard_HistogramProto {
        var proto = Tensorboard_HistogramProto()
        proto.min = count > 0 ? minimum : 0
        proto.max = count > 0 ? maximum : 0
        proto.num = count
        proto.sum = sum
        proto.sumSquares = sumOfSquares
        var i = 0
        while i < buckets.count {
            var (end, bucket) = (Histogram.limits[i], buckets[i])
            i += 1
            while bucket == 0, i < buckets.count, buckets[i] == 0 {
                (end, bucket) = (Histogram.limits[i], buckets[i])
                i += 1
            }
            proto.bucketLimit.append(end)
            proto.bucket.append(bucket)
        }
        return proto
    }
}
