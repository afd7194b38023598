import Foundation

/// One box of a track in tracks.json.
public struct TrackBox: Codable, Equatable, Sendable {
    public var frame: Int
    public var x: Double
    public var y: Double
    public var w: Double
    public var h: Double
    public var score: Double
    public var source: BoxSource
}

public struct TrackRecord: Codable, Equatable, Sendable {
    public var id: Int
    public var objectClass: ObjectClass
    public var firstFrame: Int
    public var lastFrame: Int
    public var boxes: [TrackBox]

    enum CodingKeys: String, CodingKey {
        case id
        case objectClass = "class"
        case firstFrame = "first_frame"
        case lastFrame = "last_frame"
        case boxes
    }

    /// A detected (or manual) box with at least this many frames before it without one of its
    /// track: 3 detector runs missed the face at the default schedule (`detector.every` 2), so
    /// the tracker carried the track (flow, prediction, `max_gap`) and then matched a detection
    /// to it by position alone, which may be another face: someone who walked in front, or took
    /// the place of the one who left.
    public static let pickUpGap = 8

    /// The boxes that are evidence of the object there: detected (or drawn by hand, `manual`),
    /// with a size; in frame order.
    public var evidence: [TrackBox] {
        boxes.filter { ($0.source == .detected || $0.source == .manual) && $0.w > 0 && $0.h > 0 }.sorted { $0.frame < $1.frame }
    }

    /// Where the track was picked up again (`pickUpGap`): frames of its `evidence`, each with
    /// the frames before it, since the previous evidence, without any. The track's first box is
    /// not a pick-up.
    public var pickUps: [Int: Int] {
        let frames = evidence.map(\.frame)
        var out: [Int: Int] = [:]
        for (previous, frame) in zip(frames, frames.dropFirst()) where frame - previous - 1 >= Self.pickUpGap {
            out[frame] = frame - previous - 1
        }
        return out
    }
}

/// tracks.json: what `redact track` writes and `redact render` reads. Boxes are in display pixels.
public struct TracksFile: Codable, Equatable, Sendable {
    public var version = 1
    public var kind = "redact.tracks"
    public var input: InputReference
    public var geometry: FrameGeometry
    public var model: ModelReference?
    public var detector: DetectorConfig?
    public var tracker: TrackerConfig
    public var frameCount: Int
    public var tracks: [TrackRecord]
    /// The redact version that made it (`redact run` only; nil in other files).
    public var toolVersion: String?
    /// SHA-256 of the executable that made it (`redactExecutableSHA256`; `redact run` only).
    public var executableSHA256: String?
    /// Every model used to find the boxes, the face model first (`redact run` only).
    public var models: [ModelReference]?
    /// `redact run`'s signature over the rest of the file, so that a later run reuses only boxes
    /// it made itself, unchanged (`TracksReuse`); nil in other files.
    public var seal: TracksSeal?

    enum CodingKeys: String, CodingKey {
        case version, kind, input, geometry, model, detector, tracker
        case frameCount = "frame_count"
        case tracks
        case toolVersion = "tool_version"
        case executableSHA256 = "executable_sha256"
        case models, seal
    }

    /// Builds the file from the tracker's per-frame output.
    init(frames: [FrameBoxes], input: InputReference, geometry: FrameGeometry, model: ModelReference?,
         detector: DetectorConfig?, tracker: TrackerConfig) {
        var byTrack: [Int: TrackRecord] = [:]
        for f in frames {
            for b in f.boxes {
                let box = TrackBox(frame: f.frame, x: b.box.x, y: b.box.y, w: b.box.w, h: b.box.h, score: b.score, source: b.source)
                if var t = byTrack[b.trackID] {
                    t.boxes.append(box)
                    t.firstFrame = min(t.firstFrame, f.frame)
                    t.lastFrame = max(t.lastFrame, f.frame)
                    byTrack[b.trackID] = t
                } else {
                    byTrack[b.trackID] = TrackRecord(id: b.trackID, objectClass: b.objectClass, firstFrame: f.frame, lastFrame: f.frame, boxes: [box])
                }
            }
        }
        self.input = input
        self.geometry = geometry
        self.model = model
        self.detector = detector
        self.tracker = tracker
        self.frameCount = frames.count
        self.tracks = byTrack.values.sorted { $0.id < $1.id }
    }

    /// Boxes to paint, per frame.
    func boxesByFrame() -> [Int: [TrackedBox]] {
        var result: [Int: [TrackedBox]] = [:]
        for t in tracks {
            for b in t.boxes {
                result[b.frame, default: []].append(TrackedBox(trackID: t.id, objectClass: t.objectClass,
                                                               box: Box(x: b.x, y: b.y, w: b.w, h: b.h), score: b.score, source: b.source))
            }
        }
        return result
    }
}

/// What `redact sign --tracks` records from a tracks.json: its configuration, model and counts.
public struct TracksSummary {
    public var models: [ReceiptPredicate.Model]
    public var config: JobConfig
    public var counts: StageCounts

    /// The file it summarises (`Receipts.checkTracksPainted` tests its boxes).
    let file: TracksFile

    public init(url: URL) throws {
        file = try JSONFiles.read(TracksFile.self, from: url)
        models = file.model.map { [ReceiptPredicate.Model(id: $0.id, sha256: $0.sha256)] } ?? []
        config = JobConfig()
        if let d = file.detector { config.detector = d }
        config.tracker = file.tracker
        counts = StageCounts()
        counts.frames = file.frameCount
        counts.tracks = file.tracks.count
        counts.detections = file.tracks.reduce(0) { $0 + $1.boxes.filter { $0.source == .detected }.count }
        counts.redactedBoxes = file.tracks.reduce(0) { $0 + $1.boxes.count }
        counts.redactedFrames = Set(file.tracks.flatMap { $0.boxes.map(\.frame) }).count
    }
}
