/// A checkpoint that cannot be read or written, worded for the user: one line naming the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
