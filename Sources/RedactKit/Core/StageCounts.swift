/// What each stage did to one job; recorded in the receipt so a reader can see the machine's work.
public struct StageCounts: Codable, Equatable, Sendable {
    /// Video frames decoded (= frames encoded; the pipeline never drops or adds frames).
    public var frames: Int = 0
    /// Frames the detector ran on (wholly or in windows).
    public var detectedFrames: Int = 0
    /// Of those, frames where it looked only at windows around faces (`DetectionSchedule`: fast
    /// faces in a dense stretch, the last whole-frame run's detections in a calm one).
    /// Nil in receipts made before it was recorded, and when there were none.
    public var windowedFrames: Int? = nil
    /// Of those, frames where the whole-frame run looked at the coarse input
    /// (`DetectorConfig.coarseInputSize`). Nil in receipts made before it was recorded, and
    /// when there were none.
    public var coarseInputFrames: Int? = nil
    /// Boxes the detector returned above threshold.
    public var detections: Int = 0
    /// Tracks the tracker formed.
    public var tracks: Int = 0
    /// Boxes painted over (detected, interpolated and extended, after padding).
    public var redactedBoxes: Int = 0
    /// Frames with at least one box painted.
    public var redactedFrames: Int = 0
    /// Audio packets copied unchanged.
    public var audioPackets: Int = 0
    /// Video packets read from the input and sent to the decoder. More than `frames` when some
    /// packets gave no picture (damaged data, or pictures a decoder skips, such as frames before
    /// the first keyframe of a stream cut mid-GOP). Nil in receipts made before it was recorded
    /// and for counts that did not come from decoding.
    public var videoPackets: Int? = nil
    /// Frames the decoder marked as made up in part: damaged data it concealed, or references
    /// it did not have (`VideoDecoder.damagedFrames`). Redacted like every other frame, but not
    /// wholly what the camera recorded. Nil when none was marked (not every decoder marks
    /// them: none is no proof of an undamaged input) and in receipts made before it was recorded.
    public var damagedFrames: Int? = nil
    /// Those frames as `[first, last]` runs, the first `FrameRanges.limit` (100) runs only.
    public var damagedFrameRanges: [[Int]]? = nil

    /// Records the frames the decoder marked (`damaged_frames`, `damaged_frame_ranges`).
    mutating func record(damaged: FrameRanges) {
        guard damaged.count > 0 else { return }
        damagedFrames = damaged.count
        damagedFrameRanges = damaged.runs
    }

    /// "12 frames (41, 45-54)": the frames the decoder made up in part, for one-line messages
    /// (", ..." ends the list when runs were left out); nil when there were none.
    public var damagedFramesSummary: String? {
        guard let n = damagedFrames, n > 0 else { return nil }
        let runs = damagedFrameRanges ?? []
        let listed = runs.map { $0[0] == $0[1] ? "\($0[0])" : "\($0[0])-\($0[1])" }
        let more = runs.reduce(0) { $0 + $1[1] - $1[0] + 1 } < n ? [", ..."] : []
        return "\(n) frame\(n == 1 ? "" : "s") (" + listed.joined(separator: ", ") + more.joined() + ")"
    }

    /// A one-line warning for the user when the decoder made up frames in part; nil otherwise.
    public var damageWarning: String? {
        damagedFramesSummary.map {
            "the input is damaged: the decoder made up \($0) in part, concealing data it could not decode: redacted like the others, but not wholly what the camera recorded (counts.damaged_frames)"
        }
    }
    /// Per object class ("face", "plate"): detections and boxes painted. Nil in receipts made
    /// before it was recorded.
    public var byClass: [String: ClassCounts]? = nil
    /// Boxes painted, by where they came from ("detected", "flow", "interpolated", "extended",
    /// "manual"): how much of the redaction the detector saw and how much tracking added.
    public var boxSources: [String: Int]? = nil
    /// `redact run` with a `tracks` file: true when the boxes came from that file, kept by an
    /// earlier run (the detector and tracker did not run: `detected_frames` and `detections` are
    /// 0), false when they were detected and tracked now. Nil in receipts made before it was
    /// recorded and for jobs without a tracks file.
    public var tracksReused: Bool? = nil

    public init() {}

    /// Counts one detection (in `by_class`).
    mutating func countDetection(of objectClass: ObjectClass) {
        if byClass == nil { byClass = [:] }
        byClass![objectClass.rawValue, default: ClassCounts()].detections += 1
    }

    /// Counts one painted box (in `by_class` and `box_sources`; `redacted_boxes` is the total).
    mutating func countPainted(_ box: TrackedBox) {
        if byClass == nil { byClass = [:] }
        if boxSources == nil { boxSources = [:] }
        byClass![box.objectClass.rawValue, default: ClassCounts()].redactedBoxes += 1
        boxSources![box.source.rawValue, default: 0] += 1
    }

    /// Counts of one object class.
    public struct ClassCounts: Codable, Equatable, Sendable {
        public var detections = 0
        public var redactedBoxes = 0
        public init() {}
        enum CodingKeys: String, CodingKey {
            case detections
            case redactedBoxes = "redacted_boxes"
        }
    }
    enum CodingKeys: String, CodingKey {
        case frames
        case detectedFrames = "detected_frames"
        case windowedFrames = "windowed_frames"
        case coarseInputFrames = "coarse_input_frames"
        case detections, tracks
        case redactedBoxes = "redacted_boxes"
        case redactedFrames = "redacted_frames"
        case audioPackets = "audio_packets"
        case videoPackets = "video_packets"
        case damagedFrames = "damaged_frames"
        case damagedFrameRanges = "damaged_frame_ranges"
        case byClass = "by_class"
        case boxSources = "box_sources"
        case tracksReused = "tracks_reused"
    }
}
