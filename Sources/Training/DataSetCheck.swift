import MNIST

/// What a training and a test set must agree on before a model is built for them: the image shape and the class
/// count. Each problem is one line naming the files.
public enum DataSetCheck {
    /// The class count of a run: `requested` (`--classes N`) if given, else the largest training label + 1. The
    /// training labels must fit it, and so must the test labels.
    public static func classes(training: Dataset, test: Dataset, requested: Int?, files: MNISTFiles) throws -> Int {
        let trainingLabels = files.path(MNISTFiles.names.trainLabels), testLabels = files.path(MNISTFiles.names.testLabels)
        let needed = training.classesInLabels
        if let requested, requested < needed {
            throw DataError("--classes \(requested): the labels in \(trainingLabels) go up to \(needed - 1); give "
                                + "--classes \(needed) or more")
        }
        let classes = requested ?? needed
        if test.classesInLabels > classes {
            throw DataError("\(testLabels) has label \(test.classesInLabels - 1), outside the \(classes) classes "
                                + (requested == nil ? "of \(trainingLabels) (0-\(classes - 1))" : "of --classes \(classes)")
                                + ": use files of one set, or give --classes \(test.classesInLabels)")
        }
        return classes
    }

    /// The test images must have the training images' shape.
    public static func checkShapes(training: Dataset, test: Dataset, files: MNISTFiles) throws {
        guard test.sampleShape != training.sampleShape else { return }
        throw DataError("\(files.path(MNISTFiles.names.testImages)) holds \(shape(test.sampleShape)) images, "
                            + "\(files.path(MNISTFiles.names.trainImages)) \(shape(training.sampleShape)): use files of one set")
    }

    /// A sample shape as rows x columns x channels.
    public static func shape(_ sampleShape: [Int]) -> String { sampleShape.map(String.init).joined(separator: "x") }
}
