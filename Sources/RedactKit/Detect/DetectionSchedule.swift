import Foundation

/// Which frames the detector runs on. Frame 1, then every `every`-th frame; in between, the
/// tracker follows faces with optical flow and the frames are covered by interpolation and
/// extension. That holds for faces that move little between runs. A fast face (a quarter of
/// its height per frame or more) is where skipped frames cost recall: flow stays on the
/// background behind it, the track's prediction lags, and a weak one is not confirmed before
/// it is lost (dev benchmark, 1080p faces crossing at 45-55 px per frame). So when two runs see
/// a face move that fast, the detector runs on every frame for the next `2 * every` frames, and
/// again while the motion lasts: the schedule adapts to motion, and a camera that pans fast is
/// detected densely for as long as it pans.
struct DetectionSchedule {
    /// Run on every n-th frame (1: every frame).
    let every: Int
    /// Only detections at least this sure (the detector threshold: those that start tracks)
    /// are compared between runs.
    let minimumScore: Double
    /// The last frame of the current dense stretch (0: none yet).
    private(set) var denseUntil = 0
    private var lastRun: (frame: Int, detections: [Detection])?

    /// Motion per frame, as a share of the face's height, from which a face is fast.
    static let fastMotion = 0.25
    /// Two detections whose sizes differ more than this factor are not the same face.
    static let sizeRatio = 1.5
    /// Nor are two whose centres moved more than this many of its heights per frame: a match
    /// that far is another face, not motion.
    static let farthestMotion = 3.0

    init(every: Int, minimumScore: Double) {
        self.every = max(1, every)
        self.minimumScore = minimumScore
    }

    /// Whether the detector runs on frame `frame` (1-based, in order).
    func runs(on frame: Int) -> Bool {
        (frame - 1) % every == 0 || frame <= denseUntil
    }

    /// Records a run's detections (display pixels) and extends the dense stretch when a face
    /// moved fast since the previous run.
    mutating func record(frame: Int, detections: [Detection]) {
        let sure = detections.filter { $0.score >= minimumScore }
        if every > 1, let last = lastRun, frame > last.frame, sure.contains(where: { movedFast($0, in: frame, since: last) }) {
            denseUntil = max(denseUntil, frame + 2 * every)
        }
        lastRun = (frame, sure)
    }

    /// Whether the previous run's nearest detection of the same class and a similar size lies
    /// at least `fastMotion` (and at most `farthestMotion`) of `d`'s height per frame away.
    private func movedFast(_ d: Detection, in frame: Int, since last: (frame: Int, detections: [Detection])) -> Bool {
        guard d.box.h > 0 else { return false }
        let frames = Double(frame - last.frame)
        let perFrame = last.detections
            .filter { $0.objectClass == d.objectClass && $0.box.h > 0
                && max($0.box.h / d.box.h, d.box.h / $0.box.h) <= Self.sizeRatio }
            .map { hypot($0.box.centerX - d.box.centerX, $0.box.centerY - d.box.centerY) / frames / d.box.h }
            .min()
        guard let perFrame else { return false }
        return perFrame >= Self.fastMotion && perFrame <= Self.farthestMotion
    }
}
