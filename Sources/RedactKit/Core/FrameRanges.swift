/// Frame numbers gathered as runs of consecutive frames, in the order they are added (increasing,
/// as a decoder returns them): `[[41, 41], [45, 54]]`. Only the first `limit` runs are kept, so
/// a file damaged everywhere cannot make a receipt grow with its length; `count` counts every
/// frame added.
public struct FrameRanges: Equatable, Sendable {
    public private(set) var count = 0
    /// `[first, last]` of each run, at most `limit` of them.
    public private(set) var runs: [[Int]] = []
    public let limit: Int

    public init(limit: Int = 100) {
        self.limit = limit
    }

    /// Adds frame `number`, which must be greater than every frame added before.
    public mutating func add(_ number: Int) {
        count += 1
        if let last = runs.last?.last, number == last + 1 {
            runs[runs.count - 1][1] = number
        } else if runs.count < limit {
            runs.append([number, number])
        }
    }
}
