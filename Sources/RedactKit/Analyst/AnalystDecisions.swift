import Foundation

// What a disclosure analyst decides for one job (manifest keys `keep`, `boxes`,
// `exclude_regions`; docs/manifest.md "Analyst decisions"). Every decision carries the reason the
// manifest gives; the receipt records each one with what it did (`analyst`, docs/receipt.md).
// Boxes are in displayed-frame pixels, `[x, y, w, h]`; times are seconds of presentation time,
// `start` included and `end` excluded, as for `mute`.

/// The tracks.json a job's `keep` ids were read from (manifest `tracks_sha256`). Track ids mean
/// something only in the file they were read from: a detection with other settings, another
/// build or another CPU can number the same people differently. A job that names the reviewed
/// file paints only from a tracks file with exactly its bytes, so a kept id can never leave
/// another person visible.
public struct ReviewedTracks: Equatable, Sendable {
    /// Lowercase hex SHA-256 of the reviewed file's bytes (`sha256sum`, or `redact review`).
    public var sha256: String
    /// Where the manifest gives it (`$.jobs[i].tracks_sha256`), for errors found when the job runs.
    public var jsonPath: String

    public init(sha256: String, jsonPath: String = "$") {
        self.sha256 = sha256
        self.jsonPath = jsonPath
    }

    /// The error for a job whose tracks file is there but cannot be reused (`why`): detecting
    /// again would replace the file the ids were read from (and that an earlier output's receipt
    /// names) with tracks that may be numbered differently, so the job stops first.
    func refuseToReplace(tracks: URL, because why: String, manifestPath: String) -> RedactError {
        .badJSON(path: manifestPath, jsonPath: jsonPath,
                 detail: "the tracks file \(tracks.lastPathComponent) cannot be reused (\(why)) and is not replaced while the job keeps track ids read from it: a new detection can number the tracks differently; to detect again, remove keep and tracks_sha256 (the file is then replaced), review the new tracks and name them")
    }

    /// Fails (exit 65, naming the manifest key) unless the tracks file about to be painted from,
    /// whose bytes hash to `actual`, is the reviewed one. `detectedBecause`: why the job detected
    /// again instead of reusing the file, when it did.
    func check(actual: String, tracks: URL, manifestPath: String, detectedBecause: String?) throws {
        guard actual != sha256 else { return }
        let how = detectedBecause.map { "were detected again (\($0)) and " } ?? ""
        throw RedactError.badJSON(path: manifestPath, jsonPath: jsonPath,
                                  detail: "the job's tracks \(how)are not the ones reviewed: \(tracks.lastPathComponent) has SHA-256 \(actual), not \(sha256); review it (redact review) and name its SHA-256 and track ids before keeping any")
    }
}

/// A track that stays visible (manifest `keep`): its machine boxes are not painted.
public struct KeepDecision: Equatable, Sendable {
    /// The track id of the job's tracks.json.
    public var track: Int
    public var reason: String
    /// Where the manifest gives it (`$.jobs[i].keep[j]`), for errors found when the job runs.
    public var jsonPath: String

    public init(track: Int, reason: String, jsonPath: String = "$") {
        self.track = track
        self.reason = reason
        self.jsonPath = jsonPath
    }

    /// The decision itself (where the manifest gives it does not count).
    public static func == (a: KeepDecision, b: KeepDecision) -> Bool { a.track == b.track && a.reason == b.reason }
}

/// One point of a moving manual box.
public struct ManualKeyframe: Equatable, Sendable {
    public var time: Double
    public var box: Box

    public init(time: Double, box: Box) {
        self.time = time
        self.box = box
    }
}

/// A region an analyst marks for redaction (manifest `boxes`): painted in every frame whose
/// presentation time is in `start..<end`, whatever the detector found, kept tracks and excluded
/// regions notwithstanding.
public struct ManualBox: Equatable, Sendable {
    public enum Shape: Equatable, Sendable {
        /// The same box for the whole range.
        case fixed(Box)
        /// Linearly interpolated between keyframes (sorted by time, within the range); before the
        /// first keyframe the first box, after the last the last box.
        case keyframes([ManualKeyframe])
    }

    public var objectClass: ObjectClass
    public var start: Double
    public var end: Double
    public var shape: Shape
    public var reason: String
    public var jsonPath: String

    public init(objectClass: ObjectClass, start: Double, end: Double, shape: Shape, reason: String, jsonPath: String = "$") {
        self.objectClass = objectClass
        self.start = start
        self.end = end
        self.shape = shape
        self.reason = reason
        self.jsonPath = jsonPath
    }

    public static func == (a: ManualBox, b: ManualBox) -> Bool {
        a.objectClass == b.objectClass && a.start == b.start && a.end == b.end && a.shape == b.shape && a.reason == b.reason
    }

    /// The box at presentation time `t` (seconds); nil outside `start..<end`.
    public func box(at t: Double) -> Box? {
        guard t >= start && t < end else { return nil }
        switch shape {
        case .fixed(let b):
            return b
        case .keyframes(let k):
            guard let first = k.first, let last = k.last else { return nil }
            if t <= first.time { return first.box }
            if t >= last.time { return last.box }
            // The last keyframe at or before t; the next one is after t.
            let i = k.lastIndex { $0.time <= t }!
            let a = k[i], b = k[i + 1]
            return a.box.interpolated(to: b.box, t: (t - a.time) / (b.time - a.time))
        }
    }

    /// Every box it names, with the JSON path of each (for the check against the frame size).
    var namedBoxes: [(Box, String)] {
        switch shape {
        case .fixed(let b): return [(b, jsonPath + ".box")]
        case .keyframes(let k): return k.enumerated().map { ($1.box, "\(jsonPath).keyframes[\($0)].box") }
        }
    }
}

/// A region detections are never painted over (manifest `exclude_regions`), e.g. a camera's
/// burned-in time and serial overlay. Manual boxes are painted over it all the same.
public struct ExcludeRegion: Equatable, Sendable {
    public var box: Box
    /// Nil: from the start of the video.
    public var start: Double?
    /// Nil: to its end.
    public var end: Double?
    public var reason: String
    public var jsonPath: String

    public init(box: Box, start: Double? = nil, end: Double? = nil, reason: String, jsonPath: String = "$") {
        self.box = box
        self.start = start
        self.end = end
        self.reason = reason
        self.jsonPath = jsonPath
    }

    public static func == (a: ExcludeRegion, b: ExcludeRegion) -> Bool {
        a.box == b.box && a.start == b.start && a.end == b.end && a.reason == b.reason
    }

    func isActive(at t: Double) -> Bool { t >= (start ?? -Double.infinity) && t < (end ?? Double.infinity) }
}

// MARK: - Manifest validation

extension ManifestValidator {
    /// Most decisions of one kind a job may have, and the largest coordinate or time accepted.
    static let maxAnalystEntries = 10_000
    static let maxPixel = 100_000.0

    /// `[{"track": ID, "reason": "..."}]`: non-empty, track ids integers from 1, each kept once.
    func keepDecisions(_ value: StrictJSONValue, at jp: String) throws -> [KeepDecision] {
        let elements = try entries(value, at: jp, expected: "a non-empty array of {\"track\", \"reason\"} objects")
        var result: [KeepDecision] = []
        for (i, element) in elements.enumerated() {
            let ep = "\(jp)[\(i)]"
            let members = try members(element, at: ep, what: "a keep object with track and reason")
            try rejectUnknownKeys(members, at: ep, allowed: ["track", "reason"])
            let index = lookup(members)
            guard let t = index["track"] else { throw fail(ep + ".track", "missing required key (expected track id, an integer from 1)") }
            let track = try integer(t, at: ep + ".track", in: 1...Int(Int32.max))
            let reason = try reasonText(index["reason"], at: ep + ".reason")
            if let k = result.firstIndex(where: { $0.track == track }) {
                throw fail(ep + ".track", "track \(track) is already kept by \(jp)[\(k)]")
            }
            result.append(KeepDecision(track: track, reason: reason, jsonPath: ep))
        }
        return result
    }

    /// `[{"class", "start", "end", "box" | "keyframes", "reason"}]`.
    func manualBoxes(_ value: StrictJSONValue, at jp: String) throws -> [ManualBox] {
        let elements = try entries(value, at: jp, expected: "a non-empty array of manual box objects")
        var result: [ManualBox] = []
        for (i, element) in elements.enumerated() {
            let ep = "\(jp)[\(i)]"
            let members = try members(element, at: ep, what: "a manual box object with class, start, end, box or keyframes, and reason")
            try rejectUnknownKeys(members, at: ep, allowed: ["class", "start", "end", "box", "keyframes", "reason"])
            let index = lookup(members)
            guard let c = index["class"] else { throw fail(ep + ".class", "missing required key (expected \"face\" or \"plate\")") }
            let objectClass = ObjectClass(rawValue: try oneOf(c, at: ep + ".class", ObjectClass.allCases.map(\.rawValue)))!
            let (start, end) = try timeRange(index, at: ep, required: true)
            let shape: ManualBox.Shape
            switch (index["box"], index["keyframes"]) {
            case (let b?, nil):
                shape = .fixed(try pixelBox(b, at: ep + ".box"))
            case (nil, let k?):
                shape = .keyframes(try keyframes(k, at: ep + ".keyframes", start: start!, end: end!))
            case (nil, nil):
                throw fail(ep + ".box", "missing required key (expected [x, y, w, h] in displayed-frame pixels, or \"keyframes\")")
            case (.some, .some):
                throw fail(ep + ".keyframes", "give either \"box\" or \"keyframes\", not both")
            }
            let reason = try reasonText(index["reason"], at: ep + ".reason")
            result.append(ManualBox(objectClass: objectClass, start: start!, end: end!, shape: shape, reason: reason, jsonPath: ep))
        }
        return result
    }

    /// `[{"box", "reason", "start"?, "end"?}]`.
    func excludeRegions(_ value: StrictJSONValue, at jp: String) throws -> [ExcludeRegion] {
        let elements = try entries(value, at: jp, expected: "a non-empty array of {\"box\", \"reason\"} objects")
        var result: [ExcludeRegion] = []
        for (i, element) in elements.enumerated() {
            let ep = "\(jp)[\(i)]"
            let members = try members(element, at: ep, what: "an excluded region object with box and reason")
            try rejectUnknownKeys(members, at: ep, allowed: ["box", "start", "end", "reason"])
            let index = lookup(members)
            guard let b = index["box"] else { throw fail(ep + ".box", "missing required key (expected [x, y, w, h] in displayed-frame pixels)") }
            let box = try pixelBox(b, at: ep + ".box")
            let (start, end) = try timeRange(index, at: ep, required: false)
            let reason = try reasonText(index["reason"], at: ep + ".reason")
            result.append(ExcludeRegion(box: box, start: start, end: end, reason: reason, jsonPath: ep))
        }
        return result
    }

    // MARK: Parts

    private func entries(_ value: StrictJSONValue, at jp: String, expected: String) throws -> [StrictJSONValue] {
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw fail(jp, "expected \(expected), found \(value.foundDescription)")
        }
        guard elements.count <= Self.maxAnalystEntries else {
            throw fail(jp, "at most \(Self.maxAnalystEntries) entries, found \(elements.count)")
        }
        return elements
    }

    private func reasonText(_ value: StrictJSONValue?, at jp: String) throws -> String {
        guard let value else { throw fail(jp, "missing required key (expected non-empty string: why, for the receipt)") }
        let reason = try string(value, at: jp, expected: "non-empty string")
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw fail(jp, "expected non-empty string, found \(value.foundDescription)")
        }
        return reason
    }

    /// `start` and `end` (seconds, `0 <= start < end`); both required, or each optional.
    private func timeRange(_ index: [String: StrictJSONValue], at ep: String, required: Bool) throws -> (Double?, Double?) {
        if required {
            guard index["start"] != nil else { throw fail(ep + ".start", "missing required key (expected number of seconds)") }
            guard index["end"] != nil else { throw fail(ep + ".end", "missing required key (expected number of seconds)") }
        }
        let start = try index["start"].map { try number($0, at: ep + ".start", lower: 0, upper: Self.maxMuteSeconds, lowerExclusive: false) }
        let end = try index["end"].map { try number($0, at: ep + ".end", lower: 0, upper: Self.maxMuteSeconds, lowerExclusive: true) }
        if let end, end <= (start ?? 0) {
            throw fail(ep + ".end", "expected a number greater than start (\(ManifestValidator.format(start ?? 0))), found \(index["end"]!.foundDescription)")
        }
        return (start, end)
    }

    /// `[x, y, w, h]`: four numbers, `x, y >= 0`, `w, h > 0`, in displayed-frame pixels. Whether
    /// it lies inside the frame is checked when the job runs (the size is known then).
    func pixelBox(_ value: StrictJSONValue, at jp: String) throws -> Box {
        let expected = "expected [x, y, w, h]: four numbers in displayed-frame pixels"
        guard case .array(let parts) = value, parts.count == 4 else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        let x = try number(parts[0], at: jp + "[0]", lower: 0, upper: Self.maxPixel, lowerExclusive: false)
        let y = try number(parts[1], at: jp + "[1]", lower: 0, upper: Self.maxPixel, lowerExclusive: false)
        let w = try number(parts[2], at: jp + "[2]", lower: 0, upper: Self.maxPixel, lowerExclusive: true)
        let h = try number(parts[3], at: jp + "[3]", lower: 0, upper: Self.maxPixel, lowerExclusive: true)
        return Box(x: x, y: y, w: w, h: h)
    }

    /// `[{"time", "box"}]`: non-empty, times strictly increasing and within `start...end`.
    private func keyframes(_ value: StrictJSONValue, at jp: String, start: Double, end: Double) throws -> [ManualKeyframe] {
        let elements = try entries(value, at: jp, expected: "a non-empty array of {\"time\", \"box\"} objects")
        var result: [ManualKeyframe] = []
        for (i, element) in elements.enumerated() {
            let kp = "\(jp)[\(i)]"
            let members = try members(element, at: kp, what: "a keyframe object with time and box")
            try rejectUnknownKeys(members, at: kp, allowed: ["time", "box"])
            let index = lookup(members)
            guard let t = index["time"] else { throw fail(kp + ".time", "missing required key (expected number of seconds)") }
            guard let b = index["box"] else { throw fail(kp + ".box", "missing required key (expected [x, y, w, h])") }
            let time = try number(t, at: kp + ".time", lower: start, upper: end, lowerExclusive: false)
            if let previous = result.last, time <= previous.time {
                throw fail(kp + ".time", "keyframes must be in increasing time order: \(ManifestValidator.format(time)) is not after \(ManifestValidator.format(previous.time)) (\(jp)[\(i - 1)])")
            }
            result.append(ManualKeyframe(time: time, box: try pixelBox(b, at: kp + ".box")))
        }
        return result
    }
}
