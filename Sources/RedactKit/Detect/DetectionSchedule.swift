import Foundation

/// Which frames the detector runs on. Frame 1, then every `every`-th frame; in between, the
/// tracker follows faces with optical flow and the frames are covered by interpolation and
/// extension. That holds for faces that move little between runs. A fast face (a quarter of
/// its height per frame or more) is where skipped frames cost recall: flow stays on the
/// background behind it, the track's prediction lags, and a weak one is not confirmed before
/// it is lost (dev benchmark, 1080p faces crossing at 45-55 px per frame). So when two runs see
/// a face move that fast, the detector runs on every frame for the next `2 * every` frames, and
/// again while the motion lasts: the schedule adapts to motion, and a camera that pans fast is
/// detected densely for as long as it pans. The extra frames of a dense stretch are for the fast
/// faces, so (faces only) they look at windows around those faces rather than the whole frame:
/// on the dev benchmark that ran 1.0 face recall on all ten clips in a third less time on the
/// clips that are mostly dense (dev09 17.3 -> 10.7 s; docs/performance.md). Outside dense
/// stretches, when a whole-frame run's detections (weak ones included) fit in one window run
/// (`fitInWindows`), the next regular run looks only at windows around those: whole-frame runs,
/// which find new faces, are then `2 * every` frames apart, and the faces already there are
/// still seen every `every` frames, at full resolution (11 % less time over the ten clips, same
/// face recall). Sure faces are watched in small windows, doubtful ones also closer when the
/// small window does not settle them (`Watch`).
struct DetectionSchedule {
    /// What the detector does on one frame.
    enum Run: Equatable {
        /// Nothing: the tracker covers the frame.
        case skip
        /// The whole frame (and the second look).
        case whole
        /// Every other regular run of a calm stretch: only windows around every face the latest
        /// whole-frame run saw (and the faces carried after a coarse run), where their motion
        /// puts them (`CenterFaceDetector.detect(near:)`).
        case calmWindows([Watch])
        /// An extra frame of a dense stretch: only windows around the faces it is for (seen
        /// moving fast, or seen once), where their motion puts them; the other faces are left
        /// to the tracker.
        case denseWindows([Watch])
    }

    /// A face a window run looks for: where its motion puts it (display pixels), and whether
    /// its last sighting was sure (`sureScore`). A sure face only has to be found again, which
    /// CenterFace does at a size it scores surely (48 px, `SecondLook.near`); a doubtful one may
    /// also need the closer look (96 px, `SecondLook.nearer`), which settles textures and small
    /// faces as the second look does, at four times the cost (`CenterFaceDetector.detect(near:)`).
    struct Watch: Equatable {
        var box: Box
        var sure: Bool
    }

    /// Run on every n-th frame (1: every frame).
    let every: Int
    /// Only detections at least this sure (the detector threshold: those that start tracks)
    /// are compared between runs.
    let minimumScore: Double
    /// Whether the extra frames of a dense stretch, and every other regular run of a calm stretch,
    /// may look at windows instead of the whole frame (face detector only; see `plan(for:)`).
    let windowed: Bool
    /// The last frame of the current dense stretch (0: none yet).
    private(set) var denseUntil = 0
    /// Every detection of the latest whole-frame run (weak ones too), and after a coarse run the
    /// full-size run's faces it did not find again, when they fit in one window run: what
    /// the next alternate run watches. Nil: more, or no whole run yet.
    private(set) var calm: [SeenFace]? = nil
    /// Every detection of the latest full-size whole-frame run (`DetectorConfig.coarseInputSize`):
    /// a coarse run that does not find one of them again keeps watching it (`record`).
    private(set) var seenAtFullSize: [SeenFace] = []
    /// The sure detections of the latest runs, each with the frame it was seen on and its motion
    /// per frame since the run before (nil: not seen before, motion unknown).
    private(set) var seen: [SeenFace] = []
    /// The fast and once-seen faces (`watchedWhenDense`) the latest run looked for and did not
    /// find again surely: each where a weak detection continued it, else where it was last seen,
    /// with its motion. A dense stretch's next extra frame watches them once more, closer
    /// (`Watch.sure` false), where that motion puts them.
    private(set) var lost: [SeenFace] = []
    /// A detection at least this sure is watched in the small window (`Watch.sure`).
    let sureScore: Double

    struct SeenFace {
        var detection: Detection
        var frame: Int
        var velocity: (x: Double, y: Double)?
        var fast: Bool
        /// Found sure enough to be watched in the small window (`Watch`, `sureScore`).
        var sure: Bool

        /// What the extra frames of a dense stretch look at: a face seen moving fast, or seen
        /// only once (motion unknown).
        var watchedWhenDense: Bool { fast || velocity == nil }
        /// Its windows' cost in small windows at most (`windowBudget`).
        var windowCost: Int { sure ? 1 : 4 }
    }

    /// Motion per frame, as a share of the face's height, from which a face is fast.
    static let fastMotion = 0.25
    /// Two detections whose sizes differ more than this factor are not the same face.
    static let sizeRatio = 1.5
    /// Nor are two whose centres moved more than this many of its heights per frame: a match
    /// that far is another face, not motion.
    static let farthestMotion = 3.0
    /// A coarse run's detection overlapping where a full-size run's face should be by this much
    /// is that face, found again.
    static let sameFaceIoU = 0.3
    /// Where sure faces start when the detector has no second look, whose line between sure and
    /// doubtful faces (`DetectorConfig.secondLookBelow`) is used otherwise
    /// (`CenterFaceDetector.sureScore`): `DetectorConfig.secondLookBelow`'s default.
    static let defaultSureScore = 0.5
    /// What a run's windows may cost at most, in small windows (a 160 px window is about a 35th
    /// of a 1280x736 whole-frame pass and an 18th of a 960x544 one in float32; the 320 px window
    /// four times the small one), counting a doubtful face as 4, its closer look (5 when the
    /// small window before it does not settle the face, 1 when it does): 16 is four doubtful
    /// faces, as many as before windows came in two sizes, and a little under a coarse
    /// whole-frame pass. More and the whole frame is looked at.
    static let windowBudget = 16
    /// And at most this many windows on a frame, sure or not: a crowd is looked at whole, where
    /// new faces are found (measured up to 8 on the dev benchmark, docs/performance.md).
    static let maxWindows = 8

    init(every: Int, minimumScore: Double, windowed: Bool = false, sureScore: Double = DetectionSchedule.defaultSureScore) {
        self.every = max(1, every)
        self.minimumScore = minimumScore
        self.windowed = windowed
        self.sureScore = sureScore
    }

    /// What the detector does on `frame` (1-based, in order). The fixed schedule's frames get the
    /// whole frame, but every other one of them, outside dense stretches, gets windows around
    /// the latest whole-frame run's detections when they fit in one window run (none: the
    /// frame is skipped, and the next whole-frame run finds new faces). The
    /// extra frames of a dense stretch exist for the faces that move fast: with `windowed`, they
    /// get windows around every face seen moving fast, or seen only once (motion unknown), where
    /// its motion puts it; every other face is left to the tracker, as on skipped frames, and
    /// new faces are found by the next whole-frame run, at most `every - 1` frames later. A fast
    /// face the latest run did not find again surely (`lost`) is watched there too, closer. With
    /// nothing to watch (every face the stretch was for found again, slower), the frame is
    /// skipped like any frame between regular runs; with more faces than fit in one window run,
    /// the whole frame.
    func plan(for frame: Int) -> Run {
        if (frame - 1) % every == 0 {
            // Every other regular run of a calm stretch: windows around the faces seen.
            // (With `every` 1 the detector was asked to look at every frame whole.)
            guard windowed, every > 1, ((frame - 1) / every) % 2 == 1, frame > denseUntil, let calm else { return .whole }
            // Nothing to look at: as on a skipped frame (not counted as a detector run).
            return calm.isEmpty ? .skip : .calmWindows(watches(calm, at: frame))
        }
        guard frame <= denseUntil else { return .skip }
        guard windowed else { return .whole }
        let watched = seen.filter(\.watchedWhenDense) + lost.map { face in
            var doubtful = face
            doubtful.sure = false
            return doubtful
        }
        // Skipped, not looked at whole: on the dev benchmark's 1080p clip 35 of its 153
        // whole-frame passes were extra frames with no fast or once-seen face to watch (lost
        // ones included, which are now watched in windows).
        guard !watched.isEmpty else { return .skip }
        guard Self.fitInWindows(watched) else { return .whole }
        return .denseWindows(watches(watched, at: frame))
    }

    /// Whether one window run can watch all of `faces` (`maxWindows`, `windowBudget`).
    static func fitInWindows(_ faces: [SeenFace]) -> Bool {
        faces.count <= maxWindows && faces.reduce(0) { $0 + $1.windowCost } <= windowBudget
    }

    /// Each face as a window run watches it: where its motion puts it on `frame`, and whether
    /// its last score was sure (which window it gets).
    private func watches(_ faces: [SeenFace], at frame: Int) -> [Watch] {
        faces.map { Watch(box: predicted($0, at: frame), sure: $0.sure) }
    }

    /// Where `face`'s motion puts it on `frame` (its last box if its motion is unknown).
    private func predicted(_ face: SeenFace, at frame: Int) -> Box {
        let v = face.velocity ?? (0, 0)
        let frames = Double(frame - face.frame)
        var box = face.detection.box
        box.x += v.x * frames
        box.y += v.y * frames
        return box
    }

    /// Records the detections (display pixels) of `run`, which `plan(for: frame)` returned, and
    /// extends the dense stretch when a face moved fast since the run that saw it before. A window
    /// run looked only in its windows: a calm stretch's watched every face seen, so what it found
    /// replaces them all; a dense stretch's extra frame watched the fast and once-seen faces only,
    /// so what it found replaces those and the others are kept as they were. `coarse`: a
    /// whole-frame run on the coarse input; the faces the latest full-size run saw that it does
    /// not find again (too small for it, perhaps) stay on the calm stretch's watch list, where
    /// their motion puts them, until the next full-size run, in the windows left free
    /// (`fitInWindows`).
    mutating func record(_ run: Run, frame: Int, detections: [Detection], coarse: Bool = false) {
        precondition(run != .skip, "a skipped frame has no detections to record")
        precondition(!coarse || run == .whole, "only a whole-frame run looks at the coarse input")
        let (all, continued) = seenFaces(detections, in: frame)
        let now = all.filter { $0.detection.score >= minimumScore }
        // The fast and once-seen faces of `seen` (every run looks for them: a dense stretch's
        // extra frame watches exactly those) that this run did not find surely. `lost` ones are
        // watched once, not carried again.
        var foundSurely = Set<Int>(), foundWeakly: [Int: SeenFace] = [:]
        for (i, old) in continued.enumerated() {
            guard let old else { continue }
            if all[i].detection.score >= minimumScore { foundSurely.insert(old) } else { foundWeakly[old] = all[i] }
        }
        let nowLost = seen.indices.filter { seen[$0].watchedWhenDense && !foundSurely.contains($0) }.map { foundWeakly[$0] ?? seen[$0] }
        if every > 1, now.contains(where: \.fast) {
            denseUntil = max(denseUntil, frame + 2 * every)
        }
        switch run {
        case .skip:
            return
        case .whole:
            var watched = all
            if coarse {
                let boxes = all.map(\.detection.box)
                let lost = seenAtFullSize.filter { old in
                    let there = predicted(old, at: frame)
                    return !boxes.contains { $0.intersectionOverUnion(there) >= Self.sameFaceIoU }
                }
                // Only into free windows, surest first: carried faces never turn a window run
                // into a whole-frame one (on dev01 and dev10 that cost 17-25 % more time). When
                // the run's own detections do not fit, no carried face does either.
                for face in lost.sorted(by: { $0.detection.score > $1.detection.score }) where Self.fitInWindows(watched + [face]) {
                    watched.append(face)
                }
            } else {
                seenAtFullSize = all
            }
            calm = Self.fitInWindows(watched) ? watched : nil
            seen = now
        case .calmWindows:
            seen = now
        case .denseWindows:
            seen = seen.filter { !$0.watchedWhenDense } + now
        }
        lost = nowLost
    }

    /// The motion per frame of a face detected at `old` and, `frames` frames later, at `new`, as a
    /// share of its height (`perFrame`) and in pixels (`velocity`); nil when the two cannot be
    /// one face: sizes more than `sizeRatio` apart, or more than `farthestMotion` of its height
    /// per frame between them. The tracker joins a fast face's first detections by the same
    /// rule (`OnlineTracker.bridge`).
    static func motion(from old: Box, to new: Box, frames: Int) -> (perFrame: Double, velocity: (x: Double, y: Double))? {
        guard frames > 0, old.h > 0, new.h > 0, max(old.h / new.h, new.h / old.h) <= sizeRatio else { return nil }
        let dx = (new.centerX - old.centerX) / Double(frames), dy = (new.centerY - old.centerY) / Double(frames)
        let perFrame = hypot(dx, dy) / new.h
        guard perFrame <= farthestMotion else { return nil }
        return (perFrame, (dx, dy))
    }

    /// `detections` with their motion since the earlier detections (`seen`) they continue: one
    /// earlier detection each, of the same class and a similar size, at most `farthestMotion` of
    /// the new one's height per frame away, the nearest pairs first, and detections at least
    /// `minimumScore` before weaker ones. One to one, because an earlier face the run found
    /// again is not also where a second detection came from: a blurred face entering at night
    /// (dev03 played backwards), weak, 116 px tall, was given the motion of a 171 px face 300 px
    /// away that the same run found again, and the windows watching it were put off the frame.
    /// `continued[i]`: the index in `seen` of the face detection `i` continues.
    private func seenFaces(_ detections: [Detection], in frame: Int) -> (faces: [SeenFace], continued: [Int?]) {
        var motion = [(perFrame: Double, velocity: (x: Double, y: Double))?](repeating: nil, count: detections.count)
        var continued = [Int?](repeating: nil, count: detections.count)
        var taken = Set<Int>()
        let sure = detections.indices.filter { detections[$0].score >= minimumScore }
        let weak = detections.indices.filter { detections[$0].score < minimumScore }
        for group in [sure, weak] {
            var pairs: [(perFrame: Double, new: Int, old: Int, velocity: (x: Double, y: Double))] = []
            for i in group where detections[i].box.h > 0 {
                let d = detections[i]
                for (j, old) in seen.enumerated() where !taken.contains(j) && old.frame < frame && old.detection.objectClass == d.objectClass {
                    if let m = Self.motion(from: old.detection.box, to: d.box, frames: frame - old.frame) {
                        pairs.append((m.perFrame, i, j, m.velocity))
                    }
                }
            }
            for p in pairs.sorted(by: { ($0.perFrame, $0.new, $0.old) < ($1.perFrame, $1.new, $1.old) }) where motion[p.new] == nil && !taken.contains(p.old) {
                motion[p.new] = (p.perFrame, p.velocity)
                continued[p.new] = p.old
                taken.insert(p.old)
            }
        }
        // No motion known (not seen before, or no height to measure it by): not fast.
        let faces = detections.indices.map { i in
            SeenFace(detection: detections[i], frame: frame, velocity: motion[i]?.velocity,
                     fast: motion[i].map { $0.perFrame >= Self.fastMotion } ?? false, sure: detections[i].score >= sureScore)
        }
        return (faces, continued)
    }
}
