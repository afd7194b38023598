import Foundation
import XCTest
@testable import RedactKit

/// Licence plates: a generated clip with a rendered plate (white plate, black border, bold
/// plate-like text) moving on a known path; every frame's plate must come out redacted.
final class PlateTests: TempDirectoryTestCase {
    static let width = 640, height = 360, fps = 15, frames = 45
    static let plateW = 150, plateH = 64
    /// Top-left of the plate in frame n (0-based), display pixels: the overlay expressions below.
    static func plateBox(frame n: Int) -> Box {
        Box(x: Double(60 + 8 * n), y: Double(140 + 2 * n), w: Double(plateW), h: Double(plateH))
    }

    let key = SigningKey.generate()

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        let model = Fixtures.modelsDirectory.appendingPathComponent("ppocr-det-v5-mobile.onnx")
        guard FileManager.default.fileExists(atPath: model.path) else {
            throw FixtureError("\(model.path) missing: run scripts/setup-plate-model.sh (make setup)")
        }
        try super.setUpWithError()
    }

    static func boldFont() throws -> String {
        let candidates = ["/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
                          "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"]
        guard let f = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw FixtureError("no bold DejaVu font (install fonts-dejavu-core)")
        }
        return f
    }

    /// The plate picture, then the clip: a textured grey background with the plate overlaid at
    /// x = 60 + 8n, y = 140 + 2n (n: 0-based frame), no audio.
    func makePlateClip(text: String = "KGT 4821") throws -> URL {
        let plate = dir.appendingPathComponent("plate.png")
        let font = try Self.boldFont()
        try Fixtures.ffmpeg(["-f", "lavfi", "-i", "color=c=white:s=\(Self.plateW)x\(Self.plateH)",
                             "-vf", "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=3,drawtext=fontfile=\(font):text='\(text)':fontsize=30:fontcolor=black:x=(w-tw)/2:y=(h-th)/2",
                             "-frames:v", "1", plate.path])
        let clip = dir.appendingPathComponent("plate.mp4")
        try Fixtures.ffmpeg(["-f", "lavfi", "-i", "color=c=0x506070:s=\(Self.width)x\(Self.height):r=\(Self.fps),noise=alls=12:allf=t",
                             "-i", plate.path,
                             "-filter_complex", "[0][1]overlay=x='60+8*n':y='140+2*n'",
                             "-frames:v", "\(Self.frames)", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", clip.path])
        return clip
    }

    func runJob(_ input: URL, configure: (inout JobConfig) -> Void) throws -> URL {
        var config = JobConfig()
        configure(&config)
        let output = dir.appendingPathComponent("out.mp4")
        let runner = JobRunner(registry: try Fixtures.registry(), signingKey: key)
        _ = try runner.run(Fixtures.job(input: input, output: output, config: config))
        return output
    }

    func testEveryPlateFrameIsRedactedWhenPlatesAreSelected() throws {
        let clip = try makePlateClip()
        let output = try runJob(clip) { $0.detector.classes = [.face, .plate] }
        // The receipt names every model the job used, the plate model included.
        let receipt = try Receipts.verify(output: output)
        XCTAssertEqual(Set(receipt.predicate.models.map(\.id)), ["centerface", "ppocr-det-v5-mobile"])
        let input = try Fixtures.grayFrames(clip)
        let out = try Fixtures.grayFrames(output)
        XCTAssertEqual(input.frames.count, Self.frames)
        XCTAssertEqual(out.frames.count, Self.frames)
        var leaks: [Int] = []
        for n in 0..<min(out.frames.count, Self.frames) {
            let r = Fixtures.central(Self.plateBox(frame: n), fraction: 0.8, width: out.width, height: out.height)
            // Fill paints luma 16: the plate (white, ~235) must be gone, and with it its text.
            let mean = Fixtures.mean(out.frames[n], width: out.width, r)
            let detail = Fixtures.detail(out.frames[n], width: out.width, r)
            XCTAssertGreaterThan(Fixtures.mean(input.frames[n], width: input.width, r), 150, "fixture plate visible in frame \(n + 1)")
            if mean > 40 || detail > 4 { leaks.append(n + 1) }
        }
        XCTAssertEqual(leaks, [], "plate visible in frames \(leaks)")
        // Far from the plate (bottom-right corner at the start, the plate moves away from the
        // left) the picture is kept.
        let far = Fixtures.Rect(x0: 4, y0: Self.height - 60, x1: 54, y1: Self.height - 4)
        for n in [0, Self.frames / 2, Self.frames - 1] {
            XCTAssertLessThan(Fixtures.meanAbsDiff(input.frames[n], out.frames[n], width: out.width, far), 8,
                              "picture changed far from the plate in frame \(n + 1)")
        }
    }

    func testPlatesAreLeftAloneWhenOnlyFacesAreSelected() throws {
        let clip = try makePlateClip()
        let output = try runJob(clip) { $0.detector.classes = [.face] }
        let out = try Fixtures.grayFrames(output)
        let n = Self.frames / 2
        let r = Fixtures.central(Self.plateBox(frame: n), fraction: 0.8, width: out.width, height: out.height)
        XCTAssertGreaterThan(Fixtures.mean(out.frames[n], width: out.width, r), 150, "plate should be kept with classes [face]")
    }

    func testPlatePaddingAppliesToPlatesOnly() {
        let g = FrameGeometry(storedWidth: 640, storedHeight: 360, quarterTurns: 0)
        let red = Redactor(style: .fill, padding: 0, platePadding: 0.5, geometry: g, path: "x")
        let box = Box(x: 100, y: 100, w: 40, h: 20)
        let face = red.lumaRect(for: box, objectClass: .face)!
        let plate = red.lumaRect(for: box, objectClass: .plate)!
        XCTAssertEqual(face.x0, 100); XCTAssertEqual(face.x1, 140)
        XCTAssertEqual(plate.x0, 80); XCTAssertEqual(plate.x1, 160); XCTAssertEqual(plate.y0, 90); XCTAssertEqual(plate.y1, 130)
    }

    func testOldConfigWithoutPlateKeysStillDecodes() throws {
        let json = #"{"detector":{"model":"centerface","threshold":0.2,"input_size":1280,"threads":0,"every":1},"tracker":{"iou_threshold":0.2,"max_gap":15,"extend_frames":5,"low_score":0.1,"min_hits":2,"flow":true},"render":{"style":"fill","padding":0.2,"crf":18,"preset":"veryfast","keep_audio":true}}"#
        let c = try JSONDecoder().decode(JobConfig.self, from: Data(json.utf8))
        var expected = JobConfig()
        expected.tracker.extendFrames = 5
        // Keys added later read as what that version did: every track with min_hits confirmed
        // whatever its size, faces painted as boxes.
        expected.tracker.confirmScore = 0
        expected.tracker.confirmHits = 1
        expected.tracker.confirmHitsScore = 0
        expected.tracker.largeFraction = 1_000_000
        expected.tracker.confirmLargeScore = 0
        expected.tracker.reachBack = 0  // frames held for max_gap only
        expected.render.shape = .box
        expected.render.padding = 0.2
        expected.detector.secondLook = false
        expected.detector.every = 1  // as the file says (the default is now 2)
        expected.detector.engine = .opencv  // the only engine then, in float32
        expected.detector.precision = .f32
        expected.detector.windows = false
        expected.detector.coarseInputSize = 0  // every whole-frame pass at input_size
        XCTAssertEqual(c, expected)
    }
}
