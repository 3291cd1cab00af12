import MNIST

/// What a training and a test set must agree on before a model is built for them: the image shape and the class
/// count. Each problem is one line naming the files.
public enum DataSetCheck {
    /// The class count of a run: `fixed` (by `--classes N`, or a saved model's own) if given, else the largest
    /// training label + 1, at least 2. The training labels must fit it, and so must the test labels. `fixed.by`
    /// names what fixed it, and `fixed.advice` says what to do when the labels do not fit.
    public static func classes(training: Dataset, test: Dataset, files: MNISTFiles,
                               fixed: (count: Int, by: String, advice: String)?) throws -> Int {
        let trainingLabels = files.path(MNISTFiles.names.trainLabels), testLabels = files.path(MNISTFiles.names.testLabels)
        let needed = training.classesInLabels
        if let fixed, fixed.count < needed {
            throw DataError("\(fixed.by): the labels in \(trainingLabels) go up to \(needed - 1); \(fixed.advice)")
        }
        guard fixed != nil || needed >= 2 else {
            throw DataError("\(trainingLabels): every label is 0, and a classifier needs 2 classes or more; check the file")
        }
        let classes = fixed?.count ?? needed
        if test.classesInLabels > classes {
            throw DataError("\(testLabels) has label \(test.classesInLabels - 1), outside the \(classes) classes "
                                + (fixed.map { "of \($0.by): \($0.advice)" }
                                    ?? "of \(trainingLabels) (0-\(classes - 1)): use files of one set, or give --classes \(test.classesInLabels)"))
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
