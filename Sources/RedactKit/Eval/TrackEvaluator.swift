import Foundation

/// Options of the tracks-mode evaluation.
public struct TrackEvalOptions: Sendable {
    /// Growth of each track box per side before it counts, as `redact render` paints it.
    public var padding: Double = RenderConfig().padding
    /// Outline of face redactions, as `redact render` paints them (plates are boxes).
    public var shape: RedactionShape = RenderConfig().shape
    /// Share of the central 80 % of a ground-truth box the padded track boxes must cover.
    public var minCoverage: Double = 0.95
    /// Sample points per side of the raster laid over each tested ground-truth box.
    public var raster: Int = 24
    /// Raster cell (display pixels) of the over-redaction estimate.
    public var overRedactionCell: Int = 8

    public init() {}
}

extension Evaluation {
    /// Scores a tracks.json against ground truth without decoding anything: an object-frame is
    /// covered when the union of that frame's track boxes, padded as rendering pads them and
    /// rounded out to whole pixels, covers >= 95 % of the central 80 % of its box (clipped to the
    /// frame). Over-redaction is an estimate from box areas (method `track_area_outside_gt`).
    public static func evaluate(tracks: URL, groundTruth: URL) throws -> EvalReport {
        try evaluate(tracks: tracks, groundTruth: groundTruth, options: TrackEvalOptions())
    }

    public static func evaluate(tracks: URL, groundTruth: URL, options: TrackEvalOptions) throws -> EvalReport {
        let started = Date()
        let gt = try GroundTruth.read(contentsOf: groundTruth)
        let file = try JSONFiles.read(TracksFile.self, from: tracks)
        let W = file.geometry.displayWidth, H = file.geometry.displayHeight
        guard W > 0, H > 0 else {
            throw RedactError.badJSON(path: tracks.path, jsonPath: "$.geometry", detail: "no picture size")
        }
        let frameCount = file.frameCount
        var boxesByFrame: [Int: [PaintedShape]] = [:]
        for t in file.tracks {
            let ellipse = t.objectClass == .face && options.shape == .ellipse
            for b in t.boxes {
                let rect = Self.paintedRect(Box(x: b.x, y: b.y, w: b.w, h: b.h), padding: options.padding, width: W, height: H)
                boxesByFrame[b.frame, default: []].append(PaintedShape(rect: rect, ellipse: ellipse))
            }
        }
        var book = ScoreBook()
        var pastEnd = 0
        let byFrame = gt.rowsByFrame
        for (frame, rows) in byFrame {
            let boxes = boxesByFrame[frame] ?? []
            for row in rows where row.isScored {
                guard let rect = PixelThresholds.testedRect(row.box, width: W, height: H) else { continue }
                if frame > frameCount {
                    book.add(row, .unscored)
                    pastEnd += 1
                    continue
                }
                let c = coverage(of: rect, byShapes: boxes, raster: options.raster)
                book.add(row, c >= options.minCoverage ? .redacted : .leaked)
            }
        }
        // Over-redaction estimate: raster cells whose centre a padded track box covers, outside every
        // dilated ground-truth box, over all raster cells outside those boxes.
        let cell = max(1, options.overRedactionCell)
        let nx = W / cell, ny = H / cell
        var tested = 0, covered = 0, framesOver5 = 0
        if nx > 0 && ny > 0 && frameCount > 0 {
            // Only frames with ground truth or track boxes need a raster; the others are all "outside", none covered.
            let interesting = Set(byFrame.keys.filter { $0 >= 1 && $0 <= frameCount }).union(boxesByFrame.keys.filter { $0 >= 1 && $0 <= frameCount })
            tested = (frameCount - interesting.count) * nx * ny
            var outside = [Bool](repeating: true, count: nx * ny)
            var hit = [Bool](repeating: false, count: nx * ny)
            for frame in interesting {
                for i in 0..<outside.count { outside[i] = true }
                for b in (byFrame[frame] ?? []).map(\.box) {
                    let w2 = b.w * PixelThresholds.dilate / 2, h2 = b.h * PixelThresholds.dilate / 2
                    mark(&outside, nx: nx, ny: ny, cell: cell, x0: b.centerX - w2, y0: b.centerY - h2, x1: b.centerX + w2, y1: b.centerY + h2, value: false)
                }
                let frameTested = outside.reduce(0) { $0 + ($1 ? 1 : 0) }
                var frameCovered = 0
                if let trackBoxes = boxesByFrame[frame], !trackBoxes.isEmpty {
                    for i in 0..<hit.count { hit[i] = false }
                    for b in trackBoxes {
                        markPainted(&hit, nx: nx, ny: ny, cell: cell, shape: b)
                    }
                    for i in 0..<hit.count where hit[i] && outside[i] { frameCovered += 1 }
                }
                tested += frameTested
                covered += frameCovered
                if frameTested > 0 && Double(frameCovered) / Double(frameTested) > 0.05 { framesOver5 += 1 }
            }
        }
        var notes = ["tracks mode: an object-frame counts as redacted when padded track boxes (padding \(options.padding), faces painted as \(options.shape.rawValue)s) cover >= \(Int(options.minCoverage * 100)) % of the central 80 % of its box; nothing decoded",
                     "over-redaction is an estimate: share of the area outside dilated ground-truth boxes covered by padded track boxes"]
        if pastEnd > 0 { notes.append("\(pastEnd) visible object-frames are past tracks.json's frame_count (\(frameCount)): not scored") }
        var thresholds = EvalReport.Thresholds()
        thresholds.padding = options.padding
        thresholds.minCoverage = options.minCoverage
        return EvalReport(
            mode: "tracks", original: file.input.path, redacted: nil, tracks: tracks.path, groundTruth: groundTruth.path,
            displaySize: [W, H], rotationOriginal: file.geometry.quarterTurns, rotationRedacted: nil,
            // Nothing is decoded: tracks.json's frame_count is the original's (every frame has an entry).
            frames: .init(original: frameCount, redacted: frameCount, scored: frameCount, match: true),
            classes: book.classes(), all: book.all(),
            overRedaction: EvalReport.OverRedaction(
                method: "track_area_outside_gt", cellsTested: tested, cellsChanged: covered,
                fraction: tested > 0 ? Double(covered) / Double(tested) : nil, texturedCellsTested: nil, fractionTextured: nil,
                framesWithGt5pctChanged: framesOver5, framesTested: frameCount, cellPx: cell, frameStride: 1),
            thresholds: thresholds, notes: notes, seconds: Date().timeIntervalSince(started), gates: nil)
    }

    /// The pixels `redact render` paints for a box: padded, rounded out to whole pixels, clipped.
    static func paintedRect(_ b: Box, padding: Double, width: Int, height: Int) -> Box {
        let p = b.padded(by: padding)
        let x0 = max(0, floor(p.x)), y0 = max(0, floor(p.y))
        let x1 = min(Double(width), ceil(p.maxX)), y1 = min(Double(height), ceil(p.maxY))
        return Box(x: x0, y: y0, w: max(0, x1 - x0), h: max(0, y1 - y0))
    }

    /// Share of a pixel rect covered by the union of boxes, on an n x n raster of sample points
    /// (the centres of an even grid over the rect).
    static func coverage(of r: (x0: Int, y0: Int, x1: Int, y1: Int), by boxes: [Box], raster n: Int) -> Double {
        coverage(of: r, byShapes: boxes.map { PaintedShape(rect: $0, ellipse: false) }, raster: n)
    }

    static func coverage(of r: (x0: Int, y0: Int, x1: Int, y1: Int), byShapes boxes: [PaintedShape], raster n: Int) -> Double {
        guard !boxes.isEmpty else { return 0 }
        let w = Double(r.x1 - r.x0), h = Double(r.y1 - r.y0)
        let nx = max(1, min(n, r.x1 - r.x0)), ny = max(1, min(n, r.y1 - r.y0))
        var inside = 0
        for j in 0..<ny {
            let y = Double(r.y0) + (Double(j) + 0.5) * h / Double(ny)
            for i in 0..<nx {
                let x = Double(r.x0) + (Double(i) + 0.5) * w / Double(nx)
                if boxes.contains(where: { $0.contains(x: x, y: y) }) { inside += 1 }
            }
        }
        return Double(inside) / Double(nx * ny)
    }

    /// Sets the raster cells whose centre lies inside the painted shape.
    private static func markPainted(_ grid: inout [Bool], nx: Int, ny: Int, cell: Int, shape: PaintedShape) {
        let b = shape.rect
        guard shape.ellipse else {
            mark(&grid, nx: nx, ny: ny, cell: cell, x0: b.x, y0: b.y, x1: b.maxX, y1: b.maxY, value: true)
            return
        }
        let c = Double(cell)
        let i0 = max(0, Int(ceil(b.x / c - 0.5))), i1 = min(nx, Int(ceil(b.maxX / c - 0.5)))
        let j0 = max(0, Int(ceil(b.y / c - 0.5))), j1 = min(ny, Int(ceil(b.maxY / c - 0.5)))
        guard i0 < i1, j0 < j1 else { return }
        for j in j0..<j1 {
            for i in i0..<i1 where shape.contains(x: (Double(i) + 0.5) * c, y: (Double(j) + 0.5) * c) { grid[j * nx + i] = true }
        }
    }

    /// Sets the raster cells whose centre lies in [x0, x1) x [y0, y1).
    private static func mark(_ grid: inout [Bool], nx: Int, ny: Int, cell: Int, x0: Double, y0: Double, x1: Double, y1: Double, value: Bool) {
        let c = Double(cell)
        let i0 = max(0, Int(ceil(x0 / c - 0.5))), i1 = min(nx, Int(ceil(x1 / c - 0.5)))
        let j0 = max(0, Int(ceil(y0 / c - 0.5))), j1 = min(ny, Int(ceil(y1 / c - 0.5)))
        guard i0 < i1 && j0 < j1 else { return }
        for j in j0..<j1 { for i in i0..<i1 { grid[j * nx + i] = value } }
    }
}

/// A painted region in display pixels: a box, or the ellipse inscribed in it.
struct PaintedShape {
    var rect: Box
    var ellipse: Bool

    func contains(x: Double, y: Double) -> Bool {
        guard x >= rect.x && x < rect.maxX && y >= rect.y && y < rect.maxY else { return false }
        guard ellipse else { return true }
        let dx = (x - rect.centerX) / (rect.w / 2), dy = (y - rect.centerY) / (rect.h / 2)
        return dx * dx + dy * dy <= 1
    }
}
