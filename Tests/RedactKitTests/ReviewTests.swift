import Foundation
import XCTest
@testable import RedactKit

/// `redact review`: the page's rows, times and counts against ffprobe, its thumbnails against
/// the frames ffmpeg decodes (display orientation), escaping, self-containment, and the page
/// rendered by a real headless browser (Debian's chromium, installed by scripts/setup.sh).
final class ReviewTests: TempDirectoryTestCase {
    private static var fixtureDirectory: URL?
    private static var twoFaces: TwoFaceClip?
    private static let lock = NSLock()

    /// Where the browser's screenshot of the page is kept after the run (with the page itself).
    static let artefacts = Fixtures.repoRoot.appendingPathComponent(".build/test-artefacts")

    override class func setUp() {
        super.setUp()
        fixtureDirectory = try? Fixtures.makeTempDirectory("review-fixtures")
    }

    override class func tearDown() {
        if let d = fixtureDirectory { try? FileManager.default.removeItem(at: d) }
        fixtureDirectory = nil
        twoFaces = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        try super.setUpWithError()
    }

    // MARK: - Fixture: two real faces, one moving and one still

    struct TwoFaceClip {
        var url: URL
        var width = 640
        var height = 360
        var frames = 30
        /// Face A (face0.jpg, 100 px) moves; face B (face3.jpg, 90 px) stays put. Display pixels, index 0 = frame 1.
        var boxA: [Box]
        var boxB: Box
    }

    /// 640x360, 15 fps, 30 frames (2 s), testsrc2 behind two overlaid face photographs.
    static func twoFaceClip() throws -> TwoFaceClip {
        lock.lock()
        defer { lock.unlock() }
        if let c = twoFaces { return c }
        guard let dir = fixtureDirectory else { throw FixtureError("no fixture directory") }
        let url = dir.appendingPathComponent("two-faces.mp4")
        let (fps, frames) = (15, 30)
        try Fixtures.twoFacesOverTestPattern(url, frames: frames, fps: fps, sizes: (100, 90),
                                             overlays: ("x='40+120*t':y='50+40*t':eval=frame", "x=470:y=200"))
        let boxA = (0..<frames).map { n in
            Box(x: Double(Fixtures.overlayPosition(40, 120, frame: n, fps: fps)), y: Double(Fixtures.overlayPosition(50, 40, frame: n, fps: fps)),
                w: 100, h: 100)
        }
        let c = TwoFaceClip(url: url, boxA: boxA, boxB: Box(x: 470, y: 200, w: 90, h: 90))
        twoFaces = c
        return c
    }

    /// Tracks with known boxes and sources (frames 1-based):
    /// - track 1, face A, frames 1-30: extended 1-3, detected 4-12, flow and interpolated (two boxes) 13-15,
    ///   detected 16-24, extended 25-30; detected scores 0.6, 0.9 at frame 18;
    /// - track 2, face B, frames 8-27: detected 8-20 and 23-27 (0.7, 0.8 at frame 15), manual 21-22;
    /// - track 7, a plate box half outside the picture (frames 5, 6) and one wholly outside (frame 10).
    static func knownTracks(for clip: TwoFaceClip, sha256: String) -> TracksFile {
        var frames: [FrameBoxes] = (1...clip.frames).map { FrameBoxes(frame: $0, boxes: []) }
        func add(_ frame: Int, _ track: Int, _ cls: ObjectClass, _ box: Box, _ score: Double, _ source: BoxSource) {
            frames[frame - 1].boxes.append(TrackedBox(trackID: track, objectClass: cls, box: box, score: score, source: source))
        }
        for f in 1...30 {
            let box = clip.boxA[f - 1]
            switch f {
            case 1...3, 25...30: add(f, 1, .face, box, 0.3, .extended)
            case 13...15:
                add(f, 1, .face, box, 0.3, .flow)
                add(f, 1, .face, box, 0.3, .interpolated)
            default: add(f, 1, .face, box, f == 18 ? 0.9 : 0.6, .detected)
            }
        }
        for f in 8...27 { add(f, 2, .face, clip.boxB, f == 15 ? 0.8 : 0.7, (21...22).contains(f) ? .manual : .detected) }
        add(5, 7, .plate, Box(x: 600, y: 300, w: 80, h: 40), 0.5, .detected)
        add(6, 7, .plate, Box(x: 600, y: 300, w: 80, h: 40), 0.5, .detected)
        add(10, 7, .plate, Box(x: 700, y: 100, w: 50, h: 30), 0.5, .detected)
        return TracksFile(frames: frames, input: InputReference(path: clip.url.path, sha256: sha256),
                          geometry: FrameGeometry(storedWidth: clip.width, storedHeight: clip.height, quarterTurns: 0),
                          model: nil, detector: nil, tracker: TrackerConfig())
    }

    func writeTracks(_ file: TracksFile, name: String = "tracks.json") throws -> URL {
        let url = dir.appendingPathComponent(name)
        try JSONFiles.write(file, to: url)
        return url
    }

    // MARK: - Page parsing (the page's own data attributes; values are checked against independent sources)

    struct Row {
        var attributes: [String: String]
        var shots: [Shot]
        var html: String
        func int(_ key: String) -> Int? { attributes[key].flatMap { Int($0) } }
    }

    struct Shot {
        var frame: Int
        var crop: Fixtures.Rect?
        var jpeg: Data?
        var width: Int
        var height: Int
        /// Frames without detection before a pick-up (`data-pickup`); nil: not a pick-up.
        var pickUp: Int? = nil
    }

    static func attributes(_ tag: String) -> [String: String] {
        let re = try! NSRegularExpression(pattern: #"([a-z-]+)="([^"]*)""#)
        var out: [String: String] = [:]
        for m in re.matches(in: tag, range: NSRange(tag.startIndex..., in: tag)) {
            out[String(tag[Range(m.range(at: 1), in: tag)!])] = String(tag[Range(m.range(at: 2), in: tag)!])
        }
        return out
    }

    static func rows(_ html: String) -> [Row] {
        let parts = html.components(separatedBy: "<tr class=\"track\"").dropFirst()
        return parts.map { part in
            let body = String(part)
            let tagEnd = body.firstIndex(of: ">")!
            let attrs = attributes(String(body[..<tagEnd]))
            let rowHTML = body.components(separatedBy: "<tr class=\"track\"")[0]
            var shots: [Shot] = []
            for fig in rowHTML.components(separatedBy: "<figure class=\"thumb\"").dropFirst() {
                let figure = fig.components(separatedBy: "</figure>")[0]
                let fa = attributes(String(figure[..<figure.firstIndex(of: ">")!]))
                var shot = Shot(frame: Int(fa["data-frame"] ?? "") ?? -1, crop: nil, jpeg: nil, width: 0, height: 0)
                shot.pickUp = fa["data-pickup"].flatMap { Int($0) }
                if let c = fa["data-crop"] {
                    let v = c.split(separator: ",").compactMap { Int($0) }
                    if v.count == 4 { shot.crop = Fixtures.Rect(x0: v[0], y0: v[1], x1: v[0] + v[2], y1: v[1] + v[3]) }
                }
                if let imgStart = figure.range(of: "<img ") {
                    let img = figure[imgStart.lowerBound...].prefix { $0 != ">" }
                    let ia = attributes(String(img))
                    if let src = ia["src"], src.hasPrefix("data:image/jpeg;base64,") {
                        shot.jpeg = Data(base64Encoded: String(src.dropFirst("data:image/jpeg;base64,".count)))
                    }
                    shot.width = Int(ia["width"] ?? "") ?? 0
                    shot.height = Int(ia["height"] ?? "") ?? 0
                }
                shots.append(shot)
            }
            return Row(attributes: attrs, shots: shots, html: rowHTML)
        }
    }

    // MARK: - Pixels

    struct RGBImage {
        var width: Int
        var height: Int
        var pixels: [UInt8]
        /// Mean of each channel over each cell of an n x n grid laid over `r`.
        func cellMeans(_ r: Fixtures.Rect, grid n: Int = 6) -> [Double] {
            var out: [Double] = []
            for gy in 0..<n {
                for gx in 0..<n {
                    let x0 = r.x0 + (r.x1 - r.x0) * gx / n, x1 = r.x0 + (r.x1 - r.x0) * (gx + 1) / n
                    let y0 = r.y0 + (r.y1 - r.y0) * gy / n, y1 = r.y0 + (r.y1 - r.y0) * (gy + 1) / n
                    var sum = [0.0, 0.0, 0.0], count = 0.0
                    for y in y0..<max(y0 + 1, y1) {
                        for x in x0..<max(x0 + 1, x1) {
                            let i = (y * width + x) * 3
                            for c in 0..<3 { sum[c] += Double(pixels[i + c]) }
                            count += 1
                        }
                    }
                    out += sum.map { $0 / count }
                }
            }
            return out
        }
        var whole: Fixtures.Rect { Fixtures.Rect(x0: 0, y0: 0, x1: width, y1: height) }
        /// This image turned a quarter clockwise.
        func turnedClockwise() -> RGBImage {
            var out = [UInt8](repeating: 0, count: pixels.count)
            for y in 0..<height {
                for x in 0..<width {
                    let (nx, ny) = (height - 1 - y, x)
                    for c in 0..<3 { out[(ny * height + nx) * 3 + c] = pixels[(y * width + x) * 3 + c] }
                }
            }
            return RGBImage(width: height, height: width, pixels: out)
        }
    }

    static func meanAbsDiff(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(max(1, a.count))
    }

    /// Every frame as packed RGB in display orientation (ffmpeg autorotates), or one image file.
    static func rgbFrames(_ file: URL, width: Int, height: Int) throws -> [RGBImage] {
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("rgb-\(UUID().uuidString).raw")
        defer { try? FileManager.default.removeItem(at: raw) }
        try Fixtures.ffmpeg(["-i", file.path, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", raw.path])
        let data = [UInt8](try Data(contentsOf: raw))
        let size = width * height * 3
        guard size > 0, data.count % size == 0 else { throw FixtureError("\(file.path): \(data.count) bytes is not whole \(width)x\(height) RGB frames") }
        return stride(from: 0, to: data.count, by: size).map { RGBImage(width: width, height: height, pixels: Array(data[$0..<($0 + size)])) }
    }

    /// Decodes a JPEG with ffmpeg (independent of the encoder under test); checks its size.
    static func decodeJPEG(_ data: Data, width: Int, height: Int) throws -> RGBImage {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("thumb-\(UUID().uuidString).jpg")
        defer { try? FileManager.default.removeItem(at: url) }
        try data.write(to: url)
        let probe = try Fixtures.streams(url, type: "video").first
        XCTAssertEqual(probe?["codec_name"] as? String, "mjpeg")
        XCTAssertEqual(probe?["width"] as? Int, width)
        XCTAssertEqual(probe?["height"] as? Int, height)
        guard let image = try rgbFrames(url, width: width, height: height).first else { throw FixtureError("no picture in the JPEG") }
        return image
    }

    /// The crop the page must show for `box`: grown 25 % per side, clipped, whole pixels (docs/review.md).
    static func expectedCrop(_ box: Box, width: Int, height: Int) -> Fixtures.Rect? {
        let p = box.padded(by: 0.25)
        let r = Fixtures.Rect(x0: max(0, Int(p.x.rounded(.down))), y0: max(0, Int(p.y.rounded(.down))),
                              x1: min(width, Int(p.maxX.rounded(.up))), y1: min(height, Int(p.maxY.rounded(.up))))
        return r.x1 - r.x0 >= 2 && r.y1 - r.y0 >= 2 ? r : nil
    }

    /// Checks one thumbnail against the decoded frame: its crop rectangle, its size, and its pixels
    /// (6x6 grid of cell means within 8 levels), and that a crop half a box away would not match.
    /// `discriminate: false` for a box over a flat area, where any nearby region looks the same.
    func assertThumbnail(_ shot: Shot, box: Box, frames: [RGBImage], label: String, discriminate: Bool = true,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let frame = frames[shot.frame - 1]
        guard let expected = Self.expectedCrop(box, width: frame.width, height: frame.height) else {
            XCTAssertNil(shot.jpeg, "\(label): box outside the picture should have no thumbnail", file: file, line: line)
            return
        }
        guard let crop = shot.crop, let jpeg = shot.jpeg else {
            XCTFail("\(label): no thumbnail", file: file, line: line)
            return
        }
        XCTAssertEqual(crop.description, expected.description, "\(label): crop", file: file, line: line)
        let w = expected.x1 - expected.x0, h = expected.y1 - expected.y0
        let s = min(1.0, 192 / Double(max(w, h)))
        XCTAssertEqual(shot.width, Int((Double(w) * s).rounded()), "\(label): width", file: file, line: line)
        XCTAssertEqual(shot.height, Int((Double(h) * s).rounded()), "\(label): height", file: file, line: line)
        XCTAssertEqual([UInt8](jpeg.prefix(3)), [0xFF, 0xD8, 0xFF], "\(label): JPEG signature", file: file, line: line)
        let thumb = try Self.decodeJPEG(jpeg, width: shot.width, height: shot.height)
        let got = thumb.cellMeans(thumb.whole)
        let diff = Self.meanAbsDiff(got, frame.cellMeans(expected))
        XCTAssertLessThan(diff, 8, "\(label): thumbnail pixels differ from the decoded frame's crop \(expected)", file: file, line: line)
        // The comparison can tell: the same-size region half a box to the side (or up) differs clearly.
        let dx = expected.x1 + w / 2 <= frame.width ? w / 2 : -w / 2
        let shifted = Fixtures.Rect(x0: expected.x0 + dx, y0: expected.y0, x1: expected.x1 + dx, y1: expected.y1)
        if discriminate && shifted.x0 >= 0 && shifted.x1 <= frame.width {
            XCTAssertGreaterThan(Self.meanAbsDiff(got, frame.cellMeans(shifted)), 3 * max(diff, 4), "\(label): comparison not discriminating",
                                 file: file, line: line)
        }
    }

    // MARK: - Tests

    func testPageHasOneRowPerTrackWithCountsTimesAndMatchingThumbnails() throws {
        let clip = try Self.twoFaceClip()
        let sha = try FileDigest.sha256(of: clip.url)
        let tracks = try writeTracks(Self.knownTracks(for: clip, sha256: sha))
        let out = dir.appendingPathComponent("review.html")
        let summary = try ReviewPage.write(input: clip.url, tracks: tracks, output: out)
        XCTAssertEqual(summary.tracks, 3)
        XCTAssertEqual(summary.frames, 30)
        let html = try String(contentsOf: out, encoding: .utf8)
        let attrs = try FileManager.default.attributesOfItem(atPath: out.path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600, "the page shows unredacted faces: owner-only")
        XCTAssertTrue(html.contains("INTERNAL WORKING COPY — contains unredacted crops; do not disclose"))
        XCTAssertTrue(html.contains(sha))
        // The tracks file's SHA-256, which a job keeping these ids names (`tracks_sha256`).
        let tracksSHA = try FileDigest.sha256(of: tracks)
        XCTAssertEqual(summary.tracksSHA256, tracksSHA)
        XCTAssertTrue(html.contains(#"<code id="tracks-sha256">\#(tracksSHA)</code>"#))

        let pts = try Fixtures.framePTS(clip.url)
        XCTAssertEqual(pts.count, 30)
        func t(_ frame: Int) -> String { String(format: "%.3f", pts[frame - 1] - pts[0]) }
        let rows = Self.rows(html)
        XCTAssertEqual(rows.map { $0.int("data-track") }, [1, 2, 7])
        XCTAssertEqual(html.components(separatedBy: "<tr class=\"timeline\"").count - 1, 3, "one timeline strip per track")
        let expected: [(id: Int, first: Int, last: Int, frames: Int, counts: [String: Int], shots: [Int])] = [
            (1, 1, 30, 30, ["detected": 18, "flow": 3, "interpolated": 3, "extended": 9, "manual": 0], [4, 12, 18, 24]),
            (2, 8, 27, 20, ["detected": 18, "manual": 2, "flow": 0, "interpolated": 0, "extended": 0], [8, 15, 17, 27]),
            (7, 5, 10, 3, ["detected": 3, "manual": 0, "flow": 0, "interpolated": 0, "extended": 0], [5, 6, 10]),
        ]
        let frames = try Self.rgbFrames(clip.url, width: clip.width, height: clip.height)
        XCTAssertEqual(frames.count, 30)
        for (row, e) in zip(rows, expected) {
            let label = "track \(e.id)"
            XCTAssertEqual(row.int("data-frames"), e.frames, label)
            XCTAssertEqual(row.int("data-first-frame"), e.first, label)
            XCTAssertEqual(row.int("data-last-frame"), e.last, label)
            XCTAssertEqual(row.attributes["data-first-time"], t(e.first), label)
            XCTAssertEqual(row.attributes["data-last-time"], t(e.last), label)
            for (source, n) in e.counts { XCTAssertEqual(row.int("data-\(source)"), n, "\(label) \(source)") }
            XCTAssertEqual(row.shots.map(\.frame), e.shots, "\(label): thumbnails at first, best, middle, last detected")
            for shot in row.shots {
                let box: Box
                switch e.id {
                case 1: box = clip.boxA[shot.frame - 1]
                case 2: box = clip.boxB
                default: box = shot.frame == 10 ? Box(x: 700, y: 100, w: 50, h: 30) : Box(x: 600, y: 300, w: 80, h: 40)
                }
                // Track 7's box lies over testsrc2's flat cyan: only its crop and pixels are checked.
                try assertThumbnail(shot, box: box, frames: frames, label: "\(label) frame \(shot.frame)", discriminate: e.id != 7)
            }
        }
        XCTAssertTrue(rows[2].html.contains("outside picture"), "the box outside the picture is said to be")
        XCTAssertTrue(rows[0].html.contains("0.90"), "track 1's max detector score")
        // Track 1's strip: extended, detected, interpolated (stronger than flow), detected, extended.
        let segs = try NSRegularExpression(pattern: #"data-source="([a-z]+)" data-frames="(\d+)-(\d+)""#)
        let strip = html.components(separatedBy: "<tr class=\"timeline\" data-track=\"1\"")[1].components(separatedBy: "</tr>")[0]
        let runs = segs.matches(in: strip, range: NSRange(strip.startIndex..., in: strip)).map { m in
            (1...3).map { String(strip[Range(m.range(at: $0), in: strip)!]) }.joined(separator: " ")
        }
        XCTAssertEqual(runs, ["extended 1 3", "detected 4 12", "interpolated 13 15", "detected 16 24", "extended 25 30"])
        XCTAssertFalse(html.contains("data-pickup=") || html.contains("<p class=\"pickups\""), "no track went 8 frames without detection")
        try assertSelfContained(html)
    }

    /// A track the tracker carried through a gap and then matched to another face (face A
    /// detected in frames 1-10, nothing detected in 11-20, face B detected in 21-30): the page
    /// shows the pick-up at frame 21 beside the usual thumbnails, with B's pixels, marks it, and
    /// asks the analyst to check it before keeping the track.
    func testATrackPickedUpAgainAfterAGapShowsThePickUp() throws {
        let clip = try Self.twoFaceClip()
        let sha = try FileDigest.sha256(of: clip.url)
        var frames: [FrameBoxes] = (1...clip.frames).map { FrameBoxes(frame: $0, boxes: []) }
        for f in 1...30 {
            let (box, score, source): (Box, Double, BoxSource) = switch f {
            case 1...10: (clip.boxA[f - 1], f == 5 ? 0.9 : 0.6, .detected)
            case 11...20: (clip.boxA[f - 1], 0.6, .interpolated)
            default: (clip.boxB, 0.7, .detected)
            }
            frames[f - 1].boxes.append(TrackedBox(trackID: 4, objectClass: .face, box: box, score: score, source: source))
        }
        let file = TracksFile(frames: frames, input: InputReference(path: clip.url.path, sha256: sha),
                              geometry: FrameGeometry(storedWidth: clip.width, storedHeight: clip.height, quarterTurns: 0),
                              model: nil, detector: nil, tracker: TrackerConfig())
        let out = dir.appendingPathComponent("pickup.html")
        try ReviewPage.write(input: clip.url, tracks: try writeTracks(file, name: "pickup.json"), output: out)
        let html = try String(contentsOf: out, encoding: .utf8)
        let rows = Self.rows(html)
        XCTAssertEqual(rows.count, 1)
        let row = try XCTUnwrap(rows.first)
        // First, best, midway (the 10th of 20 detected boxes) and last, and the pick-up.
        XCTAssertEqual(row.shots.map(\.frame), [1, 5, 10, 21, 30])
        XCTAssertEqual(row.shots.map(\.pickUp), [nil, nil, nil, 10, nil])
        let pixels = try Self.rgbFrames(clip.url, width: clip.width, height: clip.height)
        for shot in row.shots {
            try assertThumbnail(shot, box: shot.frame <= 10 ? clip.boxA[shot.frame - 1] : clip.boxB, frames: pixels,
                                label: "frame \(shot.frame)")
        }
        XCTAssertTrue(row.html.contains("picked up after 10 frames without detection"), row.html)
        XCTAssertTrue(row.html.contains(#"<p class="pickups" data-pickups="1">Picked up again once"#), row.html)
        XCTAssertTrue(row.html.contains("(frames 21)"), row.html)
        try assertSelfContained(html)
    }

    /// No script, no link, nothing fetched: every src is a data: URI.
    func assertSelfContained(_ html: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let lower = html.lowercased()
        for bad in ["http://", "https://", "<script", "<link", "<iframe", "<object", "<embed", "@import", "url(", "href=", "srcset", "//www."] {
            XCTAssertFalse(lower.contains(bad), "page contains \(bad)", file: file, line: line)
        }
        let srcs = try NSRegularExpression(pattern: #"\bsrc\s*=\s*"([^"]*)""#).matches(in: html, range: NSRange(html.startIndex..., in: html))
        XCTAssertGreaterThan(srcs.count, 0, file: file, line: line)
        for m in srcs {
            let value = String(html[Range(m.range(at: 1), in: html)!])
            XCTAssertTrue(value.hasPrefix("data:image/jpeg;base64,"), "src is not an inline JPEG: \(value.prefix(40))", file: file, line: line)
        }
    }

    /// The review page of `clip` with one track: its true face box in every frame.
    func pageOfTrueBoxes(_ clip: Fixtures.Clip, geometry: FrameGeometry, name: String) throws -> String {
        let sha = try FileDigest.sha256(of: clip.url)
        let frames = (1...clip.frameCount).map { n in
            FrameBoxes(frame: n, boxes: [TrackedBox(trackID: 3, objectClass: .face, box: clip.boxes[n - 1], score: 0.8, source: .detected)])
        }
        let file = TracksFile(frames: frames, input: InputReference(path: clip.url.path, sha256: sha), geometry: geometry,
                              model: nil, detector: nil, tracker: TrackerConfig())
        let out = dir.appendingPathComponent("\(name).html")
        try ReviewPage.write(input: clip.url, tracks: try writeTracks(file), output: out)
        return try String(contentsOf: out, encoding: .utf8)
    }

    func testRotatedVideoThumbnailsAreUpright() throws {
        var o = Fixtures.ClipOptions()
        o.name = "portrait"
        o.width = 360
        o.height = 640
        o.frames = 12
        o.rotation = 90
        o.audioTracks = 0
        o.x0 = 60
        o.y0 = 200
        o.vx = 45
        o.vy = 120
        let clip = try Fixtures.makeClip(in: dir, o)
        XCTAssertEqual(try Fixtures.rotation(clip.url).map { abs($0) }, 90, "fixture has a display matrix")
        // Stored 640x360, shown 360x640.
        let html = try pageOfTrueBoxes(clip, geometry: FrameGeometry(storedWidth: 640, storedHeight: 360, quarterTurns: 1), name: "portrait")
        let rows = Self.rows(html)
        XCTAssertEqual(rows.count, 1)
        let decoded = try Self.rgbFrames(clip.url, width: 360, height: 640)
        XCTAssertEqual(decoded.count, 12)
        let shots = rows.first?.shots ?? []
        XCTAssertEqual(shots.map(\.frame), [1, 6, 12])
        for shot in shots {
            try assertThumbnail(shot, box: clip.boxes[shot.frame - 1], frames: decoded, label: "portrait frame \(shot.frame)")
            // Not the stored (sideways) picture: the thumbnail turned a quarter is far from the display crop.
            let crop = try XCTUnwrap(shot.crop)
            let thumb = try Self.decodeJPEG(try XCTUnwrap(shot.jpeg), width: shot.width, height: shot.height)
            let upright = Self.meanAbsDiff(thumb.cellMeans(thumb.whole), decoded[shot.frame - 1].cellMeans(crop))
            let sideways = thumb.turnedClockwise()
            XCTAssertGreaterThan(Self.meanAbsDiff(sideways.cellMeans(sideways.whole), decoded[shot.frame - 1].cellMeans(crop)), 3 * max(upright, 4))
        }
    }

    /// A width that is not a multiple of libswscale's SIMD block (358 = 22 * 16 + 6; dev07's 1278
    /// is another): the picture the thumbnails are cut from must be right up to its last column
    /// and row, where a converter writing whole blocks would spill (`swsDestinationSlack`).
    func testThumbnailsAtTheRightEdgeOfAnOddWidthVideo() throws {
        var o = Fixtures.ClipOptions()
        o.name = "odd-width"
        o.width = 358
        o.height = 240
        o.frames = 6
        o.faceSize = 80
        o.x0 = 276  // the face's right side on the last column
        o.y0 = 158  // and its bottom on the last row
        o.vx = 0
        o.vy = 0
        o.audioTracks = 0
        let clip = try Fixtures.makeClip(in: dir, o)
        let rows = Self.rows(try pageOfTrueBoxes(clip, geometry: FrameGeometry(storedWidth: 358, storedHeight: 240, quarterTurns: 0), name: "odd-width"))
        XCTAssertEqual(rows.count, 1)
        let decoded = try Self.rgbFrames(clip.url, width: 358, height: 240)
        let shots = rows.first?.shots ?? []
        XCTAssertFalse(shots.isEmpty)
        for shot in shots {
            let crop = try XCTUnwrap(shot.crop)
            XCTAssertEqual(crop.x1, 358, "the crop reaches the last column")
            XCTAssertEqual(crop.y1, 240, "the crop reaches the last row")
            try assertThumbnail(shot, box: clip.boxes[shot.frame - 1], frames: decoded, label: "odd width frame \(shot.frame)")
        }
    }

    // MARK: - Command line

    func testCLIEscapesPathsAndRefusesTracksOfAnotherFile() throws {
        _ = try Fixtures.requireBinary()
        let clip = try Self.twoFaceClip()
        let odd = dir.appendingPathComponent("case <12> & \"co\" 'x'")
        try FileManager.default.createDirectory(at: odd, withIntermediateDirectories: true)
        let input = odd.appendingPathComponent("clip<b>&amp.mp4")
        try FileManager.default.copyItem(at: clip.url, to: input)
        let sha = try FileDigest.sha256(of: input)
        let tracks = odd.appendingPathComponent("tracks <i>&.json")
        try JSONFiles.write(Self.knownTracks(for: clip, sha256: sha), to: tracks)
        let out = dir.appendingPathComponent("page.html")
        let r = try Fixtures.redact(["review", input.path, tracks.path, "-o", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("3 tracks"), r.stderr)
        XCTAssertTrue(r.stderr.contains("SHA-256 \(try FileDigest.sha256(of: tracks))"), r.stderr)
        let html = try String(contentsOf: out, encoding: .utf8)
        XCTAssertFalse(html.contains("<12>"), "directory name not escaped")
        XCTAssertFalse(html.contains("<b>"), "input name not escaped")
        XCTAssertFalse(html.contains("<i>"), "tracks name not escaped")
        XCTAssertTrue(html.contains("case &lt;12&gt; &amp; &quot;co&quot; &#39;x&#39;/tracks &lt;i&gt;&amp;.json"), "tracks path, escaped")
        XCTAssertTrue(html.contains("clip&lt;b&gt;&amp;amp.mp4"), "input name, escaped")
        XCTAssertEqual(Self.rows(html).count, 3)
        try assertSelfContained(html)

        // The same tracks against another file: exit 65, one line naming the JSON path, nothing written.
        var other = Self.knownTracks(for: clip, sha256: String(repeating: "0", count: 64))
        other.input.path = "/elsewhere/other.mp4"
        let wrong = dir.appendingPathComponent("wrong.json")
        try JSONFiles.write(other, to: wrong)
        let out2 = dir.appendingPathComponent("refused.html")
        let r2 = try Fixtures.redact(["review", input.path, wrong.path, "-o", out2.path])
        XCTAssertEqual(r2.status, 65, r2.stderr)
        XCTAssertEqual(r2.stderrLines.count, 1, r2.stderr)
        XCTAssertTrue(r2.stderr.contains(wrong.path) && r2.stderr.contains("$.input.sha256"), r2.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out2.path))
        XCTAssertEqual(Fixtures.listing(dir).filter { $0.hasPrefix(".") }, [], "temporary files left")

        // Missing input: 66; an output that is not .html: 64 (the page is no video).
        let r3 = try Fixtures.redact(["review", dir.appendingPathComponent("none.mp4").path, tracks.path, "-o", out2.path])
        XCTAssertEqual(r3.status, 66, r3.stderr)
        let r4 = try Fixtures.redact(["review", input.path, tracks.path, "-o", dir.appendingPathComponent("page.mp4").path])
        XCTAssertEqual(r4.status, 64, r4.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out2.path))
    }

    // MARK: - A real browser

    /// Renders the page in Debian's chromium (headless) and checks the screenshot: the banner is
    /// there, and every thumbnail with its yellow box outline is visible and shows the pixels of
    /// that box in the decoded video. The screenshot and the page are kept in .build/test-artefacts/.
    func testChromiumRendersThePage() throws {
        let chromium = "/usr/bin/chromium"
        guard FileManager.default.isExecutableFile(atPath: chromium) else {
            throw FixtureError("\(chromium) missing: run `make setup` (scripts/setup.sh installs Debian's chromium)")
        }
        let clip = try Self.twoFaceClip()
        let tracks = try writeTracks(Self.knownTracks(for: clip, sha256: try FileDigest.sha256(of: clip.url)))
        try FileManager.default.createDirectory(at: Self.artefacts, withIntermediateDirectories: true)
        let page = Self.artefacts.appendingPathComponent("review.html")
        let png = Self.artefacts.appendingPathComponent("review.png")
        for f in [page, png] { try? FileManager.default.removeItem(at: f) }
        try ReviewPage.write(input: clip.url, tracks: tracks, output: page)
        let (width, height) = (1280, 2000)
        let r = try Fixtures.run("/usr/bin/timeout", [
            "120", chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            "--user-data-dir=\(dir.appendingPathComponent("chromium-profile").path)",
            "--screenshot=\(png.path)", "--window-size=\(width),\(height)", page.absoluteString,
        ])
        XCTAssertEqual(r.status, 0, "chromium failed: \(r.stderr.suffix(2000))")
        print("review page screenshot: \(png.path) (page: \(page.path))")
        let size = (try FileManager.default.attributesOfItem(atPath: png.path)[.size] as? NSNumber)?.intValue ?? 0
        XCTAssertGreaterThan(size, 20_000, "screenshot is (nearly) empty")
        let shot = try XCTUnwrap(try Self.rgbFrames(png, width: width, height: height).first)

        // Not one colour: a page with photographs has thousands of distinct colours.
        var colours = Set<Int>()
        for i in stride(from: 0, to: shot.pixels.count, by: 3) {
            colours.insert(Int(shot.pixels[i]) << 16 | Int(shot.pixels[i + 1]) << 8 | Int(shot.pixels[i + 2]))
        }
        XCTAssertGreaterThan(colours.count, 2000)
        // The red banner across the top.
        func near(_ x: Int, _ y: Int, _ c: (Int, Int, Int), _ tol: Int) -> Bool {
            let i = (y * width + x) * 3
            return abs(Int(shot.pixels[i]) - c.0) <= tol && abs(Int(shot.pixels[i + 1]) - c.1) <= tol && abs(Int(shot.pixels[i + 2]) - c.2) <= tol
        }
        let red = (0..<width).filter { near($0, 6, (0xb0, 0x00, 0x20), 8) }.count
        XCTAssertGreaterThan(Double(red) / Double(width), 0.9, "no banner at the top")

        // Thumbnails: find each yellow box outline (top-left corner: yellow, nothing yellow above or to the
        // left). The border is drawn opaque in exactly #ffeb3b; photographs rarely come that close.
        let yellow = (0xff, 0xeb, 0x3b)
        var rects: [Fixtures.Rect] = []
        for y in 1..<height {
            var x = 1
            while x < width {
                guard near(x, y, yellow, 6), !near(x, y - 1, yellow, 6), !near(x - 1, y, yellow, 6) else { x += 1; continue }
                var x1 = x
                while x1 < width && near(x1, y, yellow, 6) { x1 += 1 }
                var y1 = y
                while y1 < height && near(x, y1, yellow, 6) { y1 += 1 }
                guard x1 - x >= 20 && y1 - y >= 20 else { x += 1; continue }
                rects.append(Fixtures.Rect(x0: x, y0: y, x1: x1, y1: y1))
                x = x1
            }
        }
        // 10 thumbnails: 4 + 4 + 2 (track 7's third box is outside the picture).
        XCTAssertEqual(rects.count, 10, "box outlines found: \(rects)")
        let frames = try Self.rgbFrames(clip.url, width: clip.width, height: clip.height)
        var references: [(track: Int, cells: [Double])] = []
        for row in Self.rows(try String(contentsOf: page, encoding: .utf8)) {
            let id = row.int("data-track")!
            for s in row.shots where s.jpeg != nil {
                let box = id == 1 ? clip.boxA[s.frame - 1] : id == 2 ? clip.boxB : Box(x: 600, y: 300, w: 80, h: 40)
                let r = Fixtures.Rect(x0: Int(box.x), y0: Int(box.y), x1: min(clip.width, Int(box.maxX)), y1: min(clip.height, Int(box.maxY)))
                references.append((id, frames[s.frame - 1].cellMeans(r, grid: 4)))
            }
        }
        var matchedTracks = Set<Int>()
        for rect in rects {
            let inner = Fixtures.Rect(x0: rect.x0 + 3, y0: rect.y0 + 3, x1: rect.x1 - 3, y1: rect.y1 - 3)
            let cells = shot.cellMeans(inner, grid: 4)
            let best = references.map { ($0.track, Self.meanAbsDiff(cells, $0.cells)) }.min { $0.1 < $1.1 }!
            XCTAssertLessThan(best.1, 20, "the picture inside the outline at \(rect) matches no thumbnail's box (best: track \(best.0))")
            if best.1 < 20 { matchedTracks.insert(best.0) }
        }
        XCTAssertEqual(matchedTracks, [1, 2, 7])
    }

    func testFrameCountMismatchIsRefused() throws {
        let clip = try Self.twoFaceClip()
        var file = Self.knownTracks(for: clip, sha256: try FileDigest.sha256(of: clip.url))
        file.frameCount = 31
        let tracks = try writeTracks(file)
        let out = dir.appendingPathComponent("r.html")
        XCTAssertThrowsError(try ReviewPage.write(input: clip.url, tracks: tracks, output: out)) { error in
            guard case RedactError.badJSON(let path, let jsonPath, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, tracks.path)
            XCTAssertEqual(jsonPath, "$.frame_count")
            XCTAssertEqual((error as? RedactError)?.exitCode, 65)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        XCTAssertEqual(Fixtures.listing(dir).filter { $0.hasPrefix(".") }, [])
    }
}
