import Foundation

/// One frame's detections in detections.json.
public struct FrameDetections: Codable, Equatable, Sendable {
    public var frame: Int
    public var pts: Int64
    /// nil (key absent): the detector did not run on this frame (see detector.every).
    public var detections: [Detection]?
    /// Present when the detector looked only at windows around these boxes (display pixels):
    /// an extra frame of a dense stretch, or a calm stretch's window run (`DetectionSchedule.plan`).
    public var windows: [Box]?
    /// True when the whole-frame run looked at the coarse input (`detector.coarse_input_size`),
    /// absent when at the full size (or no whole-frame run).
    public var coarseInput: Bool?

    public init(frame: Int, pts: Int64, detections: [Detection]?, windows: [Box]? = nil, coarseInput: Bool = false) {
        self.frame = frame
        self.pts = pts
        self.detections = detections
        self.windows = windows
        self.coarseInput = coarseInput ? true : nil
    }

    enum CodingKeys: String, CodingKey {
        case frame, pts, detections, windows
        case coarseInput = "coarse_input"
    }
}

/// detections.json: what `redact detect` writes and `redact track` reads.
public struct DetectionsFile: Codable, Equatable, Sendable {
    public var version = 1
    public var kind = "redact.detections"
    public var input: InputReference
    public var geometry: FrameGeometry
    public var model: ModelReference
    public var detector: DetectorConfig
    public var frames: [FrameDetections]
}
