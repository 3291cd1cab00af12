/// A problem with input data, worded for the user: one line naming the file and what to do.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
