import Foundation

/// What `redact review` wrote.
public struct ReviewSummary: Sendable {
    public var tracks: Int
    public var thumbnails: Int
    public var frames: Int
    /// SHA-256 of the tracks file's bytes: what a job keeping its tracks names in `tracks_sha256`.
    public var tracksSHA256: String
}

/// One track as the review page shows it.
struct ReviewTrackRow {
    struct Segment: Equatable {
        var firstFrame: Int
        var lastFrame: Int
        var source: BoxSource
    }

    struct Shot {
        var box: TrackBox
        var thumbnail: Thumbnail?
    }

    var id: Int
    var objectClass: ObjectClass
    var firstFrame: Int?
    var lastFrame: Int?
    /// Frames with at least one box of the track.
    var frameCount: Int
    /// Boxes per source (one frame may have two boxes of a track: flow and interpolated are both painted).
    var sourceCounts: [BoxSource: Int]
    /// Highest score among the track's `detected` boxes (nil: none was detected).
    var maxDetectedScore: Double?
    var shots: [Shot]
    /// Runs of consecutive frames with the same (strongest) source, in frame order.
    var segments: [Segment]
    /// Frames where the track was picked up again (`TrackRecord.pickUps`), with the frames
    /// without a detection before each.
    var pickUps: [Int: Int] = [:]
}

/// The review page: an HTML page for the analyst, self-contained (thumbnails inline as data: URIs,
/// styles inline, no script, no external resource; a Content-Security-Policy forbids loading
/// anything else), listing every track of a tracks.json with thumbnails of the ORIGINAL,
/// unredacted pixels and a timeline strip. See docs/review.md.
public enum ReviewPage {
    /// Thumbnails per track at most: first, best, midway, last.
    static let maxShots = 4
    /// Thumbnails of pick-ups (`TrackRecord.pickUps`) per track at most, besides those: the
    /// longest gaps first.
    static let maxPickUpShots = 4
    /// Source shown on the timeline when one frame has boxes from several: the strongest evidence first.
    static let sourcePriority: [BoxSource] = [.detected, .manual, .interpolated, .flow, .extended]
    static let colours: [BoxSource: String] = [
        .detected: "#1a7f37", .manual: "#8250df", .interpolated: "#d4a72c", .flow: "#0969da", .extended: "#e16f24",
    ]
    static let banner = "INTERNAL WORKING COPY — contains unredacted crops; do not disclose"

    /// Checks `tracks` against `input` (same SHA-256, same picture size, same frame count), decodes
    /// the input once for the thumbnails and timestamps, and writes the page to `output`
    /// atomically (mode 0600: it shows unredacted faces). Nothing is left at `output` on failure.
    @discardableResult
    public static func write(input: URL, tracks: URL, output: URL, generated: Date = Date()) throws -> ReviewSummary {
        let ext = output.pathExtension.lowercased()
        guard ext == "html" || ext == "htm" else {
            throw RedactError.usage("the review page must be written to a .html file, not \(output.path)")
        }
        try OutputPolicy.check(input: input, output: output)
        try OutputPolicy.check(input: tracks, output: output)
        // Hashed from the very bytes shown: the ids on the page belong to this file only.
        let (file, tracksHash) = try JSONFiles.readHashing(TracksFile.self, from: tracks)
        for (i, t) in file.tracks.enumerated() {
            for (j, b) in t.boxes.enumerated() where b.frame < 1 || b.frame > file.frameCount {
                throw RedactError.badJSON(path: tracks.path, jsonPath: "$.tracks[\(i)].boxes[\(j)].frame",
                                          detail: "frame \(b.frame) is outside 1...\(file.frameCount) (frame_count)")
            }
        }
        let hash = try FileDigest.sha256(of: input)
        guard file.input.sha256 == hash else {
            throw RedactError.badJSON(path: tracks.path, jsonPath: "$.input.sha256",
                                      detail: "tracks were made from another file (\(file.input.sha256)); \(input.path) is \(hash)")
        }
        let extractor = try ThumbnailExtractor(path: input.path, videoStream: file.detector?.videoStream, reportPath: output.path)
        let g = extractor.geometry
        guard g.displayWidth == file.geometry.displayWidth, g.displayHeight == file.geometry.displayHeight else {
            throw RedactError.badJSON(path: tracks.path, jsonPath: "$.geometry",
                                      detail: "boxes are for a \(file.geometry.displayWidth)x\(file.geometry.displayHeight) picture; \(input.path) shows \(g.displayWidth)x\(g.displayHeight)")
        }
        var requests: [ThumbnailRequest] = []
        var rows: [ReviewTrackRow] = []
        var picks: [[TrackBox]] = []
        for t in file.tracks {
            let row = summarize(t)
            let chosen = shotBoxes(t, pickUps: row.pickUps)
            rows.append(row)
            picks.append(chosen)
            requests += chosen.map { ThumbnailRequest(track: t.id, frame: $0.frame, box: Box(x: $0.x, y: $0.y, w: $0.w, h: $0.h)) }
        }
        let extracted = try extractor.run(requests)
        guard extracted.frameCount == file.frameCount else {
            throw RedactError.badJSON(path: tracks.path, jsonPath: "$.frame_count",
                                      detail: "tracks cover \(file.frameCount) frames; the input has \(extracted.frameCount)")
        }
        var next = 0
        for (i, chosen) in picks.enumerated() {
            rows[i].shots = chosen.map { b in
                defer { next += 1 }
                return ReviewTrackRow.Shot(box: b, thumbnail: extracted.thumbnails[next])
            }
        }
        let page = html(input: input, sha256: hash, tracks: tracks, tracksSHA256: tracksHash, rows: rows, frames: extracted, generated: generated)
        try AtomicFile.write(Data(page.utf8), to: output, permissions: 0o600)
        return ReviewSummary(tracks: rows.count, thumbnails: extracted.thumbnails.compactMap { $0 }.count, frames: extracted.frameCount,
                             tracksSHA256: tracksHash)
    }

    // MARK: - Choosing and summarizing

    /// The track's `evidence` (detected and manual boxes with a size); else all boxes with a
    /// size; in frame order.
    static func shotPool(_ t: TrackRecord) -> [TrackBox] {
        let evidence = t.evidence
        return evidence.isEmpty ? t.boxes.filter { $0.w > 0 && $0.h > 0 }.sorted { $0.frame < $1.frame } : evidence
    }

    /// The boxes to show: among `shotPool`, the first, the highest-scoring, the one midway and
    /// the last (at most `maxShots`), and the pick-ups with the longest gaps before them (at most
    /// `maxPickUpShots`); one per frame, in frame order. `pickUps`: the track's
    /// (`TrackRecord.pickUps`, as `summarize` found them).
    static func shotBoxes(_ t: TrackRecord, pickUps gaps: [Int: Int]) -> [TrackBox] {
        let pool = shotPool(t)
        guard let first = pool.first, let last = pool.last else { return [] }
        let best = pool.max { $0.score < $1.score }!
        var chosen: [TrackBox] = []
        for b in [first, best, pool[(pool.count - 1) / 2], last] where !chosen.contains(where: { $0.frame == b.frame }) {
            chosen.append(b)
        }
        chosen = Array(chosen.sorted { $0.frame < $1.frame }.prefix(maxShots))
        let longest = gaps.keys.sorted { (gaps[$0]!, $1) > (gaps[$1]!, $0) }.prefix(maxPickUpShots)
        for frame in longest where !chosen.contains(where: { $0.frame == frame }) {
            if let b = pool.first(where: { $0.frame == frame }) { chosen.append(b) }
        }
        return chosen.sorted { $0.frame < $1.frame }
    }

    static func summarize(_ t: TrackRecord) -> ReviewTrackRow {
        var counts: [BoxSource: Int] = [:]
        var strongest: [Int: BoxSource] = [:]
        func rank(_ s: BoxSource) -> Int { sourcePriority.firstIndex(of: s) ?? sourcePriority.count }
        for b in t.boxes {
            counts[b.source, default: 0] += 1
            if let s = strongest[b.frame], rank(s) <= rank(b.source) { continue }
            strongest[b.frame] = b.source
        }
        let frames = strongest.keys.sorted()
        var segments: [ReviewTrackRow.Segment] = []
        for f in frames {
            let s = strongest[f]!
            if var last = segments.last, last.lastFrame == f - 1, last.source == s {
                last.lastFrame = f
                segments[segments.count - 1] = last
            } else {
                segments.append(.init(firstFrame: f, lastFrame: f, source: s))
            }
        }
        let detectedScores = t.boxes.filter { $0.source == .detected }.map(\.score)
        return ReviewTrackRow(id: t.id, objectClass: t.objectClass, firstFrame: frames.first, lastFrame: frames.last,
                              frameCount: frames.count, sourceCounts: counts, maxDetectedScore: detectedScores.max(),
                              shots: [], segments: segments, pickUps: t.pickUps)
    }

    // MARK: - HTML

    /// Escapes text for HTML element content and quoted attribute values.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func seconds(_ s: Double) -> String { String(format: "%.3f", s) }

    static func percent(_ v: Double) -> String { String(format: "%.3f", max(0, min(100, v))) }

    static let style = """
        body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 14px; color: #1f2328; margin: 0 16px 32px; }
        .banner { position: sticky; top: 0; z-index: 1; margin: 0 -16px 12px; padding: 10px 16px; background: #b00020; color: #fff;
                  font-size: 18px; font-weight: bold; text-align: center; letter-spacing: 0.02em; }
        h1 { font-size: 20px; margin: 8px 0; }
        table.meta td { padding: 1px 12px 1px 0; vertical-align: top; }
        table.meta td:first-child { color: #57606a; }
        code { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
        .legend { margin: 12px 0; }
        .legend span.key { display: inline-block; margin-right: 14px; }
        .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; margin-right: 4px; }
        table.tracks { border-collapse: collapse; width: 100%; }
        table.tracks th { text-align: left; border-bottom: 2px solid #d0d7de; padding: 6px 8px; background: #f6f8fa; }
        tr.track td { padding: 8px 8px 2px; vertical-align: top; border-top: 1px solid #d0d7de; }
        tr.timeline td { padding: 0 8px 10px; }
        td.num { text-align: right; white-space: nowrap; }
        ul.sources { list-style: none; margin: 0; padding: 0; white-space: nowrap; }
        .thumbs { display: flex; gap: 10px; flex-wrap: wrap; }
        figure.thumb { margin: 0; font-size: 11px; color: #57606a; }
        figure.thumb[data-pickup] figcaption strong { color: #9a6700; }
        p.pickups { margin: 6px 0 0; font-size: 12px; color: #9a6700; max-width: 760px; }
        .pic { position: relative; display: inline-block; line-height: 0; background: #000; }
        .pic img { height: 112px; width: auto; display: block; }
        .pic .box { position: absolute; box-sizing: border-box; border: 2px solid #ffeb3b; }
        .missing { display: inline-block; height: 112px; width: 112px; background: repeating-linear-gradient(45deg, #eee 0 6px, #ddd 6px 12px);
                   line-height: 112px; text-align: center; color: #57606a; }
        .strip { display: flex; align-items: center; gap: 6px; font-size: 11px; color: #57606a; }
        .strip svg { flex: 1 1 0; width: 0; min-width: 0; height: 14px; border: 1px solid #d0d7de; }
        .note { color: #57606a; font-size: 12px; max-width: 1100px; }
        """

    static func html(input: URL, sha256: String, tracks: URL, tracksSHA256: String, rows: [ReviewTrackRow], frames: ExtractedFrames,
                     generated: Date) -> String {
        let duration = frames.durationSeconds
        let name = input.lastPathComponent
        let g = frames.geometry
        var h = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
            <meta name="referrer" content="no-referrer">
            <meta name="robots" content="noindex">
            <title>INTERNAL review: \(escape(name))</title>
            <style>
            \(style)
            </style>
            </head>
            <body>
            <div class="banner" id="banner">\(escape(banner))</div>
            <h1>Tracks of <code>\(escape(name))</code></h1>
            <table class="meta">
            <tr><td>input</td><td><code id="input-path">\(escape(input.path))</code></td></tr>
            <tr><td>input SHA-256</td><td><code id="input-sha256">\(escape(sha256))</code></td></tr>
            <tr><td>tracks file</td><td><code id="tracks-path">\(escape(tracks.path))</code></td></tr>
            <tr><td>tracks file SHA-256</td><td><code id="tracks-sha256">\(escape(tracksSHA256))</code> \
            (a job that keeps tracks named here gives this as its <code>tracks_sha256</code>: the track numbers belong to this file only)</td></tr>
            <tr><td>video</td><td>\(g.displayWidth)x\(g.displayHeight) as shown\(g.quarterTurns == 0 ? "" : " (stored \(g.storedWidth)x\(g.storedHeight), turned \(["", "90° clockwise", "180°", "90° counter-clockwise"][g.quarterTurns]))"), \
            <span id="frame-count">\(frames.frameCount)</span> frames, <span id="duration">\(seconds(duration))</span> s</td></tr>
            <tr><td>tracks</td><td><span id="track-count">\(rows.count)</span></td></tr>
            <tr><td>generated</td><td>\(escape(Receipts.iso8601(generated))) by redact \(escape(redactVersion))</td></tr>
            </table>
            <p class="note">Thumbnails are crops of the <strong>original, unredacted</strong> frames (the box grown by \
            \(Int(ThumbnailExtractor.margin * 100)) % per side; the yellow outline is the box itself), for checking what each track is. \
            This page is an internal working copy: keep it with the originals, never with disclosed material. Times are seconds from \
            the first frame, from the frames' presentation timestamps; "frames" counts frames with a box of the track; a frame can \
            have two boxes of one track (flow and interpolated are both painted).</p>
            <div class="legend">
            """
        for s in sourcePriority {
            h += "<span class=\"key\"><span class=\"swatch\" style=\"background:\(colours[s]!)\"></span>\(s.rawValue)</span>"
        }
        h += "<span class=\"key\"><span class=\"swatch\" style=\"background:#e6e6e6;border:1px solid #d0d7de\"></span>no box</span>\n</div>\n"
        h += """
            <table class="tracks">
            <thead><tr><th>track</th><th>class</th><th>first (s)</th><th>last (s)</th><th>frames</th><th>boxes by source</th><th>max score</th><th>thumbnails (original pixels)</th></tr></thead>
            <tbody>

            """
        for r in rows { h += row(r, frames: frames, duration: duration) }
        if rows.isEmpty {
            h += "<tr><td colspan=\"8\">This tracks file has no tracks: nothing would be redacted.</td></tr>\n"
        }
        h += "</tbody>\n</table>\n<div class=\"banner\" style=\"position:static;margin-top:16px\">\(escape(banner))</div>\n</body>\n</html>\n"
        return h
    }

    static func row(_ r: ReviewTrackRow, frames: ExtractedFrames, duration: Double) -> String {
        let first = r.firstFrame.map { frames.seconds(atFrame: $0) }
        let last = r.lastFrame.map { frames.seconds(atFrame: $0) }
        var attrs = "class=\"track\" id=\"track-\(r.id)\" data-track=\"\(r.id)\" data-class=\"\(escape(r.objectClass.rawValue))\" data-frames=\"\(r.frameCount)\""
        if let f = r.firstFrame, let l = r.lastFrame, let a = first, let b = last {
            attrs += " data-first-frame=\"\(f)\" data-last-frame=\"\(l)\" data-first-time=\"\(seconds(a))\" data-last-time=\"\(seconds(b))\""
        }
        for s in BoxSource.allCases { attrs += " data-\(s.rawValue)=\"\(r.sourceCounts[s] ?? 0)\"" }
        var h = "<tr \(attrs)>\n"
        h += "<td class=\"num\"><strong>\(r.id)</strong></td><td>\(escape(r.objectClass.rawValue))</td>"
        h += "<td class=\"num\">\(first.map(seconds) ?? "–")\(r.firstFrame.map { "<br><small>frame \($0)</small>" } ?? "")</td>"
        h += "<td class=\"num\">\(last.map(seconds) ?? "–")\(r.lastFrame.map { "<br><small>frame \($0)</small>" } ?? "")</td>"
        h += "<td class=\"num\">\(r.frameCount)</td>"
        h += "<td><ul class=\"sources\">"
        for s in sourcePriority {
            let n = r.sourceCounts[s] ?? 0
            guard n > 0 else { continue }
            h += "<li><span class=\"swatch\" style=\"background:\(colours[s]!)\"></span>\(s.rawValue) \(n)</li>"
        }
        h += "</ul></td>"
        h += "<td class=\"num\">\(r.maxDetectedScore.map { String(format: "%.2f", $0) } ?? "–")</td>\n<td><div class=\"thumbs\">"
        for shot in r.shots {
            let b = shot.box
            var caption = "frame \(b.frame) · \(seconds(frames.seconds(atFrame: b.frame))) s<br>\(b.source.rawValue) \(String(format: "%.2f", b.score))"
            let pickUp = r.pickUps[b.frame]
            if let gap = pickUp { caption += "<br><strong>picked up after \(gap) frames without detection</strong>" }
            let pickUpAttribute = pickUp.map { " data-pickup=\"\($0)\"" } ?? ""
            guard let t = shot.thumbnail else {
                h += "<figure class=\"thumb\" data-frame=\"\(b.frame)\"\(pickUpAttribute)><span class=\"missing\">outside picture</span><figcaption>\(caption)</figcaption></figure>"
                continue
            }
            let c = t.crop
            let left = (b.x - Double(c.x)) / Double(c.w) * 100, top = (b.y - Double(c.y)) / Double(c.h) * 100
            let right = (b.x + b.w - Double(c.x)) / Double(c.w) * 100, bottom = (b.y + b.h - Double(c.y)) / Double(c.h) * 100
            let l = max(0, min(100, left)), tp = max(0, min(100, top))
            h += "<figure class=\"thumb\" data-frame=\"\(b.frame)\" data-crop=\"\(c)\" data-source=\"\(b.source.rawValue)\"\(pickUpAttribute)>"
            h += "<div class=\"pic\"><img src=\"data:image/jpeg;base64,\(t.jpeg.base64EncodedString())\" width=\"\(t.width)\" height=\"\(t.height)\" "
            h += "alt=\"track \(r.id), frame \(b.frame)\">"
            h += "<div class=\"box\" style=\"left:\(percent(l))%;top:\(percent(tp))%;width:\(percent(min(100, right) - l))%;height:\(percent(min(100, bottom) - tp))%\"></div></div>"
            h += "<figcaption>\(caption)</figcaption></figure>"
        }
        if r.shots.isEmpty { h += "<span class=\"missing\">no box</span>" }
        h += "</div>"
        if !r.pickUps.isEmpty {
            let n = r.pickUps.count
            h += "<p class=\"pickups\" data-pickups=\"\(n)\">Picked up again \(n == 1 ? "once" : "\(n) times") after \(TrackRecord.pickUpGap) or more frames without "
                + "detection (frames \(r.pickUps.keys.sorted().map(String.init).joined(separator: ", "))): the tracker matched a detection "
                + "there by its position, which may be another face. Before keeping this track visible, check that "
                + "each thumbnail marked \"picked up\" shows the same person.</p>"
        }
        h += "</td>\n</tr>\n"
        h += "<tr class=\"timeline\" data-track=\"\(r.id)\"><td colspan=\"8\"><div class=\"strip\"><span>0 s</span>"
        h += "<svg viewBox=\"0 0 1000 10\" preserveAspectRatio=\"none\" role=\"img\" aria-label=\"track \(r.id) over the video\">"
        h += "<rect x=\"0\" y=\"0\" width=\"1000\" height=\"10\" fill=\"#e6e6e6\"/>"
        let scale = duration > 0 ? 1000 / duration : 0
        for s in r.segments {
            let t0 = frames.seconds(atFrame: s.firstFrame), t1 = frames.seconds(atFrame: s.lastFrame + 1)
            let x = t0 * scale, w = max(1.5, (t1 - t0) * scale)
            h += "<rect class=\"seg\" data-source=\"\(s.source.rawValue)\" data-frames=\"\(s.firstFrame)-\(s.lastFrame)\" "
            h += "x=\"\(String(format: "%.2f", min(x, 1000 - w)))\" y=\"0\" width=\"\(String(format: "%.2f", w))\" height=\"10\" fill=\"\(colours[s.source]!)\">"
            h += "<title>frames \(s.firstFrame)–\(s.lastFrame) (\(seconds(t0))–\(seconds(t1)) s): \(s.source.rawValue)</title></rect>"
        }
        h += "</svg><span>\(seconds(duration)) s</span></div></td></tr>\n"
        return h
    }
}
