import CHDF5
import Engine
import Foundation
import InputChecks

/// The weights of a `.keras` archive: `model.weights.h5`, where Keras 3 keeps a layer's weights as the float32
/// datasets `layers/<layer name>/vars/0, 1, ...`, in the order the engine keeps them too (kernel and bias;
/// gamma, beta, moving mean and moving variance).
///
/// libhdf5 has a long record of crashes on crafted files, so it reads them only in a process of its own
/// (`HDF5Datasets.read` is that process's work, `mnist-train read-hdf5`): a crash there ends the child, and its
/// parent reports the file damaged. The child reads only the datasets the model needs, each checked to be float
/// and of the shape the model expects before anything is read.
public enum KerasWeights {
    /// One weight to read: the dataset's path and the shape the engine expects.
    public struct Dataset: Equatable, Sendable {
        public let path: String
        public let shape: [Int]

        /// As the child process takes it on its command line: `path=d0,d1,...`.
        public var argument: String { path + "=" + shape.map(String.init).joined(separator: ",") }

        public init(path: String, shape: [Int]) { (self.path, self.shape) = (path, shape) }

        public init?(argument: String) {
            guard let split = argument.lastIndex(of: "=") else { return nil }
            let sizes = argument[argument.index(after: split)...].split(separator: ",").compactMap { Int($0) }
            guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 1 }) else { return nil }
            (path, shape) = (String(argument[..<split]), sizes)
        }
    }

    /// True when the file is a regular file that starts with HDF5's signature, as Keras' `.weights.h5` does.
    /// Only a regular file is opened, without blocking.
    public static func isHDF5(_ path: String) -> Bool {
        guard let (descriptor, _) = try? RegularFile.opened(path) else { return false }
        defer { close(descriptor) }
        var signature = [UInt8](repeating: 0, count: 8)
        return pread(descriptor, &signature, 8, 0) == 8 && signature == [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    }

    /// The datasets of `model`'s weights, in store order, under the Keras layer names of its definition.
    public static func datasets(of model: Sequential, kerasNames: [String]) -> [Dataset] {
        zip(model.layers, kerasNames).flatMap { layer, name in
            layer.parameterSpecs.enumerated().map { index, spec in Dataset(path: "layers/\(name)/vars/\(index)", shape: spec.shape) }
        }
    }

    /// Puts `values` (one array per dataset, in `datasets(of:)` order) into `model`'s store.
    public static func load(_ values: [[Float]], into model: Sequential) {
        let views = model.layers.flatMap(\.parameters)
        precondition(views.count == values.count, "one array per weight")
        for (view, weights) in zip(views, values) {
            let target = view.trainable ? model.store.values : model.store.state
            for (i, value) in weights.enumerated() { target[view.offset + i] = value }
        }
    }
}

/// libhdf5 reading float32 datasets of known shapes: what the child process does.
public enum HDF5Datasets {
    /// Every dataset's values, in order. Throws, in one line, when the file is no HDF5 file, a dataset is missing,
    /// not float32, or of another shape.
    public static func read(file: String, _ datasets: [KerasWeights.Dataset]) throws -> [[Float]] {
        chdf5_quiet()
        let handle = H5Fopen(file, chdf5_read_only(), chdf5_default())
        guard handle >= 0 else { throw InteropError("it is not an HDF5 file libhdf5 can open") }
        defer { H5Fclose(handle) }
        return try datasets.map { dataset in
            guard H5Lexists(handle, dataset.path, chdf5_default()) > 0 else {
                throw InteropError("it has no weight \(dataset.path)")
            }
            let data = H5Dopen2(handle, dataset.path, chdf5_default())
            guard data >= 0 else { throw InteropError("\(dataset.path) is not a dataset") }
            defer { H5Dclose(data) }
            let type = H5Dget_type(data)
            defer { H5Tclose(type) }
            guard H5Tget_class(type) == H5T_FLOAT, H5Tget_size(type) == 4 else {
                throw InteropError("\(dataset.path) is not float32")
            }
            let space = H5Dget_space(data)
            defer { H5Sclose(space) }
            let rank = H5Sget_simple_extent_ndims(space)
            var dimensions = [hsize_t](repeating: 0, count: max(Int(rank), 0))
            guard rank == dataset.shape.count, H5Sget_simple_extent_dims(space, &dimensions, nil) == rank,
                  dimensions.map(Int.init) == dataset.shape else {
                throw InteropError("\(dataset.path) has shape \(dimensions), the model's weight \(dataset.shape)")
            }
            var values = [Float](repeating: 0, count: dataset.shape.reduce(1, *))
            guard H5Dread(data, chdf5_native_float(), chdf5_all(), chdf5_all(), chdf5_default(), &values) >= 0 else {
                throw InteropError("\(dataset.path) cannot be read")
            }
            return values
        }
    }
}

extension HDF5Datasets {
    /// A new HDF5 file at `file` holding `datasets` (float32, little-endian) and the empty `groups`, as Keras 3's
    /// `model.weights.h5` holds a model's weights. Written by this process: nothing read from outside goes in.
    public static func write(file: String, _ datasets: [(KerasWeights.Dataset, [Float])], groups: [String]) throws {
        chdf5_quiet()
        let handle = H5Fcreate(file, chdf5_truncate(), chdf5_default(), chdf5_default())
        guard handle >= 0 else { throw InteropError("cannot create \(file)") }
        defer { H5Fclose(handle) }
        let intermediate = chdf5_intermediate_groups()
        defer { H5Pclose(intermediate) }
        for group in groups {
            let made = H5Gcreate2(handle, group, intermediate, chdf5_default(), chdf5_default())
            guard made >= 0 else { throw InteropError("cannot create group \(group) in \(file)") }
            H5Gclose(made)
        }
        for (dataset, values) in datasets {
            var dimensions = dataset.shape.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(dimensions.count), &dimensions, nil)
            defer { H5Sclose(space) }
            let data = H5Dcreate2(handle, dataset.path, chdf5_ieee_f32le(), space, intermediate, chdf5_default(), chdf5_default())
            guard data >= 0 else { throw InteropError("cannot create \(dataset.path) in \(file)") }
            defer { H5Dclose(data) }
            guard H5Dwrite(data, chdf5_native_float(), chdf5_all(), chdf5_all(), chdf5_default(), values) >= 0 else {
                throw InteropError("cannot write \(dataset.path) to \(file)")
            }
        }
    }
}
