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
    /// Minimum detector score for a detection to be kept.
    public var threshold: Double = 0.2
    /// Width of the detector's input image; the frame is scaled to fit it (aspect kept,
    /// letterboxed to a multiple of 32).
    public var inputWidth: Int = 640
    /// OpenCV DNN worker threads (0: OpenCV's default).
    public var threads: Int = 0

    public init() {}
    enum CodingKeys: String, CodingKey {
        case model, threshold
        case inputWidth = "input_width"
        case threads
    }
}

/// Tracker settings.
public struct TrackerConfig: Codable, Equatable, Sendable {
    /// Minimum IoU for a detection to continue a track.
    public var iouThreshold: Double = 0.2
    /// A track survives this many frames without a detection; gaps up to this long are filled.
    public var maxGap: Int = 15
    /// Frames a track is extended before its first and after its last detection.
    public var extendFrames: Int = 5

    public init() {}
    enum CodingKeys: String, CodingKey {
        case iouThreshold = "iou_threshold"
        case maxGap = "max_gap"
        case extendFrames = "extend_frames"
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
