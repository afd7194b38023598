import Foundation

/// How a tracked box was found.
public enum BoxSource: String, Codable, CaseIterable, Sendable {
    /// The detector found it in this frame.
    case detected
    /// Between two detections of the same track: linear interpolation.
    case interpolated
    /// Before a track's first or after its last detection (the object is usually visible a
    /// little before the detector picks it up and after it loses it).
    case extended
    /// Drawn by an analyst.
    case manual
}

/// A box that will be redacted, with the track it belongs to and where it came from.
public struct TrackedBox: Codable, Equatable, Sendable {
    public var trackID: Int
    public var objectClass: ObjectClass
    public var box: Box
    public var score: Double
    public var source: BoxSource

    enum CodingKeys: String, CodingKey {
        case trackID = "track"
        case objectClass = "class"
        case box, score, source
    }
}

/// Every box to redact in one frame (1-based frame number).
public struct FrameBoxes: Equatable, Sendable {
    public var frame: Int
    public var boxes: [TrackedBox]
}

/// Groups per-frame detections into tracks in one pass, holding back a bounded window of
/// frames so that gaps can be filled and new tracks extended backwards before a frame is
/// released for rendering. The same code serves `redact track` (offline) and `redact run`
/// (streaming), so both give the same boxes and the same track ids for the same input.
public final class OnlineTracker {
    private struct Track {
        var id: Int
        var objectClass: ObjectClass
        var lastBox: Box
        var lastScore: Double
        var lastFrame: Int
        /// Centre motion in display pixels per frame (smoothed).
        var vx: Double = 0
        var vy: Double = 0
        var hits = 1

        func predicted(at frame: Int) -> Box {
            let dt = Double(frame - lastFrame)
            var b = lastBox
            b.x += vx * dt
            b.y += vy * dt
            return b
        }
    }

    public let config: TrackerConfig
    /// Frames held back before release.
    public var windowLength: Int { max(config.maxGap, config.extendFrames) }
    private var active: [Track] = []
    private var pending: [FrameBoxes] = []
    private var nextID = 1
    private var lastPushed = 0
    /// Uncertainty growth of extrapolated boxes, per frame, as a fraction of the box size per side.
    private let extensionGrowth = 0.05

    public init(config: TrackerConfig) {
        self.config = config
    }

    /// Tracks started so far.
    public var trackCount: Int { nextID - 1 }

    /// Adds one frame's detections (frames must come in order, 1, 2, 3...). Returns the frames
    /// whose boxes are now final, oldest first.
    public func push(frame: Int, detections: [Detection]) -> [FrameBoxes] {
        precondition(frame == lastPushed + 1, "frames must be pushed in order")
        lastPushed = frame
        var current = FrameBoxes(frame: frame, boxes: [])

        // Greedy association by IoU against each track's predicted box, best pairs first.
        var pairs: [(iou: Double, track: Int, det: Int)] = []
        for (ti, t) in active.enumerated() {
            let p = t.predicted(at: frame)
            for (di, d) in detections.enumerated() where d.objectClass == t.objectClass {
                let iou = p.intersectionOverUnion(d.box)
                if iou >= config.iouThreshold { pairs.append((iou, ti, di)) }
            }
        }
        pairs.sort { $0.iou != $1.iou ? $0.iou > $1.iou : ($0.track, $0.det) < ($1.track, $1.det) }
        var trackTaken = Set<Int>(), detTaken = Set<Int>()
        for pair in pairs where !trackTaken.contains(pair.track) && !detTaken.contains(pair.det) {
            trackTaken.insert(pair.track)
            detTaken.insert(pair.det)
            let d = detections[pair.det]
            var t = active[pair.track]
            fillGap(track: t, until: frame, with: d.box)
            let dt = Double(frame - t.lastFrame)
            let vx = (d.box.centerX - t.lastBox.centerX) / dt
            let vy = (d.box.centerY - t.lastBox.centerY) / dt
            t.vx = t.hits == 1 ? vx : 0.5 * t.vx + 0.5 * vx
            t.vy = t.hits == 1 ? vy : 0.5 * t.vy + 0.5 * vy
            t.lastBox = d.box
            t.lastScore = d.score
            t.lastFrame = frame
            t.hits += 1
            active[pair.track] = t
            current.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: d.box, score: d.score, source: .detected))
        }

        // Tracks without a detection here: keep covering them for a few frames, then wait for a
        // detection that would fill the gap, then retire.
        var survivors: [Track] = []
        for (ti, t) in active.enumerated() {
            if trackTaken.contains(ti) {
                survivors.append(t)
                continue
            }
            let missed = frame - t.lastFrame
            if missed <= config.extendFrames {
                let grown = t.predicted(at: frame).padded(by: extensionGrowth * Double(missed))
                current.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: grown, score: t.lastScore, source: .extended))
            }
            if missed <= config.maxGap { survivors.append(t) }
        }
        active = survivors

        // New tracks, extended backwards over frames still held.
        for (di, d) in detections.enumerated() where !detTaken.contains(di) {
            let t = Track(id: nextID, objectClass: d.objectClass, lastBox: d.box, lastScore: d.score, lastFrame: frame)
            nextID += 1
            active.append(t)
            current.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: d.box, score: d.score, source: .detected))
            for back in 1...max(1, config.extendFrames) where back <= config.extendFrames {
                guard let slot = slotIndex(frame - back) else { break }
                let grown = d.box.padded(by: extensionGrowth * Double(back))
                pending[slot].boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: grown, score: d.score, source: .extended))
            }
        }

        pending.append(current)
        let releaseCount = max(0, pending.count - windowLength - 1)
        let released = Array(pending.prefix(releaseCount))
        pending.removeFirst(releaseCount)
        return released
    }

    /// Releases every frame still held (end of input).
    public func finish() -> [FrameBoxes] {
        let released = pending
        pending.removeAll()
        active.removeAll()
        return released
    }

    private func slotIndex(_ frame: Int) -> Int? {
        guard let first = pending.first?.frame else { return nil }
        let i = frame - first
        return i >= 0 && i < pending.count ? i : nil
    }

    /// Replaces a track's extrapolated boxes between its last detection and `frame` with boxes
    /// interpolated towards the new detection.
    private func fillGap(track t: Track, until frame: Int, with box: Box) {
        guard frame - t.lastFrame > 1 else { return }
        for f in (t.lastFrame + 1)..<frame {
            guard let slot = slotIndex(f) else { continue }
            pending[slot].boxes.removeAll { $0.trackID == t.id }
            let fraction = Double(f - t.lastFrame) / Double(frame - t.lastFrame)
            let b = t.lastBox.interpolated(to: box, t: fraction)
            pending[slot].boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: b, score: min(t.lastScore, 1), source: .interpolated))
        }
    }
}
