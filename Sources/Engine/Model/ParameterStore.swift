/// One weight a layer declares: its Keras name within the layer ("kernel", "bias", "gamma", "moving_mean"...),
/// shape, initializer, and whether the optimizer trains it.
public struct ParameterSpec: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let initializer: Initializer
    public let trainable: Bool

    public init(name: String, shape: [Int], initializer: Initializer, trainable: Bool = true) {
        self.name = name
        self.shape = shape
        self.initializer = initializer
        self.trainable = trainable
    }

    public var count: Int { shape.reduce(1, *) }
}

/// Where one weight lives in the model's flat buffers, under its full Keras name ("conv2d_1/kernel").
public struct ParameterView: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let trainable: Bool
    /// Offset in `ParameterStore.values` (trainable) or `ParameterStore.state` (not trainable).
    public let offset: Int
    public var count: Int { shape.reduce(1, *) }
}

/// All of a model's numbers in three flat allocations: trainable values, their gradients (same layout, so one
/// allreduce covers every gradient and one memset zeroes them), and non-trainable state such as
/// BatchNormalization's moving statistics. Layers read and write through `ParameterView`s.
///
/// A class, because the buffers are manually allocated and must be freed exactly once; the pointers it hands
/// out stay valid for its lifetime.
public final class ParameterStore {
    public let views: [ParameterView]
    public let values: UnsafeMutableBufferPointer<Float>
    public let gradients: UnsafeMutableBufferPointer<Float>
    public let state: UnsafeMutableBufferPointer<Float>

    /// Lays out `specs` (each with its full name) in order: trainable ones in `values`, the rest in `state`.
    public init(_ specs: [(fullName: String, spec: ParameterSpec)]) {
        var views: [ParameterView] = []
        var trainableCount = 0, stateCount = 0
        for (fullName, spec) in specs {
            let offset = spec.trainable ? trainableCount : stateCount
            views.append(ParameterView(name: fullName, shape: spec.shape, trainable: spec.trainable, offset: offset))
            if spec.trainable { trainableCount += spec.count } else { stateCount += spec.count }
        }
        self.views = views
        values = .allocate(capacity: trainableCount)
        gradients = .allocate(capacity: trainableCount)
        state = .allocate(capacity: stateCount)
        values.initialize(repeating: 0)
        gradients.initialize(repeating: 0)
        state.initialize(repeating: 0)
        valuesOwner = nil
    }

    /// The store of another thread's copy of the model: `primary`'s trainable values, read in place (no thread
    /// writes them while the copies work), with gradients of its own and a copy of the state, which training
    /// updates (BatchNormalization's moving statistics).
    public init(replicating primary: ParameterStore) {
        views = primary.views
        values = primary.values
        gradients = .allocate(capacity: primary.gradients.count)
        gradients.initialize(repeating: 0)
        state = .allocate(capacity: primary.state.count)
        _ = state.initialize(from: primary.state)
        valuesOwner = primary
    }

    /// The store whose values these are, when they are another's: kept alive as long as this one.
    private let valuesOwner: ParameterStore?

    deinit {
        if valuesOwner == nil { values.deallocate() }
        gradients.deallocate()
        state.deallocate()
    }

    /// The live values of one weight.
    public func pointer(_ view: ParameterView) -> UnsafeMutablePointer<Float> {
        (view.trainable ? values : state).baseAddress! + view.offset
    }

    /// The live gradient of one trainable weight.
    public func gradient(_ view: ParameterView) -> UnsafeMutablePointer<Float> {
        precondition(view.trainable, "\(view.name) is not trainable and has no gradient")
        return gradients.baseAddress! + view.offset
    }

    public func zeroGradients() { gradients.update(repeating: 0) }

    /// The view named `name`, e.g. "dense/kernel".
    public func view(named name: String) -> ParameterView? { views.first { $0.name == name } }

    /// A copy of one weight's values.
    public func values(of view: ParameterView) -> [Float] {
        Array(UnsafeBufferPointer(start: pointer(view), count: view.count))
    }

    /// Overwrites one weight's values.
    public func setValues(_ newValues: [Float], of view: ParameterView) {
        precondition(newValues.count == view.count, "\(view.name): expected \(view.count) values, got \(newValues.count)")
        newValues.withUnsafeBufferPointer { pointer(view).update(from: $0.baseAddress!, count: view.count) }
    }

    /// A copy of one weight's gradient.
    public func gradientValues(of view: ParameterView) -> [Float] {
        Array(UnsafeBufferPointer(start: gradient(view), count: view.count))
    }
}
