import Foundation
import XCTest
@testable import RedactKit

/// Media fixtures made with the ffmpeg/ffprobe command-line tools (independent of the code under
/// test), plus helpers to run processes, decode frames to gray and measure pixel regions.
enum Fixtures {
    // MARK: - Locations

    /// The package root (…/Tests/RedactKitTests/Fixtures.swift -> three levels up).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var modelsDirectory: URL { repoRoot.appendingPathComponent("models") }
    static func face(_ i: Int) -> URL { repoRoot.appendingPathComponent(".cache/faces/face\(i).jpg") }

    static func registry() throws -> ModelRegistry {
        try ModelRegistry(directory: modelsDirectory)
    }

    /// Fails (never silently passes) when the environment made by `make setup` is missing.
    static func requireSetup() throws {
        let fm = FileManager.default
        for path in ["/usr/bin/ffmpeg", "/usr/bin/ffprobe", modelsDirectory.appendingPathComponent("centerface.onnx").path, face(0).path] {
            guard fm.fileExists(atPath: path) else { throw FixtureError("\(path) missing: run `make setup`") }
        }
    }

    /// The `redact` executable built beside the test bundle.
    static let redactBinary: URL? = {
        var candidates: [URL] = []
        for bundle in [Bundle.main] + Bundle.allBundles {
            let u = bundle.bundleURL
            candidates += [u, u.deletingLastPathComponent(), u.deletingLastPathComponent().deletingLastPathComponent()]
        }
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        let arg0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates += [arg0.deletingLastPathComponent(), arg0.deletingLastPathComponent().deletingLastPathComponent()]
        for dir in candidates {
            let f = dir.appendingPathComponent("redact")
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: f.path, isDirectory: &isDir), !isDir.boolValue,
               FileManager.default.isExecutableFile(atPath: f.path) {
                return f
            }
        }
        return nil
    }()

    static func requireBinary() throws -> URL {
        guard let b = redactBinary else { throw FixtureError("redact executable not found beside the test bundle") }
        return b
    }

    static func makeTempDirectory(_ prefix: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Every entry of a directory, hidden files included.
    static func listing(_ dir: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    // MARK: - Processes

    struct ProcessResult {
        var status: Int32
        var stdout: Data
        var stderr: String
        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    }

    /// Runs a program to completion; stdout and stderr go through files (no pipe deadlocks).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    currentDirectory: URL? = nil) throws -> ProcessResult {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outURL = scratch.appendingPathComponent("out"), errURL = scratch.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let currentDirectory { p.currentDirectoryURL = currentDirectory }
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try out.close()
        try err.close()
        return ProcessResult(status: p.terminationStatus, stdout: try Data(contentsOf: outURL),
                             stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Runs ffmpeg (quiet) and fails loudly if it fails.
    static func ffmpeg(_ arguments: [String]) throws {
        let r = try run("/usr/bin/ffmpeg", ["-nostdin", "-hide_banner", "-v", "error", "-y"] + arguments)
        guard r.status == 0 else {
            throw FixtureError("ffmpeg \(arguments.joined(separator: " ")) failed (\(r.status)): \(r.stderr)")
        }
    }

    /// `frames` frames of testsrc2 at 640x360 and `fps`, with face photographs 0 and 3 scaled to
    /// `sizes` and laid over it by the overlay filters' options `overlays` (position, `enable`);
    /// H.264, veryfast, CRF 12, yuv420p.
    static func twoFacesOverTestPattern(_ url: URL, frames: Int, fps: Int, sizes: (Int, Int), overlays: (String, String)) throws {
        try ffmpeg([
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=\(fps)",
            "-loop", "1", "-framerate", "\(fps)", "-i", face(0).path,
            "-loop", "1", "-framerate", "\(fps)", "-i", face(3).path,
            "-filter_complex",
            "[1:v]scale=\(sizes.0):\(sizes.0),format=yuv420p[a];[2:v]scale=\(sizes.1):\(sizes.1),format=yuv420p[b];[0:v]format=yuv420p[bg];"
                + "[bg][a]overlay=\(overlays.0)[t];[t][b]overlay=\(overlays.1)[v]",
            "-map", "[v]", "-frames:v", "\(frames)", "-c:v", "libx264", "-preset", "veryfast", "-crf", "12", "-pix_fmt", "yuv420p",
            url.path,
        ])
    }

    static func ffprobeJSON(_ arguments: [String]) throws -> [String: Any] {
        let r = try run("/usr/bin/ffprobe", ["-v", "error", "-of", "json"] + arguments)
        guard r.status == 0, let obj = try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any] else {
            throw FixtureError("ffprobe \(arguments.joined(separator: " ")) failed (\(r.status)): \(r.stderr)")
        }
        return obj
    }

    /// A signing key made by `redact keygen` in `dir` (`signing.key` and `.pub`).
    static func makeKey(in dir: URL) throws -> URL {
        let key = dir.appendingPathComponent("signing.key")
        let r = try redact(["keygen", "-o", key.path])
        guard r.status == 0 else { throw FixtureError("redact keygen failed: \(r.stderr)") }
        return key
    }

    /// Runs the real `redact` executable with the repository's models.
    @discardableResult
    static func redact(_ arguments: [String], currentDirectory: URL? = nil) throws -> ProcessResult {
        let bin = try requireBinary()
        return try run(bin.path, arguments, environment: ["REDACT_MODELS": modelsDirectory.path], currentDirectory: currentDirectory)
    }

    // MARK: - Clips

    enum Background: String {
        case testsrc2, smptebars
    }

    struct ClipOptions {
        var face = 0
        var background = Background.testsrc2
        /// Display size (what a player shows).
        var width = 640
        var height = 360
        var fps = 15
        var frames = 60
        /// Face image size in pixels (square) and its linear motion (display pixels, pixels per second).
        var faceSize = 110
        var x0 = 100.0
        var y0 = 120.0
        var vx = 60.0
        var vy = 30.0
        /// Number of AAC tracks (sine tones of different pitch).
        var audioTracks = 1
        /// Irregular presentation timestamps (frame n at n/fps + 0.04 s for odd n).
        var variableFrameRate = false
        /// Display-matrix rotation written with ffmpeg's `rotate` stream tag (0, 90, 180, 270).
        /// The stored picture is turned the other way, so a player honouring the matrix shows the
        /// display-size picture above with the face upright (ground truth stays in display coordinates).
        var rotation = 0
        /// Pixel format of the encoded clip, e.g. yuv420p10le (10-bit) or yuv444p (needed for an
        /// odd width or height: libx264 cannot code those in 4:2:0). The face is overlaid in 8-bit
        /// 4:2:0 either way, so `overlayPosition` holds.
        var pixelFormat = "yuv420p"
        /// ffmpeg video encoder, e.g. libx265.
        var videoCodec = "libx264"
        var name = "clip"
        init() {}
    }

    struct Clip {
        var url: URL
        var options: ClipOptions
        /// Ground-truth face box in display coordinates, per frame (index 0 = frame 1).
        var boxes: [Box]
        var width: Int { options.width }
        var height: Int { options.height }
        var frameCount: Int { options.frames }
        /// The face inside the photograph (`RecallRegressionTests.faceRegion`), per frame.
        var faceBoxes: [Box] {
            let r = RecallRegressionTests.faceRegion
            return boxes.map { Box(x: $0.x + r.x * $0.w, y: $0.y + r.y * $0.h, w: r.w * $0.w, h: r.h * $0.h) }
        }
    }

    /// Where overlay puts the face at time t: ffmpeg evaluates x = x0 + vx*t and truncates to an
    /// even pixel for a 4:2:0 main picture (overlay's normalize_xy).
    static func overlayPosition(_ v0: Double, _ velocity: Double, frame n: Int, fps: Int) -> Int {
        Int((v0 + velocity * Double(n) / Double(fps)).rounded(.down)) & ~1
    }

    /// A clip with one real face moving linearly over a textured background, optional audio.
    static func makeClip(in dir: URL, _ o: ClipOptions) throws -> Clip {
        let url = dir.appendingPathComponent("\(o.name).mp4")
        let seconds = Double(o.frames) / Double(o.fps) + 0.5
        // lavfi sources round odd sizes down, and crop keeps odd sizes only in 4:4:4: an odd size is
        // made by cropping a larger even background in yuv444p.
        let odd = o.width % 2 == 1 || o.height % 2 == 1
        let sourceSize = odd ? "\(o.width + o.width % 2)x\(o.height + o.height % 2)" : "\(o.width)x\(o.height)"
        var args: [String] = [
            "-f", "lavfi", "-i", "\(o.background.rawValue)=size=\(sourceSize):rate=\(o.fps)",
            "-loop", "1", "-framerate", "\(o.fps)", "-i", face(o.face).path,
        ]
        let tones = [440, 1000, 2500]
        for k in 0..<o.audioTracks {
            args += ["-f", "lavfi", "-i", "sine=frequency=\(tones[k % tones.count]):sample_rate=48000"]
        }
        var chain = "[1:v]scale=\(o.faceSize):\(o.faceSize),format=yuv420p[f];"
            + (odd ? "[0:v]format=yuv444p,crop=\(o.width):\(o.height):0:0,format=yuv420p[bg];" : "[0:v]format=yuv420p[bg];")
            + "[bg][f]overlay=x='\(o.x0)+\(o.vx)*t':y='\(o.y0)+\(o.vy)*t':eval=frame"
        if o.pixelFormat != "yuv420p" { chain += ",format=\(o.pixelFormat)" }
        switch o.rotation {
        // ffmpeg 5.1 shows a stream tagged rotate=90 turned 90° counter-clockwise: store it turned clockwise.
        case 90: chain += ",transpose=clock"
        case 180: chain += ",hflip,vflip"
        case 270: chain += ",transpose=cclock"
        default: break
        }
        if o.variableFrameRate { chain += ",settb=1/90000,setpts='(N/\(o.fps)+0.04*mod(N\\,2))/TB'" }
        chain += "[v]"
        args += ["-filter_complex", chain, "-map", "[v]"]
        for k in 0..<o.audioTracks { args += ["-map", "\(k + 2):a"] }
        args += ["-frames:v", "\(o.frames)", "-t", String(format: "%.3f", seconds)]
        if o.variableFrameRate {
            args += ["-fps_mode", "passthrough", "-enc_time_base:v", "1/90000", "-video_track_timescale", "90000"]
        }
        args += ["-c:v", o.videoCodec, "-preset", "veryfast", "-crf", "12", "-pix_fmt", o.pixelFormat]
        if o.videoCodec == "libx265" { args += ["-x265-params", "log-level=error", "-tag:v", "hvc1"] }
        if o.audioTracks > 0 { args += ["-c:a", "aac", "-b:a", "96k", "-shortest"] }
        if o.rotation != 0 {
            let tmp = dir.appendingPathComponent("\(o.name).unrotated.mp4")
            try ffmpeg(args + [tmp.path])
            // ffmpeg 5.1 has no -display_rotation; the rotate tag on a stream copy becomes a display matrix.
            try ffmpeg(["-i", tmp.path, "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=\(o.rotation)", url.path])
            try FileManager.default.removeItem(at: tmp)
        } else {
            try ffmpeg(args + [url.path])
        }
        var boxes: [Box] = []
        for n in 0..<o.frames {
            let x = overlayPosition(o.x0, o.vx, frame: n, fps: o.fps)
            let y = overlayPosition(o.y0, o.vy, frame: n, fps: o.fps)
            boxes.append(Box(x: Double(x), y: Double(y), w: Double(o.faceSize), h: Double(o.faceSize)))
        }
        return Clip(url: url, options: o, boxes: boxes)
    }

    /// Per frame of `file`, its best face detection overlapping that frame's `truth` box
    /// (IoU >= 0.3), if any.
    static func bestFaces(_ file: DetectionsFile, truth: [Box]) -> [Detection?] {
        file.frames.map { f in
            (f.detections ?? []).filter { $0.objectClass == .face && $0.box.intersectionOverUnion(truth[f.frame - 1]) >= 0.3 }
                .max { $0.score < $1.score }
        }
    }

    /// A copy of `file` cut to `fraction` of its bytes.
    static func truncatedCopy(of file: URL, to dest: URL, fraction: Double = 0.5) throws {
        let data = try Data(contentsOf: file)
        try data.prefix(Int(Double(data.count) * fraction)).write(to: dest)
    }

    // MARK: - Probing

    /// Presentation time (seconds) of every decoded video frame, in decode output order.
    static func framePTS(_ file: URL) throws -> [Double] {
        let obj = try ffprobeJSON(["-select_streams", "v:0", "-show_entries", "frame=pts_time,best_effort_timestamp_time", file.path])
        let frames = obj["frames"] as? [[String: Any]] ?? []
        return frames.compactMap { f in
            (f["pts_time"] as? String).flatMap(Double.init) ?? (f["best_effort_timestamp_time"] as? String).flatMap(Double.init)
        }
    }

    /// (pts, size) of every packet of one stream.
    static func packets(_ file: URL, stream: String) throws -> [(pts: Int64, size: Int)] {
        let obj = try ffprobeJSON(["-select_streams", stream, "-show_entries", "packet=pts,size", file.path])
        let packets = obj["packets"] as? [[String: Any]] ?? []
        return packets.map { p in
            (Int64((p["pts"] as? String) ?? "") ?? Int64((p["pts"] as? Int) ?? Int.min),
             Int((p["size"] as? String) ?? "") ?? ((p["size"] as? Int) ?? -1))
        }
    }

    static func streams(_ file: URL, type: String? = nil) throws -> [[String: Any]] {
        let obj = try ffprobeJSON(["-show_streams", "-show_entries", "stream_side_data", file.path])
        let all = obj["streams"] as? [[String: Any]] ?? []
        guard let type else { return all }
        return all.filter { ($0["codec_type"] as? String) == type }
    }

    /// Rotation from the video stream's display matrix as ffprobe reports it (nil: no matrix).
    static func rotation(_ file: URL) throws -> Int? {
        guard let v = try streams(file, type: "video").first else { return nil }
        for side in v["side_data_list"] as? [[String: Any]] ?? [] {
            if let r = side["rotation"] as? Int { return r }
            if let r = side["rotation"] as? Double { return Int(r) }
        }
        return nil
    }

    /// One line per audio packet of audio track `index`, copied (not decoded): "size,md5[,side data]".
    /// Timestamps are compared separately (in seconds) because time bases may legitimately differ.
    static func audioPacketHashes(_ file: URL, track index: Int) throws -> [String] {
        let r = try run("/usr/bin/ffmpeg", ["-nostdin", "-v", "error", "-i", file.path, "-map", "0:a:\(index)", "-c", "copy", "-f", "framemd5", "-"])
        guard r.status == 0 else { throw FixtureError("framemd5 of \(file.path) a:\(index) failed: \(r.stderr)") }
        return r.stdoutText.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            // stream, dts, pts, duration, size, md5[, side data...]: keep size, md5 and side data.
            let cols = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            return cols.dropFirst(4).joined(separator: ",")
        }
    }

    /// Presentation times (seconds) of the packets of audio track `index`.
    static func audioPacketTimes(_ file: URL, track index: Int) throws -> [Double] {
        let obj = try ffprobeJSON(["-select_streams", "a:\(index)", "-show_entries", "packet=pts_time", file.path])
        return (obj["packets"] as? [[String: Any]] ?? []).compactMap { ($0["pts_time"] as? String).flatMap(Double.init) }
    }

    // MARK: - Pixels

    struct GrayFrames {
        var width: Int
        var height: Int
        var frames: [[UInt8]]
    }

    /// Every frame (no drops, no duplicates) as 8-bit luma, display orientation (ffmpeg autorotates).
    static func grayFrames(_ file: URL) throws -> GrayFrames {
        guard let v = try streams(file, type: "video").first,
              let w = v["width"] as? Int, let h = v["height"] as? Int else { throw FixtureError("no video stream in \(file.path)") }
        var (dw, dh) = (w, h)
        if let r = try rotation(file), abs(r) % 180 == 90 { (dw, dh) = (h, w) }
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("gray-\(UUID().uuidString).raw")
        defer { try? FileManager.default.removeItem(at: raw) }
        try ffmpeg(["-i", file.path, "-map", "0:v:0", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "gray", raw.path])
        let data = [UInt8](try Data(contentsOf: raw))
        let size = dw * dh
        guard size > 0, data.count % size == 0 else {
            throw FixtureError("\(file.path): \(data.count) bytes of gray is not a whole number of \(dw)x\(dh) frames")
        }
        let frames = stride(from: 0, to: data.count, by: size).map { Array(data[$0..<($0 + size)]) }
        return GrayFrames(width: dw, height: dh, frames: frames)
    }

    struct Rect: CustomStringConvertible {
        var x0: Int, y0: Int, x1: Int, y1: Int
        var description: String { "[\(x0),\(y0))-[\(x1),\(y1))" }
        var area: Int { max(0, x1 - x0) * max(0, y1 - y0) }
    }

    /// The central `fraction` of a box, in whole pixels, clipped to the picture.
    static func central(_ b: Box, fraction: Double, width: Int, height: Int) -> Rect {
        let mx = b.w * (1 - fraction) / 2, my = b.h * (1 - fraction) / 2
        return Rect(x0: max(0, Int((b.x + mx).rounded(.up))), y0: max(0, Int((b.y + my).rounded(.up))),
                    x1: min(width, Int((b.maxX - mx).rounded(.down))), y1: min(height, Int((b.maxY - my).rounded(.down))))
    }

    /// A `size`×`size` patch in a corner of the picture at least `distance` pixels (Chebyshev)
    /// from `box`, the farthest such corner; nil if no corner is far enough.
    static func farPatch(from box: Box, width: Int, height: Int, size: Int = 64, distance: Double = 100) -> Rect? {
        let inset = 4
        let corners = [Rect(x0: inset, y0: height - size - inset, x1: inset + size, y1: height - inset),
                       Rect(x0: width - size - inset, y0: height - size - inset, x1: width - inset, y1: height - inset),
                       Rect(x0: width - size - inset, y0: inset + 40, x1: width - inset, y1: inset + 40 + size),
                       Rect(x0: inset, y0: inset + 40, x1: inset + size, y1: inset + 40 + size)]
        func gap(_ r: Rect) -> Double {
            let dx = max(0, max(Double(r.x0) - box.maxX, box.x - Double(r.x1)))
            let dy = max(0, max(Double(r.y0) - box.maxY, box.y - Double(r.y1)))
            return max(dx, dy)
        }
        return corners.filter { gap($0) >= distance }.max { gap($0) < gap($1) }
    }

    static func values(_ frame: [UInt8], width: Int, _ r: Rect) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(r.area)
        for y in r.y0..<r.y1 { for x in r.x0..<r.x1 { out.append(Double(frame[y * width + x])) } }
        return out
    }

    static func meanAbsDiff(_ a: [UInt8], _ b: [UInt8], width: Int, _ r: Rect) -> Double {
        var sum = 0
        for y in r.y0..<r.y1 { for x in r.x0..<r.x1 { sum += abs(Int(a[y * width + x]) - Int(b[y * width + x])) } }
        return Double(sum) / Double(max(1, r.area))
    }

    static func stddev(_ frame: [UInt8], width: Int, _ r: Rect) -> Double {
        let v = values(frame, width: width, r)
        let mean = v.reduce(0, +) / Double(max(1, v.count))
        return (v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, v.count))).squareRoot()
    }

    static func mean(_ frame: [UInt8], width: Int, _ r: Rect) -> Double {
        let v = values(frame, width: width, r)
        return v.reduce(0, +) / Double(max(1, v.count))
    }

    /// Mean absolute difference between horizontal neighbours: detail (edges, texture) in a region.
    static func detail(_ frame: [UInt8], width: Int, _ r: Rect) -> Double {
        var sum = 0, n = 0
        for y in r.y0..<r.y1 {
            for x in r.x0..<(r.x1 - 1) {
                sum += abs(Int(frame[y * width + x + 1]) - Int(frame[y * width + x]))
                n += 1
            }
        }
        return Double(sum) / Double(max(1, n))
    }

    // MARK: - Jobs

    static func job(_ id: String = "job", input: URL, output: URL, config: JobConfig = JobConfig()) -> ManifestJob {
        ManifestJob(id: id, input: input, output: output, expectedInputSHA256: nil, config: config)
    }

    static func flipByte(of url: URL, at offset: Int? = nil) throws {
        var data = try Data(contentsOf: url)
        let i = offset ?? data.count / 2
        data[i] ^= 0x01
        try data.write(to: url)
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A test case with a fresh temporary directory per test (`dir`), removed after it. A subclass
/// that checks preconditions (setup done, binary built) does so before calling
/// `super.setUpWithError()`, so a skipped test creates nothing.
class TempDirectoryTestCase: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        dir = try Fixtures.makeTempDirectory(String(describing: type(of: self)))
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
        try super.tearDownWithError()
    }
}

/// SplitMix64: small, fast, and the same sequence on every platform and run (fuzz inputs,
/// filler bytes).
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
