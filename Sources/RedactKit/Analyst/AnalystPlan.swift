import Foundation

/// Applies a job's analyst decisions frame by frame while it renders, and counts what each one
/// did for the receipt. The machine's boxes (tracker or tracks.json) come in; out go the machine
/// boxes still to paint (kept tracks removed), the manual boxes of this frame and the excluded
/// regions in force. The tracks.json a job writes holds the machine's boxes only, before this.
final class AnalystPlan {
    let decisions: AnalystRecord.Decisions
    /// The manifest as named by the user, for errors.
    let manifestPath: String
    private let keptIDs: [Int: Int]
    /// Every machine track id seen, for the check that each kept track exists.
    private(set) var seenTracks = Set<Int>()
    private var kept: [AnalystRecord.KeptTrack]
    private var painted: [AnalystRecord.PaintedBox]
    private var excluded: [AnalystRecord.Excluded]

    /// Track ids of manual boxes: negative, so they can never be a tracker's (which start at 1).
    static func manualTrackID(_ index: Int) -> Int { -(index + 1) }

    private init(job: ManifestJob, decisions: AnalystRecord.Decisions) {
        self.decisions = decisions
        manifestPath = job.manifestPath
        keptIDs = Dictionary(uniqueKeysWithValues: job.keep.enumerated().map { ($1.track, $0) })
        kept = job.keep.map { .init(track: $0.track, reason: $0.reason, frames: 0, firstFrame: nil, lastFrame: nil, boxesNotPainted: 0) }
        painted = job.manualBoxes.map { b in
            var box: [Double]?, keyframes: [AnalystRecord.PaintedBox.Keyframe]?
            switch b.shape {
            case .fixed(let f): box = AnalystRecord.array(f)
            case .keyframes(let k): keyframes = k.map { .init(time: $0.time, box: AnalystRecord.array($0.box)) }
            }
            return .init(objectClass: b.objectClass, start: b.start, end: b.end, box: box, keyframes: keyframes, reason: b.reason,
                         framesPainted: 0, firstFrame: nil, lastFrame: nil)
        }
        excluded = job.excludeRegions.map {
            .init(box: AnalystRecord.array($0.box), start: $0.start, end: $0.end, reason: $0.reason, boxesClipped: 0, boxesNotPainted: 0)
        }
    }

    /// Nil for a job without decisions: nothing to apply.
    static func make(_ job: ManifestJob) -> AnalystPlan? {
        let d = AnalystRecord.Decisions(job)
        return d.isEmpty ? nil : AnalystPlan(job: job, decisions: d)
    }

    private func fail(_ jsonPath: String, _ detail: String) -> RedactError {
        .badJSON(path: manifestPath, jsonPath: jsonPath, detail: detail)
    }

    /// Every box the decisions name lies inside the displayed frame. Run before the first frame.
    func validate(geometry g: FrameGeometry) throws {
        let w = Double(g.displayWidth), h = Double(g.displayHeight)
        let named = decisions.boxes.flatMap(\.namedBoxes) + decisions.excludeRegions.map { ($0.box, $0.jsonPath + ".box") }
        for (b, path) in named where b.maxX > w || b.maxY > h {
            throw fail(path, "box [\(fmt(b.x)), \(fmt(b.y)), \(fmt(b.w)), \(fmt(b.h))] reaches (\(fmt(b.maxX)), \(fmt(b.maxY))), outside the \(g.displayWidth)x\(g.displayHeight) displayed frame")
        }
    }

    /// Every kept track is one of `ids` (the tracks of a tracks.json about to be reused).
    func checkKept(in ids: Set<Int>, tracksPath: String) throws {
        for k in decisions.keep where !ids.contains(k.track) {
            throw fail(k.jsonPath + ".track", "track \(k.track) is not in the job's tracks (\(tracksPath): \(Self.describe(ids)))")
        }
    }

    /// A warning naming every kept track that the tracker picked up again after a gap
    /// (`TrackRecord.pickUps`): there it matched a detection by position alone, and if that was
    /// another person, that person is left visible with the track ("warning: ...", for the
    /// tracks note). Nil when there is none.
    func pickUpWarning(in tracks: [TrackRecord]) -> String? {
        let parts: [String] = tracks.filter { keptIDs[$0.id] != nil }.sorted { $0.id < $1.id }.compactMap { t in
            let gaps = t.pickUps
            guard !gaps.isEmpty else { return nil }
            let at = gaps.keys.sorted().map { "\($0) (after \(gaps[$0]!) frames without detection)" }
            return "track \(t.id) at frame\(at.count == 1 ? "" : "s") \(at.joined(separator: ", "))"
        }
        guard !parts.isEmpty else { return nil }
        return "warning: kept track picked up again after a gap, where another person may have taken its place: "
            + parts.joined(separator: "; ") + "; check those frames (redact review marks them) before disclosing"
    }

    /// What to paint in frame `frame` at `seconds` of presentation time.
    /// `exclusions`: the regions in force, each with its index among the job's regions.
    func plan(frame: Int, seconds t: Double, machine boxes: [TrackedBox])
        -> (machine: [TrackedBox], manual: [TrackedBox], exclusions: [(index: Int, box: Box)]) {
        var machine: [TrackedBox] = []
        machine.reserveCapacity(boxes.count)
        var keptHere = Set<Int>()
        for b in boxes {
            seenTracks.insert(b.trackID)
            guard let k = keptIDs[b.trackID] else {
                machine.append(b)
                continue
            }
            kept[k].boxesNotPainted += 1
            if keptHere.insert(k).inserted {
                kept[k].frames += 1
                kept[k].firstFrame = kept[k].firstFrame ?? frame
                kept[k].lastFrame = frame
            }
        }
        var manual: [TrackedBox] = []
        for (i, m) in decisions.boxes.enumerated() {
            guard let b = m.box(at: t) else { continue }
            manual.append(TrackedBox(trackID: Self.manualTrackID(i), objectClass: m.objectClass, box: b, score: 1, source: .manual))
            painted[i].framesPainted += 1
            painted[i].firstFrame = painted[i].firstFrame ?? frame
            painted[i].lastFrame = frame
        }
        let exclusions = decisions.excludeRegions.enumerated().filter { $0.element.isActive(at: t) }.map { (index: $0.offset, box: $0.element.box) }
        return (machine, manual, exclusions)
    }

    /// Counts a machine box that overlapped excluded region `index` (of all the job's regions).
    func countExcluded(region index: Int, whollyInside: Bool) {
        if whollyInside { excluded[index].boxesNotPainted += 1 } else { excluded[index].boxesClipped += 1 }
    }

    /// After the last frame: every kept track existed and every manual box painted a frame.
    /// `firstSeconds`/`lastSeconds`: the video's first and last frame times, for the message.
    func finish(firstSeconds: Double?, lastSeconds: Double?) throws {
        for k in decisions.keep where !seenTracks.contains(k.track) {
            let ids = seenTracks.filter { $0 > 0 }
            throw fail(k.jsonPath + ".track", "track \(k.track) is not in the job's tracks (\(Self.describe(ids)))")
        }
        for (i, b) in decisions.boxes.enumerated() where painted[i].framesPainted == 0 {
            let span = firstSeconds.flatMap { f in lastSeconds.map { "frames run from \(fmt(f)) s to \(fmt($0)) s" } } ?? "no frames"
            throw fail(b.jsonPath, "covers no frame of the input (\(fmt(b.start))-\(fmt(b.end)) s; \(span))")
        }
    }

    var record: AnalystRecord { AnalystRecord(keep: kept, boxes: painted, excludeRegions: excluded) }

    static func describe(_ ids: Set<Int>) -> String {
        let sorted = ids.sorted()
        guard let last = sorted.last else { return "it has no tracks" }
        let shown = sorted.prefix(20).map(String.init).joined(separator: ", ")
        return "its track ids: " + (sorted.count > 20 ? shown + ", ... \(last)" : shown)
    }

    private func fmt(_ d: Double) -> String { ManifestValidator.format((d * 1000).rounded() / 1000) }
}
