import Foundation

/// How a redacted box is painted. `fill` is the default because it is irreversible;
/// `pixelate` and `blur` keep some low-frequency information and are documented as weaker.
public enum RedactionStyle: String, Codable, CaseIterable, Sendable {
    case fill
    case pixelate
    case blur
}

/// Face detector settings.
public struct DetectorConfig: Codable, Equatable, Sendable {
    /// Model id from the registry in models/ (only "centerface" today).
    public var model: String = "centerface"
    /// Minimum detector score for a detection to start a track (and be redacted on its own).
    /// Weaker detections only continue existing tracks (see TrackerConfig.lowScore).
    public var threshold: Double = 0.2
    /// Longer side, in pixels, of the detector's input image: the displayed frame is scaled so
    /// its longer side is this (never enlarged; aspect kept, letterboxed to multiples of 32).
    /// 1280 keeps 720p at full resolution: at 640, faces under ~40 px were missed (dev benchmark:
    /// 1080p face recall 38 % at 640 against 99 % at 1280).
    public var inputSize: Int = 1280
    /// OpenCV DNN worker threads (0: OpenCV's default).
    public var threads: Int = 0
    /// Run the detector on every n-th frame (1: every frame). Frames in between are covered by
    /// the tracker (optical flow, interpolation between detections, extension).
    public var every: Int = 1

    public init() {}
    enum CodingKeys: String, CodingKey {
        case model, threshold
        case inputSize = "input_size"
        case threads, every
    }
}

/// Tracker settings.
public struct TrackerConfig: Codable, Equatable, Sendable {
    /// Minimum IoU between a track's predicted box and a confident detection to continue it.
    public var iouThreshold: Double = 0.2
    /// A track survives this many frames without a detection (followed by optical flow while
    /// it can be); gaps up to this long between detections are filled. At most 60: frames are
    /// held back this long, so it bounds memory.
    public var maxGap: Int = 15
    /// Frames a track is extended before its first and after its last observation.
    public var extendFrames: Int = 5
    /// Detections scoring at least this (but under the detector threshold) may continue an
    /// existing track, never start one (ByteTrack's second association pass).
    public var lowScore: Double = 0.1
    /// Detections a track needs before optical flow follows it through missed frames; a track
    /// with fewer is still redacted where detected and extended, but not followed.
    public var minHits: Int = 2
    /// Follow tracks through frames without a detection with Lucas-Kanade optical flow.
    public var flow: Bool = true

    public init() {}
    enum CodingKeys: String, CodingKey {
        case iouThreshold = "iou_threshold"
        case maxGap = "max_gap"
        case extendFrames = "extend_frames"
        case lowScore = "low_score"
        case minHits = "min_hits"
        case flow
    }
}

/// Redaction and encoding settings.
public struct RenderConfig: Codable, Equatable, Sendable {
    public var style: RedactionStyle = .fill
    /// Each box grows by this fraction of its size on every side before painting.
    public var padding: Double = 0.2
    /// libx264 constant rate factor (0-51; lower is better quality). 18 is visually near-lossless.
    public var crf: Int = 18
    /// libx264 preset.
    public var preset: String = "veryfast"
    /// Copy audio streams (false: drop all audio).
    public var keepAudio: Bool = true

    public init() {}
    enum CodingKeys: String, CodingKey {
        case style, padding, crf, preset
        case keepAudio = "keep_audio"
    }
}

/// The complete effective configuration of one job; recorded verbatim in the receipt.
public struct JobConfig: Codable, Equatable, Sendable {
    public var detector = DetectorConfig()
    public var tracker = TrackerConfig()
    public var render = RenderConfig()
    public init() {}
}
