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
    /// Whether the range shares any time with `[from, to)`.
    func overlaps(from: Double, to: Double) -> Bool { start < to && from < end }
}

extension ManifestValidator {
    /// Longest mute range list a job may have, and latest time (seconds) a range may name.
    static let maxMuteRanges = 1000
    static let maxMuteSeconds = 1_000_000.0

    /// `[{"start": S, "end": E, "reason": "..."}]`: non-empty, each `0 <= start < end`, a
    /// non-empty reason, and no two ranges overlapping.
    func muteRanges(_ value: StrictJSONValue, at jp: String) throws -> [MuteRange] {
        let expected = "expected a non-empty array of {\"start\", \"end\", \"reason\"} objects (seconds)"
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        guard elements.count <= Self.maxMuteRanges else {
            throw fail(jp, "at most \(Self.maxMuteRanges) ranges, found \(elements.count)")
        }
        var ranges: [MuteRange] = []
        for (i, element) in elements.enumerated() {
            let ep = "\(jp)[\(i)]"
            let members = try members(element, at: ep, what: "a mute range object with start, end and reason")
            try rejectUnknownKeys(members, at: ep, allowed: ["start", "end", "reason"])
            let index = lookup(members)
            guard let s = index["start"] else { throw fail(ep + ".start", "missing required key (expected number of seconds)") }
            guard let e = index["end"] else { throw fail(ep + ".end", "missing required key (expected number of seconds)") }
            guard let r = index["reason"] else { throw fail(ep + ".reason", "missing required key (expected non-empty string)") }
            let start = try number(s, at: ep + ".start", lower: 0, upper: Self.maxMuteSeconds, lowerExclusive: false)
            let end = try number(e, at: ep + ".end", lower: 0, upper: Self.maxMuteSeconds, lowerExclusive: true)
            guard end > start else {
                throw fail(ep + ".end", "expected a number greater than start (\(ManifestValidator.format(start))), found \(e.foundDescription)")
            }
            let reason = try string(r, at: ep + ".reason", expected: "non-empty string")
            guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw fail(ep + ".reason", "expected non-empty string, found \(r.foundDescription)")
            }
            if let k = ranges.firstIndex(where: { $0.overlaps(from: start, to: end) }) {
                throw fail(ep, "overlaps \(jp)[\(k)] (\(ManifestValidator.format(ranges[k].start))-\(ManifestValidator.format(ranges[k].end)) s)")
            }
            ranges.append(MuteRange(start: start, end: end, reason: reason))
        }
        return ranges
    }
}
