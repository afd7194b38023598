import Foundation

/// How a tracked box was found.
public enum BoxSource: String, Codable, CaseIterable, Sendable {
    /// The detector found it in this frame.
    case detected
    /// Followed from a neighbouring frame by optical flow (the detector missed it here).
    case flow
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

/// Groups per-frame detections into tracks in one pass, in the spirit of ByteTrack: a Kalman
/// filter per track predicts its box; confident detections are associated first, weak ones
/// (`lowScore` up to the detector threshold) second and only to existing tracks; a track the
/// detector loses is followed by optical flow; gaps are filled and tracks extended. A bounded
/// window of frames is held back so that boxes can still be added to recent frames (gap filling,
/// backward extension) before they are released for rendering. The same code serves
/// `redact track` (offline) and `redact run` (streaming), so both give the same boxes and ids.
public final class OnlineTracker {
    private struct Track {
        var id: Int
        var objectClass: ObjectClass
        var filter: BoxKalman
        /// Last detected box and its frame.
        var lastDetection: Box
        var lastDetectedFrame: Int
        var lastScore: Double
        /// Last box output for this track (detected or flow) and its frame.
        var lastObserved: Box
        var lastObservedFrame: Int
        var hits = 1
        var firstFrame: Int
        /// Detections that are not large and reach both the birth threshold and
        /// `TrackerConfig.confirmHitsScore` (weak ones only continue a track: they do not make
        /// it more certain; see `TrackerConfig.largeFraction`).
        var confirmingHits = 0
        /// One detection was confident enough for its size to confirm the track.
        var confidentHit = false
        /// Last frame in which, lost, it was where a nearer face hides it (`isHidden`); nil once
        /// it is detected again.
        var lastHiddenFrame: Int?
        /// Centres of the last `steadySpan` detections, oldest first.
        var recentCentres: [(frame: Int, x: Double, y: Double)] = []
        /// Motion of the box centre per frame between the track's last two detections (zero
        /// after one): where flow loses a moving face, its extension follows this motion.
        var velocity: (x: Double, y: Double) { motion(overLast: 2) }
        /// Motion of the box centre per frame over the last `steadySpan` detections: where
        /// detections come in consecutive frames, one box a few pixels wider or narrower skews
        /// `velocity` by as much; this one is steadier, and slower to follow a change of speed.
        var steadyVelocity: (x: Double, y: Double) { motion(overLast: Self.steadySpan) }
        static let steadySpan = 4

        /// Motion of the box centre per frame from the first to the last of the track's last
        /// `count` detections (zero after one).
        func motion(overLast count: Int) -> (x: Double, y: Double) {
            let recent = recentCentres.suffix(count)
            guard let first = recent.first, let last = recent.last, last.frame > first.frame else { return (0, 0) }
            let span = Double(last.frame - first.frame)
            return ((last.x - first.x) / span, (last.y - first.y) / span)
        }

        mutating func remember(_ box: Box, at frame: Int) {
            recentCentres.append((frame, box.centerX, box.centerY))
            if recentCentres.count > Self.steadySpan { recentCentres.removeFirst() }
        }
    }

    /// Followed by flow and extended in full (see `TrackerConfig.confirmScore`).
    private func isConfirmed(_ t: Track) -> Bool {
        t.hits >= config.minHits && (t.confidentHit || t.confirmingHits >= confirmHitsNeeded)
    }

    /// `TrackerConfig.confirmHits` counts detections in consecutive frames; when the detector
    /// runs only every n-th frame, as many frames of support need n times fewer detections.
    private var confirmHitsNeeded: Int { max(1, (config.confirmHits + detectionInterval - 1) / detectionInterval) }

    /// Counts one detection towards its track's confirmation.
    private func record(_ d: Detection, in t: inout Track) {
        let large = frameLongSide.map { d.box.h >= config.largeFraction * $0 } ?? false
        if d.score >= (large ? max(config.confirmScore, config.confirmLargeScore) : config.confirmScore) { t.confidentHit = true }
        if !large && d.score >= birthThreshold && d.score >= config.confirmHitsScore { t.confirmingHits += 1 }
    }

    /// Frames an unconfirmed track is extended by: a detection never goes unredacted in the
    /// frames right around it, but a weak, unsupported one is not carried for long. Counted in
    /// detector runs (two), not frames: the frames between runs are no evidence either way, and
    /// a face the detector finds only in every other run must not leak in between.
    private var unconfirmedExtension: Int { min(2, config.extendFrames) * detectionInterval }

    private struct Slot {
        var boxes: FrameBoxes
        var image: GrayImage?
    }

    public let config: TrackerConfig
    /// Detections scoring at least this start tracks.
    public let birthThreshold: Double
    /// The displayed frame's longer side in pixels, for `TrackerConfig.largeFraction`; nil: no
    /// detection counts as large.
    public let frameLongSide: Double?
    /// The displayed frame's size, for tracks entering through its edge; nil: unknown.
    public let frameSize: (width: Double, height: Double)?
    /// Frames between two runs of the detector (`DetectorConfig.every`); frames pushed with no
    /// detections (nil) are the ones in between.
    public let detectionInterval: Int
    /// Frames held before release.
    public var windowLength: Int { max(config.maxGap, config.extendFrames, config.reachBack, unconfirmedExtension) }
    /// How far back a confirmed track reaches from its first detection while optical flow
    /// follows it there: every frame still held. A face the detector first sees late was most
    /// likely in view before, and flow says where; late is common where whole-frame runs are
    /// sparse (calm stretches: `2 * every` frames apart) and a fast face enters blurred (on a
    /// machine computing in float32, dev03's entering face was first detected surely 15 frames
    /// after it appeared, 5 more than `extendFrames`). Where flow fails, the extension keeps the
    /// box and stops after `extendFrames`, as forwards.
    private var followedBackwardReach: Int { windowLength }
    private var active: [Track] = []
    private var pending: [Slot] = []
    private var previousImage: GrayImage?
    private var nextID = 1
    private var lastPushed = 0
    /// Growth of boxes that are extrapolated (extended), per frame, as a fraction of the box
    /// size per side: the longer since the object was seen, the less sure where it is.
    private let extensionGrowth = 0.05
    /// Extrapolated boxes stop growing at this fraction per side.
    private let maxExtensionGrowth = 0.3
    /// How much an extrapolated box grows per side `frames` frames from the detection it comes from.
    private func extensionPadding(_ frames: Double) -> Double { min(maxExtensionGrowth, extensionGrowth * frames) }
    /// Growth of flow-followed boxes per frame since the last detection (flow drifts slowly).
    private let flowGrowth = 0.02
    /// IoU a weak detection needs with a track's prediction (stricter than for confident ones).
    private let lowScoreIoU = 0.4
    /// A face moving at least this fraction of its size per frame (per axis) between its last two
    /// detections is fast: flow tends to stay on the background behind it and the Kalman
    /// filter lags, so association and the boxes painted after it is lost also use that motion
    /// (dev benchmark: faces crossing a 1080p frame at 45-55 px per frame, 43 px tall). Slower
    /// motion is left to the filter: two detections of a still face differ by a few pixels.
    /// The same share makes the detection schedule run densely (`DetectionSchedule`).
    private let fastMotion = DetectionSchedule.fastMotion
    /// How far off a fast face's speed may be, as a share of it, when its box is painted where
    /// that motion puts it (`paintedAhead`): the speed comes from the last two detections, and a
    /// face that slows (it turns, or passes behind something and its boxes narrow) falls behind
    /// that place by this share of the distance. On the dev benchmark (dev04) a 43 px face at
    /// 1080p, half hidden and slowing from 44 to 26 px per frame, came out from behind an
    /// occluder 6-7 frames after its last detection, 25-53 px behind the box its speed gave
    /// (which of the two depended on whether a 0.15 detection was found on the last frame).
    static let aheadSpeedSpread = 0.3

    public init(config: TrackerConfig, birthThreshold: Double = DetectorConfig().threshold, frameLongSide: Double? = nil,
                frameSize: (width: Double, height: Double)? = nil, detectionInterval: Int = 1) {
        self.config = config
        self.detectionInterval = max(1, detectionInterval)
        self.birthThreshold = birthThreshold
        self.frameLongSide = frameLongSide
        self.frameSize = frameSize
    }

    public convenience init(config: TrackerConfig, birthThreshold: Double, geometry: FrameGeometry, detectionInterval: Int = 1) {
        self.init(config: config, birthThreshold: birthThreshold,
                  frameLongSide: Double(max(geometry.displayWidth, geometry.displayHeight)),
                  frameSize: (Double(geometry.displayWidth), Double(geometry.displayHeight)),
                  detectionInterval: detectionInterval)
    }

    /// Tracks started so far.
    public var trackCount: Int { nextID - 1 }

    /// Adds one frame's detections (frames in order, 1, 2, 3...). Returns the frames whose
    /// boxes are now final, oldest first.
    public func push(frame: Int, detections: [Detection]) -> [FrameBoxes] {
        push(frame: frame, detections: detections, windowed: false, image: nil)
    }

    /// `detections == nil`: the detector did not run on this frame (a skipped frame is no
    /// evidence that an object left): tracks are only followed and extended. `windowed`: it
    /// looked only at windows around some faces: its detections continue and start tracks as
    /// usual, and the other tracks are treated as on a skipped frame.
    func push(frame: Int, detections found: [Detection]?, windowed: Bool = false, image: GrayImage?) -> [FrameBoxes] {
        precondition(frame == lastPushed + 1, "frames must be pushed in order")
        lastPushed = frame
        let detectorRan = found != nil && !windowed
        let detections = found ?? []
        var current = FrameBoxes(frame: frame, boxes: [])
        for i in active.indices { active[i].filter.predict() }

        // Optical flow first, for every track seen in the previous frame: where the image says
        // each one moved. Association compares detections with this box as well as with the
        // Kalman prediction: a track born one frame ago has no velocity yet, and a fast face
        // (dev benchmark: 45-55 px per frame at 1080p, detected in consecutive frames) otherwise
        // splits into one-detection tracks that are each carried too little.
        var flowed: [Int: Box] = [:]
        if config.flow, let previous = previousImage, let image {
            let seen = active.indices.filter { active[$0].lastObservedFrame == frame - 1 }
            let moved = flowTrack(seen.map { active[$0].lastObserved }, from: previous, to: image)
            for (k, ti) in seen.enumerated() {
                if let box = moved[k], box.w > 1, box.h > 1 { flowed[ti] = box }
            }
        }

        let strong = detections.indices.filter { detections[$0].score >= birthThreshold }
        let weak = detections.indices.filter { detections[$0].score < birthThreshold && detections[$0].score >= config.lowScore }
        var matchedTracks = Set<Int>(), usedDetections = Set<Int>()
        // As in ByteTrack, weak detections continue only confirmed tracks: on an unconfirmed
        // one they were weak evidence for weak evidence, and most such tracks were textures
        // painted frame after frame. Its frames between confident detections are covered by
        // interpolation if it is confirmed while they are held (`fillHeldGaps`).
        let unconfirmed = Set(active.indices.filter { !isConfirmed(active[$0]) })
        func continueTrack(_ ti: Int, with di: Int, bridged: Bool) {
            matchedTracks.insert(ti)
            usedDetections.insert(di)
            let d = detections[di]
            let before = active[ti]
            let wasConfirmed = isConfirmed(before)
            active[ti].filter.update(d.box)
            record(d, in: &active[ti])
            active[ti].hits += 1
            let confirmed = isConfirmed(active[ti])
            fillGap(track: before, until: frame, with: d.box, confirmed: confirmed, bridged: bridged)
            active[ti].remember(d.box, at: frame)
            active[ti].lastDetection = d.box
            active[ti].lastDetectedFrame = frame
            active[ti].lastHiddenFrame = nil
            active[ti].lastScore = d.score
            active[ti].lastObserved = d.box
            active[ti].lastObservedFrame = frame
            current.boxes.append(TrackedBox(trackID: active[ti].id, objectClass: d.objectClass, box: d.box, score: d.score, source: .detected))
            // Confirmation, or a second detection that is not large and reaches
            // `confirmHitsScore` (see `TrackerConfig.largeFraction`), is support enough to
            // reach back in full. (Two detections just over the threshold were false ones on
            // the dev benchmark, a parked car at 0.21 and 0.24, reaching back 10 frames.)
            if (!wasConfirmed && confirmed) || (before.confirmingHits < 2 && active[ti].confirmingHits >= 2) {
                // Only a confirmed track reaches past `extendFrames` (weak, sparse tracks were
                // most of the over-redaction on the dev benchmark).
                extendBackwards(active[ti], image: image, frames: confirmed ? followedBackwardReach : config.extendFrames)
            }
            if !wasConfirmed && confirmed { fillHeldGaps(of: active[ti]) }
        }
        for (candidates, minIoU, skipped) in [(strong, config.iouThreshold, Set<Int>()), (weak, max(config.iouThreshold, lowScoreIoU), unconfirmed)] {
            for (ti, di) in associate(candidates, detections, excluding: matchedTracks.union(skipped), flowed: flowed, minIoU: minIoU) {
                continueTrack(ti, with: di, bridged: false)
            }
        }
        // A fast face whose first detections each land too far from the last for a track with
        // no speed yet to claim them (`bridge`): the second continues the first's track, which
        // then has a speed to be matched, followed and painted by.
        for (ti, di) in bridge(strong.filter { !usedDetections.contains($0) }, detections, excluding: matchedTracks, frame: frame) {
            continueTrack(ti, with: di, bridged: true)
        }
        // A face coming out from behind a nearer one, found weakly where its own motion took
        // it: the weak detection, which would otherwise be dropped, continues its track. It also
        // reaches back as a new track's first detection would: in a crowd it may be another face
        // that came into view there (dev09: a face appearing beside where a hidden one was
        // going, found at 0.11 two frames before its first sure detection), and a face joined
        // to an old track would otherwise get only the boxes interpolated from that track's
        // last detection.
        for (ti, di) in rejoinHidden(weak.filter { !usedDetections.contains($0) }, detections, excluding: matchedTracks, frame: frame) {
            continueTrack(ti, with: di, bridged: true)
            reachBack(newTrack(detections[di], id: active[ti].id, frame: frame), image: image, replacing: false)
        }

        // Tracks the detector lost here: follow them with optical flow (confirmed ones up to
        // `maxGap` frames, unconfirmed ones only as far as they are extended), else extrapolate.
        // Following even a one-detection track matters: a fast face entering the frame moves
        // too far between its first detections for a box with no velocity yet to overlap the
        // next one, and would split into one-detection tracks.
        var lost = active.indices.filter { !matchedTracks.contains($0) }
        if !flowed.isEmpty {
            let followable = lost.filter {
                let reach = isConfirmed(active[$0]) || !detectorRan ? config.maxGap : unconfirmedExtension
                return active[$0].lastObservedFrame == frame - 1 && frame - active[$0].lastDetectedFrame <= reach
            }
            for ti in followable {
                guard let box = flowed[ti] else { continue }
                let sinceDetection = Double(frame - active[ti].lastDetectedFrame)
                let shown = box.padded(by: min(0.3, flowGrowth * sinceDetection))
                active[ti].filter.update(box, noise: 2)
                active[ti].lastObserved = box
                active[ti].lastObservedFrame = frame
                current.boxes.append(TrackedBox(trackID: active[ti].id, objectClass: active[ti].objectClass, box: shown,
                                                score: active[ti].lastScore, source: .flow))
                // A fast face that flow did not keep up with: also where its motion puts it.
                if let ahead = paintedAhead(active[ti].lastDetection, byFrames: frame - active[ti].lastDetectedFrame,
                                            velocity: active[ti].velocity),
                   ahead.intersectionOverUnion(box) < 0.5 {
                    current.boxes.append(TrackedBox(trackID: active[ti].id, objectClass: active[ti].objectClass,
                                                    box: ahead.padded(by: extensionPadding(sinceDetection)),
                                                    score: active[ti].lastScore, source: .extended))
                }
            }
            lost.removeAll { active[$0].lastObservedFrame == frame }
        }
        for ti in lost {
            let t = active[ti]
            let missed = frame - t.lastObservedFrame
            // An unconfirmed track is carried (by flow or extension) only so far past its last detection.
            let carried = isConfirmed(t) ? missed <= config.extendFrames : frame - t.lastDetectedFrame <= unconfirmedExtension
            if carried {
                let growth = extensionPadding(Double(missed))
                var grown = t.filter.box.padded(by: growth)
                // The Kalman filter's velocity is still small after a few detections: a fast face
                // (`fastMotion`) is also covered where its last detections' motion puts it.
                if let ahead = paintedAhead(t.lastDetection, byFrames: frame - t.lastDetectedFrame, velocity: t.velocity) {
                    grown = grown.enclosing(ahead.padded(by: growth))
                }
                current.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: grown, score: t.lastScore, source: .extended))
            }
        }
        followHidden(frame: frame, into: &current)
        active.removeAll { t in
            frame - t.lastDetectedFrame > (wasHiddenLately(t, frame: frame) ? hiddenReach : config.maxGap)
                || (!isConfirmed(t) && frame - t.lastDetectedFrame > max(config.extendFrames, unconfirmedExtension))
        }

        // New tracks from confident detections nobody claimed.
        for di in strong where !usedDetections.contains(di) {
            let d = detections[di]
            let t = newTrack(d, id: nextID, frame: frame)
            nextID += 1
            active.append(t)
            current.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: d.box, score: d.score, source: .detected))
            reachBack(t, image: image)
        }

        pending.append(Slot(boxes: current, image: config.flow ? image : nil))
        previousImage = image
        let releaseCount = max(0, pending.count - windowLength - 1)
        let released = pending.prefix(releaseCount).map(\.boxes)
        pending.removeFirst(releaseCount)
        return released
    }

    /// Releases every frame still held (end of input).
    public func finish() -> [FrameBoxes] {
        let released = pending.map(\.boxes)
        pending.removeAll()
        active.removeAll()
        previousImage = nil
        return released
    }

    /// Greedy association, best IoU first, ties broken by index so results are deterministic. A
    /// track's overlap with a detection is the best of its Kalman prediction's, where flow
    /// followed it into this frame its `flowed` box's, and for a fast track (`fastMotion`) its
    /// last detection moved on at its speed.
    private func associate(_ candidates: [Int], _ detections: [Detection], excluding taken: Set<Int>, flowed: [Int: Box],
                           minIoU: Double) -> [(Int, Int)] {
        var pairs: [(iou: Double, track: Int, det: Int)] = []
        // Fast tracks: where their last two detections' motion puts them now, and where their
        // steadier motion over the last few does (dev04 mirrored: a fast face's box was 10 px
        // wider in one of its detections, its speed from the last two came out 61 px per frame
        // against 51, and its next detection started a new, short-lived track beside it); each
        // also at `aheadSpeedSpread` more and less of that motion, for a face that sped up or
        // slowed since (dev04 at twice its speed: a face speeding up from 59 to 72 px a frame
        // was found again 27 px beyond its last speed's place and started a new track).
        var aheads: [Int: [Box]] = [:]
        for (ti, t) in active.enumerated() where !taken.contains(ti) {
            // With two detections or fewer remembered, both speeds are the same one.
            let speeds = t.recentCentres.count > 2 ? [t.velocity, t.steadyVelocity] : [t.velocity]
            aheads[ti] = speeds.flatMap { v in
                [1 - Self.aheadSpeedSpread, 1.0, 1 + Self.aheadSpeedSpread].compactMap { k in
                    displaced(t.lastDetection, byFrames: lastPushed - t.lastDetectedFrame, velocity: (v.x * k, v.y * k), clearMotion: fastMotion * k)
                }
            }
        }
        for (ti, t) in active.enumerated() where !taken.contains(ti) {
            let predicted = t.filter.box
            for di in candidates where detections[di].objectClass == t.objectClass {
                var iou = predicted.intersectionOverUnion(detections[di].box)
                if let moved = flowed[ti] { iou = max(iou, moved.intersectionOverUnion(detections[di].box)) }
                for ahead in aheads[ti] ?? [] { iou = max(iou, ahead.intersectionOverUnion(detections[di].box)) }
                if iou >= minIoU { pairs.append((iou, ti, di)) }
            }
        }
        return Self.oneToOne(pairs.map { (-$0.iou, $0.track, $0.det) })
    }

    /// Greedy one-to-one pairing: pairs taken lowest `rank` first (ties by track, then
    /// detection, so results are deterministic), each track and each detection at most once.
    private static func oneToOne(_ pairs: [(rank: Double, track: Int, det: Int)]) -> [(Int, Int)] {
        let ordered = pairs.sorted { $0.rank != $1.rank ? $0.rank < $1.rank : ($0.track, $0.det) < ($1.track, $1.det) }
        var trackTaken = Set<Int>(), detTaken = Set<Int>(), result: [(Int, Int)] = []
        for p in ordered where !trackTaken.contains(p.track) && !detTaken.contains(p.det) {
            trackTaken.insert(p.track)
            detTaken.insert(p.det)
            result.append((p.track, p.det))
        }
        return result
    }

    /// Joins a confident detection that no track claimed to a track with one detection (no
    /// speed yet) where the two may be the same face moving fast: no more than
    /// `unconfirmedExtension` frames apart, and moved from one to the other at least `fastMotion`
    /// and at most `DetectionSchedule.farthestMotion` of its height per frame, with heights at
    /// most `DetectionSchedule.sizeRatio` apart (the rule by which the detection schedule gives
    /// a detection its motion, `DetectionSchedule.motion`). Slowest first, one to one. Without
    /// it such a face splits into one-detection tracks, each painted where it was found while
    /// the face has moved on (dev clips at twice their speed: a 28 px face at 45 px a frame
    /// detected on frames 45 and 49 only leaked on 46-47; a 43 px face at 100 px a frame, on 39
    /// and 41, leaked on 40 and 42-43; a 55 px face at 50 px a frame started a new track at
    /// every detection and leaked before the first). In a crowd it may join two faces; the
    /// first keeps the boxes it was extended by (`fillGap`), and a face it then leaves is a new
    /// track when next detected, reaching back as new tracks do.
    private func bridge(_ candidates: [Int], _ detections: [Detection], excluding taken: Set<Int>, frame: Int) -> [(Int, Int)] {
        var pairs: [(rank: Double, track: Int, det: Int)] = []  // rank: the motion, slowest first
        for (ti, t) in active.enumerated() where !taken.contains(ti) && t.recentCentres.count == 1 {
            let frames = frame - t.lastDetectedFrame
            guard frames >= 1, frames <= unconfirmedExtension else { continue }
            for di in candidates where detections[di].objectClass == t.objectClass {
                guard let m = DetectionSchedule.motion(from: t.lastDetection, to: detections[di].box, frames: frames) else { continue }
                if m.perFrame >= fastMotion { pairs.append((m.perFrame, ti, di)) }
            }
        }
        return Self.oneToOne(pairs)
    }

    /// A nearer face is at least this many times as tall as the face it hides.
    static let hidingSizeRatio = 1.5
    /// A nearer face hides what lies within its box padded by this share per side (its head and
    /// hair around the face box; `isHidden`).
    static let hidingPadding = 0.25
    /// A lost face is hidden when at least this share of its box lies there.
    static let hiddenShare = 0.25

    /// How long a confirmed track hidden behind a nearer face (`followHidden`) is kept past its
    /// last detection: twice `maxGap`. A face crossing behind a passer-by is lost while it goes
    /// behind, while it is hidden and while it comes out, and the detector finds it again only
    /// weakly while it is partly hidden: on the dev benchmark (dev09 played backwards) a 43 px
    /// face went behind a 125 px face moving the other way, was last detected 11 frames before it
    /// came out and was seen again, weakly (0.14-0.16), 18 and 20 frames after.
    private var hiddenReach: Int { 2 * config.maxGap }

    /// Whether the track was hidden behind a nearer face no more than `extendFrames` ago, and is
    /// still within `hiddenReach` of its last detection.
    private func wasHiddenLately(_ t: Track, frame: Int) -> Bool {
        guard let hidden = t.lastHiddenFrame else { return false }
        return frame - hidden <= config.extendFrames && frame - t.lastDetectedFrame <= hiddenReach
    }

    /// Where a lost track's own motion puts it in `frame`: its last detection moved on at its
    /// steady speed. Slow motion too: a face hidden for 20 frames drifting 2 px a frame (under
    /// `displaced`'s clear motion for a 46 px box) comes out 40 px away (dev09 played backwards).
    private func ownMotionBox(_ t: Track, at frame: Int) -> Box {
        displaced(t.lastDetection, byFrames: frame - t.lastDetectedFrame, velocity: t.steadyVelocity, clearMotion: 0) ?? t.lastDetection
    }

    /// The box painted for a lost track in `frame` while it is hidden (`followHidden`), and
    /// where a detection continues it (`rejoinHidden`): its own-motion box grown as extended
    /// boxes grow with the time since its last detection.
    private func hiddenPaintedBox(own: Box, of t: Track, at frame: Int) -> Box {
        own.padded(by: extensionPadding(Double(frame - t.lastDetectedFrame)))
    }

    /// Whether `box` lies largely (`hiddenShare`) within the padded box of another confirmed
    /// track of its class seen in this frame and at least `hidingSizeRatio` times as tall: a
    /// nearer face, in front of it.
    private func isHidden(_ box: Box, of ti: Int, frame: Int) -> Bool {
        active.indices.contains { oi in
            let o = active[oi]
            guard oi != ti, o.objectClass == active[ti].objectClass, o.lastObservedFrame == frame, isConfirmed(o),
                  o.lastObserved.h >= Self.hidingSizeRatio * box.h else { return false }
            return box.intersectionArea(o.lastObserved.padded(by: Self.hidingPadding)) >= Self.hiddenShare * box.area
        }
    }

    /// Confirmed tracks the detector lost where a nearer face hides them (by their own motion):
    /// a face passing behind someone. Optical flow then follows the one in front, and the
    /// Kalman filter with it, so the face is also painted where its own motion puts it, growing,
    /// while it is hidden and for `extendFrames` after (it comes out where that motion takes it,
    /// the detector finds it late and weakly there), and the track is kept for `hiddenReach`
    /// so that such a detection, matched there (`rejoinHidden`), continues it.
    private func followHidden(frame: Int, into current: inout FrameBoxes) {
        for ti in active.indices where active[ti].lastDetectedFrame < frame && isConfirmed(active[ti]) {
            let t = active[ti]
            let own = ownMotionBox(t, at: frame)
            if isHidden(own, of: ti, frame: frame) { active[ti].lastHiddenFrame = frame }
            guard wasHiddenLately(active[ti], frame: frame), isInPicture(own) else { continue }
            current.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: hiddenPaintedBox(own: own, of: t, at: frame),
                                            score: t.lastScore, source: .extended))
        }
    }

    /// A track whose first detection is `d`, in `frame`.
    private func newTrack(_ d: Detection, id: Int, frame: Int) -> Track {
        var t = Track(id: id, objectClass: d.objectClass, filter: BoxKalman(d.box), lastDetection: d.box,
                      lastDetectedFrame: frame, lastScore: d.score, lastObserved: d.box, lastObservedFrame: frame, firstFrame: frame)
        record(d, in: &t)
        t.remember(d.box, at: frame)
        return t
    }

    /// Covers the held frames before a new track's first detection. `replacing` false: the
    /// track's boxes already in those frames are kept (a detection joined to an old track,
    /// reaching back as if it were new).
    private func reachBack(_ t: Track, image: GrayImage?, replacing: Bool = true) {
        // Backwards, every new track is followed by optical flow where the grey images allow
        // (a face is often detected late, weakly, as it enters or turns, and may move fast);
        // where flow fails an unconfirmed track gets only the short static extension. A lone
        // weak detection reaches back only as far as it is carried forward: most are one-off
        // false positives, and a real face is detected again within the window, which then
        // extends it in full. A detection sure enough to confirm its track (`confidentHit`)
        // reaches back as far as flow follows it at once: waiting for the second detection
        // lets the earliest frames go, and a face first found late is found again late (dev03
        // played backwards: a blurred face entering at night, first found surely 20 frames
        // after it appeared and again 4 frames later, leaked in 7 frames: 3 released while it
        // waited, 4 more than `maxGap` held before it was found, hence `reachBack`).
        if isConfirmed(t) || config.flow {
            extendBackwards(t, image: image, frames: isConfirmed(t) || t.confidentHit ? followedBackwardReach : unconfirmedExtension,
                            replacing: replacing)
        } else {
            extendBackwardsStatic(t)
        }
    }

    /// Joins a (weak) detection no track claimed to a track lately hidden behind a nearer face
    /// (`followHidden`) where its centre lies in the box painted for that track (its own motion,
    /// grown with the time since its last detection) and the two heights are at most
    /// `DetectionSchedule.sizeRatio` apart; nearest centre first, one to one. Flow and the
    /// Kalman filter went with the occluder, and a face coming out is found late, partly hidden
    /// and weakly, so a box of another size where its motion took it does not overlap the
    /// track's prediction as association needs (dev09 played backwards: 0.14-0.16, 18 frames
    /// after the last detection, IoU 0.38 with that motion's box). Joined as `bridge` joins, so
    /// the boxes painted while it was hidden are kept.
    private func rejoinHidden(_ candidates: [Int], _ detections: [Detection], excluding taken: Set<Int>, frame: Int) -> [(Int, Int)] {
        var pairs: [(rank: Double, track: Int, det: Int)] = []  // rank: centre distance, in track heights
        for (ti, t) in active.enumerated() where !taken.contains(ti) && wasHiddenLately(t, frame: frame) {
            let own = ownMotionBox(t, at: frame)
            let painted = hiddenPaintedBox(own: own, of: t, at: frame)
            for di in candidates where detections[di].objectClass == t.objectClass {
                let d = detections[di].box
                guard d.centerX >= painted.x, d.centerX <= painted.maxX, d.centerY >= painted.y, d.centerY <= painted.maxY,
                      max(d.h, own.h) <= DetectionSchedule.sizeRatio * min(d.h, own.h) else { continue }
                pairs.append((hypot(d.centerX - own.centerX, d.centerY - own.centerY) / own.h, ti, di))
            }
        }
        return Self.oneToOne(pairs)
    }

    private func slotIndex(_ frame: Int) -> Int? {
        guard let first = pending.first?.boxes.frame else { return nil }
        let i = frame - first
        return i >= 0 && i < pending.count ? i : nil
    }

    /// Covers the frames before a track's first detection that are still held: followed
    /// backwards by optical flow where the grey images allow, else the first box, growing.
    private func extendBackwards(_ t: Track, image: GrayImage?, frames: Int, replacing: Bool = true) {
        guard frames > 0 else { return }
        var box = t.lastDetection
        if t.firstFrame != lastPushed {
            // Confirmed later than born: start from the first detection's frame.
            guard let first = slotIndex(t.firstFrame),
                  let b = pending[first].boxes.boxes.first(where: { $0.trackID == t.id && $0.source == .detected }) else {
                extendBackwardsStatic(t)
                return
            }
            box = b.box
        }
        // The track's mean motion from its first detection to its last, for `displaced`
        // (the Kalman filter's velocity is still small after a few detections).
        let span = Double(t.lastDetectedFrame - t.firstFrame)
        let velocity = span > 0 ? ((t.lastDetection.centerX - box.centerX) / span, (t.lastDetection.centerY - box.centerY) / span) : (0.0, 0.0)
        var nextImage = t.firstFrame == lastPushed ? image : slotIndex(t.firstFrame).flatMap { pending[$0].image }
        var followed = config.flow
        var boxBack = 0  // frames back from the first detection to where `box` was seen
        let firstBox = box
        for back in 1...frames {
            let f = t.firstFrame - back
            guard let slot = slotIndex(f) else { break }
            // Before its first detection a track has only extension boxes (static or flow, from
            // when it was born): replaced by this extension.
            if replacing { pending[slot].boxes.boxes.removeAll { $0.trackID == t.id } }
            if followed, let later = nextImage, let earlier = pending[slot].image, let moved = flowTrack([box], from: later, to: earlier).first ?? nil {
                box = moved
                boxBack = back
                nextImage = earlier
                pending[slot].boxes.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: box.padded(by: flowGrowth * Double(back)),
                                                            score: t.lastScore, source: .flow))
                // A fast face that flow did not keep up with: also where its motion puts it, as
                // forwards. Backwards, flow loses a fast face most often where it comes out from
                // behind something: the occluder and the background behind the face move
                // otherwise, and the flow box stays on them (dev04 mirrored: a 43 px face at
                // 25-45 px per frame, half hidden, was followed back onto the occluder, which moved
                // the other way, and leaked). Only as far as a lost track is carried forwards, and
                // only where flow lags that motion: where it follows the face, even at another
                // speed than its first detections gave, the extra box is only over-redaction.
                if back <= config.extendFrames, let behind = paintedBehind(firstBox, byFrames: back, velocity: velocity),
                   isInPicture(behind), flowLags(box, from: firstBox, byFrames: -back, velocity: velocity) {
                    pending[slot].boxes.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass,
                                                                box: behind.padded(by: extensionPadding(Double(back))),
                                                                score: t.lastScore, source: .extended))
                }
            } else {
                // Without flow a track is extended statically: a confirmed one by `extendFrames`
                // (`frames` may reach further only while flow follows it), an unconfirmed one by a
                // few frames only.
                if back > (isConfirmed(t) ? config.extendFrames : unconfirmedExtension) { break }
                let growth = extensionPadding(Double(back))
                var painted = box.padded(by: growth)
                if let earlier = displaced(box, byFrames: -(back - boxBack), velocity: velocity) {
                    if !isInPicture(earlier) {
                        // Not in the picture yet: nor earlier. Drop what the extension at the
                        // track's birth left there.
                        if replacing {
                            for older in stride(from: back + 1, through: frames, by: 1) {
                                guard let s = slotIndex(t.firstFrame - older) else { break }
                                pending[s].boxes.boxes.removeAll { $0.trackID == t.id }
                            }
                        }
                        break
                    }
                    // Where the face was if it kept moving, as well as where it was last seen.
                    painted = painted.enclosing(earlier.padded(by: growth))
                }
                followed = false
                pending[slot].boxes.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: painted,
                                                            score: t.lastScore, source: .extended))
            }
        }
    }

    /// Where a box moving clearly (at least `clearMotion` of its size per frame, per axis) at
    /// `velocity` pixels per frame is `frames` frames later (earlier, when negative); nil without
    /// a clear motion.
    /// Where flow loses a face, the backward extension keeps the box where it was last seen, which
    /// misses a face that was moving: it covers this place too. A face moving in through the
    /// frame's edge was not in the picture before it entered, so the extension ends where this
    /// box is wholly outside the frame (forward extension follows the Kalman prediction out of
    /// the frame the same way). A face standing still, with a noisy velocity, is not moved.
    private func displaced(_ box: Box, byFrames frames: Int, velocity: (x: Double, y: Double), clearMotion: Double = 0.1) -> Box? {
        guard frames != 0 else { return nil }
        let vx = abs(velocity.x) >= clearMotion * box.w ? velocity.x : 0
        let vy = abs(velocity.y) >= clearMotion * box.h ? velocity.y : 0
        guard vx != 0 || vy != 0 else { return nil }
        return Box(x: box.x + vx * Double(frames), y: box.y + vy * Double(frames), w: box.w, h: box.h)
    }

    /// What is painted where a fast face's motion puts it `frames` frames after its last
    /// detection (nil for a face that is not fast): the box its speed gives, swept back towards
    /// the detection over `aheadSpeedSpread` of the distance, so a face that slowed is still
    /// covered. Association tries `displaced` at that speed and at `aheadSpeedSpread` more and less.
    private func paintedAhead(_ box: Box, byFrames frames: Int, velocity: (x: Double, y: Double)) -> Box? {
        guard let ahead = displaced(box, byFrames: frames, velocity: velocity, clearMotion: fastMotion) else { return nil }
        return ahead.enclosing(box.interpolated(to: ahead, t: 1 - Self.aheadSpeedSpread))
    }

    /// What is painted `frames` frames before a fast face's first detection (nil for a face that
    /// is not fast): where its motion puts it, swept over `aheadSpeedSpread` of the distance
    /// either way, since the speed comes from its first detections and the face may have been
    /// faster (it slowed as it came into view) or slower before.
    private func paintedBehind(_ box: Box, byFrames frames: Int, velocity: (x: Double, y: Double)) -> Box? {
        guard let behind = displaced(box, byFrames: -frames, velocity: velocity, clearMotion: fastMotion) else { return nil }
        return box.interpolated(to: behind, t: 1 - Self.aheadSpeedSpread).enclosing(box.interpolated(to: behind, t: 1 + Self.aheadSpeedSpread))
    }

    /// Whether a box that optical flow followed `frames` frames on (back, when negative) from
    /// `start` moved less than half as far along `velocity` as that motion gives, or the other
    /// way: flow then stayed on something else (the background, an occluder).
    private func flowLags(_ followed: Box, from start: Box, byFrames frames: Int, velocity: (x: Double, y: Double)) -> Bool {
        let expected = (x: velocity.x * Double(frames), y: velocity.y * Double(frames))
        let moved = (x: followed.centerX - start.centerX, y: followed.centerY - start.centerY)
        return moved.x * expected.x + moved.y * expected.y < 0.5 * (expected.x * expected.x + expected.y * expected.y)
    }

    /// Whether some of `box` lies inside the picture (true when the frame size is unknown).
    private func isInPicture(_ box: Box) -> Bool {
        guard let size = frameSize else { return true }
        return box.maxX > 0 && box.x < size.width && box.maxY > 0 && box.y < size.height
    }

    /// Covers the frames before a new (unconfirmed) track's detection with its box, growing.
    /// If the track is confirmed later, `extendBackwards` replaces these with the full extension.
    private func extendBackwardsStatic(_ t: Track) {
        guard unconfirmedExtension > 0 else { return }
        for back in 1...unconfirmedExtension {
            guard let slot = slotIndex(t.firstFrame - back) else { break }
            pending[slot].boxes.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass,
                                                        box: t.lastDetection.padded(by: extensionPadding(Double(back))),
                                                        score: t.lastScore, source: .extended))
        }
    }

    /// On confirmation: fills the gaps between the track's detections that are still held and
    /// were left open while it was unconfirmed (see `fillGap`).
    private func fillHeldGaps(of t: Track) {
        var previous: (slot: Int, box: Box)?
        for slot in pending.indices {
            guard let d = pending[slot].boxes.boxes.first(where: { $0.trackID == t.id && $0.source == .detected }) else { continue }
            if let p = previous, slot - p.slot > 1 {
                for k in (p.slot + 1)..<slot where !pending[k].boxes.boxes.contains(where: { $0.trackID == t.id && $0.source == .interpolated }) {
                    pending[k].boxes.boxes.removeAll { $0.trackID == t.id && $0.source == .extended }
                    let b = p.box.interpolated(to: d.box, t: Double(k - p.slot) / Double(slot - p.slot))
                    pending[k].boxes.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: b, score: t.lastScore, source: .interpolated))
                }
            }
            previous = (slot, d.box)
        }
    }

    /// Fills the frames between a track's last detection and a new one at `frame`: boxes
    /// interpolated between the two detections replace extrapolated ones; boxes optical flow
    /// measured are kept too (both are redacted, in case one of them is off).
    /// An unconfirmed track's gap is filled only within `unconfirmedExtension` frames of either
    /// detection, like its extension: a weak, sparse track is not carried across long gaps.
    /// `bridged`: the new detection was joined to the track by `bridge`, on its distance alone,
    /// so the boxes the track was extended by are kept (if the two were different faces, the
    /// first is still covered where it was), and the interpolated ones grow with the distance
    /// from the nearer detection (the speed between two detections is a guess).
    private func fillGap(track t: Track, until frame: Int, with box: Box, confirmed: Bool, bridged: Bool = false) {
        guard frame - t.lastDetectedFrame > 1 else { return }
        for f in (t.lastDetectedFrame + 1)..<frame {
            if !confirmed && f - t.lastDetectedFrame > unconfirmedExtension && frame - f > unconfirmedExtension { continue }
            guard let slot = slotIndex(f) else { continue }
            if !bridged { pending[slot].boxes.boxes.removeAll { $0.trackID == t.id && $0.source == .extended } }
            let fraction = Double(f - t.lastDetectedFrame) / Double(frame - t.lastDetectedFrame)
            var b = t.lastDetection.interpolated(to: box, t: fraction)
            if bridged { b = b.padded(by: extensionPadding(Double(min(f - t.lastDetectedFrame, frame - f)))) }
            pending[slot].boxes.boxes.append(TrackedBox(trackID: t.id, objectClass: t.objectClass, box: b, score: t.lastScore, source: .interpolated))
        }
    }
}
