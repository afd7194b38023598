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
        case byClass = "by_class"
        case boxSources = "box_sources"
        case tracksReused = "tracks_reused"
    }
}
