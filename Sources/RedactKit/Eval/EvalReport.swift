import Foundation

/// Redaction coverage of one video (or one tracks.json) against ground truth: what `redact eval`
/// prints. Field names and meanings follow the development benchmark's scorer (score.py).
public struct EvalReport: Codable, Equatable, Sendable {
    /// `pixels` (original vs redacted video) or `tracks` (tracks.json boxes, nothing decoded).
    public var mode: String
    public var original: String?
    public var redacted: String?
    public var tracks: String?
    public var groundTruth: String
    /// Displayed size [width, height] the ground truth is in.
    public var displaySize: [Int]
    /// Clockwise quarter turns of the display matrix (original; redacted).
    public var rotationOriginal: Int?
    public var rotationRedacted: Int?
    public var frames: FrameCounts
    /// Per ground-truth class (face, plate, ...).
    public var classes: [String: ClassScore]
    /// All classes together (no size buckets, like score.py).
    public var all: ClassScore
    public var overRedaction: OverRedaction?
    public var thresholds: Thresholds
    /// Anything a reader should know: frame-count mismatch, rows past the end, sampling stride...
    public var notes: [String]
    /// Wall-clock seconds the evaluation took.
    public var seconds: Double
    /// Filled by `redact eval` when gates were given.
    public var gates: GateResult?

    public struct FrameCounts: Codable, Equatable, Sendable {
        public var original: Int
        /// Frames of the redacted video (pixels mode) or tracks.json's frame_count (tracks mode).
        public var redacted: Int
        /// Frames scored: the common prefix.
        public var scored: Int
        public var match: Bool
    }

    public struct ClassScore: Codable, Equatable, Sendable {
        /// Object-frames scored (visible >= 0.5, box >= 3 px after shrinking, not low-detail).
        public var objectFrames: Int
        public var redacted: Int
        /// redacted / object_frames; nil when nothing was scored.
        public var recall: Double?
        /// Frames with at least one scored object of the class not redacted.
        public var leakFrames: Int
        public var longestLeakRun: Int
        public var firstLeakFrame: Int?
        /// Visible object-frames, low-detail ones included.
        public var visibleObjectFrames: Int
        /// Original patch too flat to decide (band-pass std < 3 grey levels): not scored.
        public var lowDetailObjectFrames: Int
        /// Visible object-frames in original frames the other side has no frame for: not scored.
        public var unscoredObjectFrames: Int
        /// Keys `<40`, `40-100`, `>100` (face height, plate width, in display pixels).
        public var recallBySize: [String: Double?]?
        public var nBySize: [String: Int]?
    }

    public struct OverRedaction: Codable, Equatable, Sendable {
        /// `changed_cells`: 32x32 cells outside the (dilated) ground-truth boxes whose content changed.
        /// `track_area_outside_gt`: tracks mode estimate, share of the area outside the dilated
        /// ground-truth boxes that padded track boxes cover (on a raster of `cell_px` cells).
        public var method: String
        public var cellsTested: Int
        public var cellsChanged: Int
        public var fraction: Double?
        public var texturedCellsTested: Int?
        public var fractionTextured: Double?
        public var framesWithGt5pctChanged: Int
        public var framesTested: Int
        public var cellPx: Int
        /// Every Nth frame was tested.
        public var frameStride: Int
    }

    public struct Thresholds: Codable, Equatable, Sendable {
        public var tauObj = PixelThresholds.tauObject
        public var eminObj = PixelThresholds.minimumObjectEnergy
        public var tauCell = PixelThresholds.tauCell
        public var eminCell = PixelThresholds.minimumCellEnergy
        public var deltaCell = PixelThresholds.deltaCell
        public var minVisible = GroundTruthRow.minimumVisibleFraction
        public var shrink = PixelThresholds.shrink
        public var dilate = PixelThresholds.dilate
        /// Tracks mode: padding applied to track boxes and the coverage an object needs.
        public var padding: Double?
        public var minCoverage: Double?
    }

    public struct GateResult: Codable, Equatable, Sendable {
        public var minRecall: Double?
        public var maxLeakFrames: Int?
        public var maxOverRedaction: Double?
        /// `all` or one class.
        public var objectClass: String
        public var failures: [String]
        public var warnings: [String]
        public var passed: Bool
    }

    enum CodingKeys: String, CodingKey {
        case mode, original, redacted, tracks
        case groundTruth = "ground_truth"
        case displaySize = "display_size"
        case rotationOriginal = "rotation_original"
        case rotationRedacted = "rotation_redacted"
        case frames, classes, all
        case overRedaction = "over_redaction"
        case thresholds, notes, seconds, gates
    }
}

extension EvalReport.FrameCounts {
    enum CodingKeys: String, CodingKey { case original, redacted, scored, match }
}

extension EvalReport.ClassScore {
    enum CodingKeys: String, CodingKey {
        case objectFrames = "object_frames"
        case redacted, recall
        case leakFrames = "leak_frames"
        case longestLeakRun = "longest_leak_run"
        case firstLeakFrame = "first_leak_frame"
        case visibleObjectFrames = "visible_object_frames"
        case lowDetailObjectFrames = "low_detail_object_frames"
        case unscoredObjectFrames = "unscored_object_frames"
        case recallBySize = "recall_by_size"
        case nBySize = "n_by_size"
    }
}

extension EvalReport.OverRedaction {
    enum CodingKeys: String, CodingKey {
        case method
        case cellsTested = "cells_tested"
        case cellsChanged = "cells_changed"
        case fraction
        case texturedCellsTested = "textured_cells_tested"
        case fractionTextured = "fraction_textured"
        case framesWithGt5pctChanged = "frames_with_gt5pct_changed"
        case framesTested = "frames_tested"
        case cellPx = "cell_px"
        case frameStride = "frame_stride"
    }
}

extension EvalReport.Thresholds {
    enum CodingKeys: String, CodingKey {
        case tauObj = "tau_obj"
        case eminObj = "emin_obj"
        case tauCell = "tau_cell"
        case eminCell = "emin_cell"
        case deltaCell = "delta_cell"
        case minVisible = "min_visible"
        case shrink, dilate, padding
        case minCoverage = "min_coverage"
    }
}

extension EvalReport.GateResult {
    enum CodingKeys: String, CodingKey {
        case minRecall = "min_recall"
        case maxLeakFrames = "max_leak_frames"
        case maxOverRedaction = "max_over_redaction"
        case objectClass = "class"
        case failures, warnings, passed
    }
}

/// The benchmark scorer's constants (score.py, calibrated there).
public enum PixelThresholds {
    /// Canonical patch height for the object test.
    public static let canonicalHeight = 32
    /// Difference-of-Gaussians sigmas at the canonical scale.
    public static let objectSigmas = (0.8, 3.0)
    /// NCC below this: the object-frame is redacted.
    public static let tauObject = 0.75
    /// Band-pass std (grey levels) of the original patch below which the object is low-detail.
    public static let minimumObjectEnergy = 3.0
    public static let cellSize = 32
    public static let cellSigmas = (1.0, 3.0)
    /// Textured cells: NCC below this means changed.
    public static let tauCell = 0.5
    /// Band-pass std below which a cell is flat.
    public static let minimumCellEnergy = 2.0
    /// Flat cells: mean absolute difference of the smoothed luma above this means changed.
    public static let deltaCell = 12.0
    /// The central share of a box that is tested.
    public static let shrink = 0.8
    /// Boxes grow by this factor (about their centre) before cells touching them are excluded.
    public static let dilate = 1.3
    /// Size buckets (face height / plate width, display pixels).
    public static let sizeBuckets: [(lower: Double, upper: Double, name: String)] = [
        (0, 40, "<40"), (40, 100, "40-100"), (100, .infinity, ">100"),
    ]

    static func bucket(_ size: Double) -> String {
        sizeBuckets.first { size >= $0.lower && size < $0.upper }?.name ?? "<40"
    }

    /// The tested pixels of a ground-truth box: its central `shrink` part, rounded like score.py
    /// (Python's round, half to even) and clipped to the picture; nil when under 3 px either way.
    static func testedRect(_ b: Box, width: Int, height: Int) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
        let sx0 = b.x + b.w * (1 - shrink) / 2, sy0 = b.y + b.h * (1 - shrink) / 2
        let sx1 = sx0 + b.w * shrink, sy1 = sy0 + b.h * shrink
        let x0 = max(0, ImageOps.pyRound(sx0)), y0 = max(0, ImageOps.pyRound(sy0))
        let x1 = min(width, ImageOps.pyRound(sx1)), y1 = min(height, ImageOps.pyRound(sy1))
        guard x1 - x0 >= 3, y1 - y0 >= 3 else { return nil }
        return (x0, y0, x1, y1)
    }
}

/// Pass/fail thresholds for CI.
public struct EvalGates: Equatable, Sendable {
    public var minRecall: Double?
    public var maxLeakFrames: Int?
    public var maxOverRedaction: Double?
    /// nil: every class of the ground truth must pass on its own; else only this class.
    public var objectClass: String?

    public init(minRecall: Double? = nil, maxLeakFrames: Int? = nil, maxOverRedaction: Double? = nil, objectClass: String? = nil) {
        self.minRecall = minRecall
        self.maxLeakFrames = maxLeakFrames
        self.maxOverRedaction = maxOverRedaction
        self.objectClass = objectClass
    }

    public var isEmpty: Bool { minRecall == nil && maxLeakFrames == nil && maxOverRedaction == nil }
}

extension EvalReport {
    /// Applies the gates. Failures read like `recall 0.973 < 0.995 (face)`.
    public func check(_ gates: EvalGates) -> GateResult {
        var failures: [String] = [], warnings: [String] = []
        let names = gates.objectClass.map { [$0] } ?? classes.keys.sorted()
        if gates.minRecall != nil || gates.maxLeakFrames != nil {
            if names.isEmpty { warnings.append("the ground truth has no scored objects: recall gates not applied") }
            for name in names {
                guard let c = classes[name], c.objectFrames > 0, let recall = c.recall else {
                    warnings.append("no \(name) object-frames scored: gates for \(name) not applied")
                    continue
                }
                if let min = gates.minRecall, recall < min {
                    failures.append("recall \(Self.format(recall, against: min)) < \(Self.trimmed(min)) (\(name))")
                }
                if let max = gates.maxLeakFrames, c.leakFrames > max {
                    failures.append("\(c.leakFrames) leak frames > \(max) (\(name); longest run \(c.longestLeakRun), first at frame \(c.firstLeakFrame ?? 0))")
                }
            }
        }
        if let max = gates.maxOverRedaction {
            if let o = overRedaction, let f = o.fraction {
                if f > max { failures.append("over-redaction \(Self.format(f, against: max)) > \(Self.trimmed(max)) (\(o.method))") }
            } else {
                warnings.append("over-redaction not measured: gate not applied")
            }
        }
        if frames.original != frames.redacted {
            warnings.append("frame counts differ (\(frames.original) original, \(frames.redacted) \(mode == "tracks" ? "in tracks.json" : "redacted")): scored the first \(frames.scored)")
        }
        return GateResult(minRecall: gates.minRecall, maxLeakFrames: gates.maxLeakFrames, maxOverRedaction: gates.maxOverRedaction,
                          objectClass: gates.objectClass ?? "all", failures: failures, warnings: warnings, passed: failures.isEmpty)
    }

    /// Three decimals, more when needed so a failing value never prints equal to its threshold.
    static func format(_ v: Double, against threshold: Double) -> String {
        for digits in 3...8 {
            let a = String(format: "%.\(digits)f", v), b = String(format: "%.\(digits)f", threshold)
            if a != b { return a }
        }
        return String(v)
    }

    static func trimmed(_ v: Double) -> String {
        var s = String(format: "%.6f", v)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s += "0" }
        return s
    }
}

/// Per-class tallies while scoring.
struct ScoreBook {
    enum Outcome { case redacted, leaked, lowDetail, unscored }

    private struct Tally {
        var n = 0, red = 0, lowDetail = 0, visible = 0, unscored = 0
        var leakFrames = Set<Int>()
        var buckets: [String: (n: Int, red: Int)] = Dictionary(uniqueKeysWithValues: PixelThresholds.sizeBuckets.map { ($0.name, (0, 0)) })
    }

    private var tallies: [String: Tally] = [:]

    mutating func add(_ row: GroundTruthRow, _ outcome: Outcome) {
        var t = tallies[row.objectClass] ?? Tally()
        t.visible += 1
        let bucket = PixelThresholds.bucket(row.bucketSize)
        switch outcome {
        case .lowDetail: t.lowDetail += 1
        case .unscored: t.unscored += 1
        case .redacted, .leaked:
            t.n += 1
            t.buckets[bucket]!.n += 1
            if outcome == .redacted {
                t.red += 1
                t.buckets[bucket]!.red += 1
            } else {
                t.leakFrames.insert(row.frame)
            }
        }
        tallies[row.objectClass] = t
    }

    static func longestRun(_ frames: Set<Int>) -> Int {
        var best = 0, current = 0, previous: Int? = nil
        for f in frames.sorted() {
            current = previous.map { f == $0 + 1 } == true ? current + 1 : 1
            best = max(best, current)
            previous = f
        }
        return best
    }

    func classes() -> [String: EvalReport.ClassScore] {
        tallies.mapValues { t in
            EvalReport.ClassScore(
                objectFrames: t.n, redacted: t.red, recall: t.n > 0 ? Double(t.red) / Double(t.n) : nil,
                leakFrames: t.leakFrames.count, longestLeakRun: Self.longestRun(t.leakFrames), firstLeakFrame: t.leakFrames.min(),
                visibleObjectFrames: t.visible, lowDetailObjectFrames: t.lowDetail, unscoredObjectFrames: t.unscored,
                recallBySize: t.buckets.mapValues { $0.n > 0 ? Double($0.red) / Double($0.n) : nil },
                nBySize: t.buckets.mapValues(\.n))
        }
    }

    func all() -> EvalReport.ClassScore {
        let ts = Array(tallies.values)
        let n = ts.reduce(0) { $0 + $1.n }, red = ts.reduce(0) { $0 + $1.red }
        let leaks = ts.reduce(into: Set<Int>()) { $0.formUnion($1.leakFrames) }
        return EvalReport.ClassScore(
            objectFrames: n, redacted: red, recall: n > 0 ? Double(red) / Double(n) : nil,
            leakFrames: leaks.count, longestLeakRun: Self.longestRun(leaks), firstLeakFrame: leaks.min(),
            visibleObjectFrames: ts.reduce(0) { $0 + $1.visible }, lowDetailObjectFrames: ts.reduce(0) { $0 + $1.lowDetail },
            unscoredObjectFrames: ts.reduce(0) { $0 + $1.unscored }, recallBySize: nil, nBySize: nil)
    }
}
