import Foundation

/// A span of presentation time, in seconds, whose audio is replaced by a tone (manifest key
/// `mute`, docs/manifest.md). Times are those of the input's streams (timestamp times time base,
/// what ffprobe shows as `pts_time`); `start` is included, `end` is not.
public struct MuteRange: Codable, Equatable, Sendable {
    public var start: Double
    public var end: Double
    /// Why this span is muted, for the record (required, non-empty).
    public var reason: String

    public init(start: Double, end: Double, reason: String) {
        self.start = start
        self.end = end
        self.reason = reason
    }

    func contains(seconds t: Double) -> Bool { t >= start && t < end }
}
