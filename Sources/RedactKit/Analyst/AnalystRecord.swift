import Foundation

/// The receipt's `analyst` section: every decision a person made for the job, with the reason
/// the manifest gives and what it did to the output (docs/receipt.md). Boxes are `[x, y, w, h]`
/// in displayed-frame pixels, times in seconds, frames numbered from 1 as in tracks.json.
public struct AnalystRecord: Codable, Equatable, Sendable {
    public var keep: [KeptTrack]
    public var boxes: [PaintedBox]
    public var excludeRegions: [Excluded]

    public init(keep: [KeptTrack] = [], boxes: [PaintedBox] = [], excludeRegions: [Excluded] = []) {
        self.keep = keep
        self.boxes = boxes
        self.excludeRegions = excludeRegions
    }

    enum CodingKeys: String, CodingKey {
        case keep, boxes
        case excludeRegions = "exclude_regions"
    }

    /// A track left visible.
    public struct KeptTrack: Codable, Equatable, Sendable {
        public var track: Int
        public var reason: String
        /// Frames in which the track had boxes (left unpainted), and the first and last of them.
        public var frames: Int
        public var firstFrame: Int?
        public var lastFrame: Int?
        /// The track's boxes not painted because of this decision.
        public var boxesNotPainted: Int

        enum CodingKeys: String, CodingKey {
            case track, reason, frames
            case firstFrame = "first_frame"
            case lastFrame = "last_frame"
            case boxesNotPainted = "boxes_not_painted"
        }
    }

    /// A manual box as the manifest gives it, and the frames it was painted in.
    public struct PaintedBox: Codable, Equatable, Sendable {
        public struct Keyframe: Codable, Equatable, Sendable {
            public var time: Double
            public var box: [Double]
        }
        public var objectClass: ObjectClass
        public var start: Double
        public var end: Double
        /// Exactly one of `box` and `keyframes`.
        public var box: [Double]?
        public var keyframes: [Keyframe]?
        public var reason: String
        public var framesPainted: Int
        public var firstFrame: Int?
        public var lastFrame: Int?

        enum CodingKeys: String, CodingKey {
            case objectClass = "class"
            case start, end, box, keyframes, reason
            case framesPainted = "frames_painted"
            case firstFrame = "first_frame"
            case lastFrame = "last_frame"
        }
    }

    /// An excluded region and the machine boxes it kept paint off.
    public struct Excluded: Codable, Equatable, Sendable {
        public var box: [Double]
        public var start: Double?
        public var end: Double?
        public var reason: String
        /// Machine boxes overlapping the region, painted everywhere but inside it.
        public var boxesClipped: Int
        /// Machine boxes wholly inside the region, so not painted at all.
        public var boxesNotPainted: Int

        enum CodingKeys: String, CodingKey {
            case box, start, end, reason
            case boxesClipped = "boxes_clipped"
            case boxesNotPainted = "boxes_not_painted"
        }
    }

    // MARK: Decisions only

    /// The decisions of a job as this record states them, without what they did: what
    /// `ResumeCheck` compares with the manifest.
    public struct Decisions: Equatable, Sendable {
        public var keep: [KeepDecision]
        public var boxes: [ManualBox]
        public var excludeRegions: [ExcludeRegion]

        public init(keep: [KeepDecision], boxes: [ManualBox], excludeRegions: [ExcludeRegion]) {
            self.keep = keep
            self.boxes = boxes
            self.excludeRegions = excludeRegions
        }

        public init(_ job: ManifestJob) {
            self.init(keep: job.keep, boxes: job.manualBoxes, excludeRegions: job.excludeRegions)
        }

        public var isEmpty: Bool { keep.isEmpty && boxes.isEmpty && excludeRegions.isEmpty }
    }

    /// Nil when a recorded box is not four numbers (a receipt that is not this version's).
    public var decisions: Decisions? {
        func box(_ a: [Double]) -> Box? { a.count == 4 ? Box(x: a[0], y: a[1], w: a[2], h: a[3]) : nil }
        var manual: [ManualBox] = []
        for b in boxes {
            let shape: ManualBox.Shape
            if let fixed = b.box, b.keyframes == nil, let f = box(fixed) {
                shape = .fixed(f)
            } else if let k = b.keyframes, b.box == nil {
                var frames: [ManualKeyframe] = []
                for f in k {
                    guard let fb = box(f.box) else { return nil }
                    frames.append(ManualKeyframe(time: f.time, box: fb))
                }
                shape = .keyframes(frames)
            } else {
                return nil
            }
            manual.append(ManualBox(objectClass: b.objectClass, start: b.start, end: b.end, shape: shape, reason: b.reason))
        }
        var excluded: [ExcludeRegion] = []
        for e in excludeRegions {
            guard let b = box(e.box) else { return nil }
            excluded.append(ExcludeRegion(box: b, start: e.start, end: e.end, reason: e.reason))
        }
        return Decisions(keep: keep.map { KeepDecision(track: $0.track, reason: $0.reason) }, boxes: manual, excludeRegions: excluded)
    }

    static func array(_ b: Box) -> [Double] { [b.x, b.y, b.w, b.h] }
}
