import Foundation

/// Redaction coverage measured on decoded pixels (`redact eval ORIGINAL REDACTED GT.csv`), or on
/// a tracks.json without decoding (`TrackEvaluator.swift`). The definitions are the development
/// benchmark's (docs/eval.md): an object-frame is redacted when the band-passed central 80 % of
/// its box no longer correlates with the original's (NCC < 0.75).
public enum Evaluation {}

/// Options of the pixel evaluation.
public struct PixelEvalOptions: Sendable {
    /// Over-redaction is measured on every Nth frame pair (1: all; 0: not at all).
    public var overRedactionStride = 1
    /// libavcodec threads per decoder (0: libavcodec's choice).
    public var decoderThreads = 2
    /// The original's video stream the redacted video was made from (`DetectorConfig.videoStream`);
    /// nil: its main one. The redacted video has one.
    public var originalVideoStream: Int?

    public init() {}
}

extension Evaluation {
    /// Decodes both videos to grey in display orientation, pairs frames by index and scores every
    /// visible ground-truth object. Throws `.badMedia` when the displayed sizes differ.
    public static func evaluate(original: URL, redacted: URL, groundTruth: URL) throws -> EvalReport {
        try evaluate(original: original, redacted: redacted, groundTruth: groundTruth, options: PixelEvalOptions())
    }

    public static func evaluate(original: URL, redacted: URL, groundTruth: URL, options: PixelEvalOptions,
                                progress: (Int, Int?) -> Void = { _, _ in }) throws -> EvalReport {
        try evaluate(original: original, redacted: redacted, truth: try GroundTruth.read(contentsOf: groundTruth),
                     named: groundTruth.path, options: options, progress: progress)
    }

    /// The same with the objects given (`named`: where they came from, for the report).
    static func evaluate(original: URL, redacted: URL, truth gt: GroundTruth, named groundTruth: String, options: PixelEvalOptions,
                         progress: (Int, Int?) -> Void = { _, _ in }) throws -> EvalReport {
        let started = Date()
        let readerO = try GreyVideoReader(path: original.path, decoderThreads: options.decoderThreads, videoStream: options.originalVideoStream)
        let readerR = try GreyVideoReader(path: redacted.path, decoderThreads: options.decoderThreads)
        let W = readerO.displayWidth, H = readerO.displayHeight
        guard readerR.displayWidth == W, readerR.displayHeight == H else {
            throw RedactError.badMedia(path: redacted.path, detail: "displayed size is \(readerR.displayWidth)x\(readerR.displayHeight), the original's is \(W)x\(H); eval needs both the same (display matrix applied)")
        }
        let byFrame = gt.rowsByFrame
        let scorer = PixelScorer(width: W, height: H)
        let stride = max(0, options.overRedactionStride)
        var book = ScoreBook()
        var over = OverTally()

        let producerO = GreyProducer(reader: readerO), producerR = GreyProducer(reader: readerR)
        let group = DispatchGroup()
        DispatchQueue(label: "redact.eval.original").async(group: group) { producerO.run() }
        DispatchQueue(label: "redact.eval.redacted").async(group: group) { producerR.run() }
        defer {
            producerO.queue.cancel()
            producerR.queue.cancel()
            group.wait()
        }

        var countO = 0, countR = 0
        var endO = false, endR = false
        while !(endO && endR) {
            let fo = endO ? nil : try producerO.next()
            let fr = endR ? nil : try producerR.next()
            if fo == nil { endO = true } else { countO += 1 }
            if fr == nil { endR = true } else { countR += 1 }
            guard let fo, let fr else { continue }
            let number = countO
            let rows = byFrame[number] ?? []
            for row in rows where row.isScored {
                guard let rect = PixelThresholds.testedRect(row.box, width: W, height: H) else { continue }
                let test = scorer.objectTest(fo, fr, rect)
                book.add(row, test.redacted.map { $0 ? .redacted : .leaked } ?? .lowDetail)
            }
            if stride > 0 && (number - 1) % stride == 0 {
                over.add(scorer.cellTest(fo, fr, boxes: rows.map(\.box)))
            }
            progress(number, nil)
        }
        let scored = min(countO, countR)
        var notes: [String] = []
        // Visible objects in original frames the redacted video lacks: reported, not scored.
        var pastOriginal = 0
        for (frame, rows) in byFrame {
            if frame > countO { pastOriginal += rows.count; continue }
            guard frame > scored else { continue }
            for row in rows where row.isScored && PixelThresholds.testedRect(row.box, width: W, height: H) != nil {
                book.add(row, .unscored)
            }
        }
        if countO != countR {
            notes.append("frame counts differ: original \(countO), redacted \(countR); scored the first \(scored) frames by index")
        }
        if pastOriginal > 0 { notes.append("\(pastOriginal) ground-truth rows are past the original's last frame (\(countO)): ignored") }
        if stride > 1 { notes.append("over-redaction tested on every \(stride)th frame") }
        var overReport: EvalReport.OverRedaction? = nil
        if stride > 0 {
            overReport = EvalReport.OverRedaction(
                method: "changed_cells", cellsTested: over.tested, cellsChanged: over.changed,
                fraction: over.tested > 0 ? Double(over.changed) / Double(over.tested) : nil,
                texturedCellsTested: over.textured,
                fractionTextured: over.textured > 0 ? Double(over.texturedChanged) / Double(over.textured) : nil,
                framesWithGt5pctChanged: over.framesOver5, framesTested: over.frames,
                cellPx: PixelThresholds.cellSize, frameStride: stride)
        }
        return EvalReport(
            mode: "pixels", original: original.path, redacted: redacted.path, tracks: nil, groundTruth: groundTruth,
            displaySize: [W, H], rotationOriginal: readerO.geometry.quarterTurns, rotationRedacted: readerR.geometry.quarterTurns,
            frames: .init(original: countO, redacted: countR, scored: scored, match: countO == countR),
            classes: book.classes(), all: book.all(), overRedaction: overReport, thresholds: .init(), notes: notes,
            seconds: Date().timeIntervalSince(started), gates: nil)
    }
}

/// Over-redaction counts summed over frames.
struct OverTally {
    var tested = 0, changed = 0, textured = 0, texturedChanged = 0, frames = 0, framesOver5 = 0

    mutating func add(_ r: PixelScorer.CellResult) {
        tested += r.tested
        changed += r.changed
        textured += r.textured
        texturedChanged += r.texturedChanged
        frames += 1
        if r.tested > 0 && Double(r.changed) / Double(r.tested) > 0.05 { framesOver5 += 1 }
    }
}

/// Decodes one video on its own thread into a small queue.
final class GreyProducer: @unchecked Sendable {
    enum Item {
        case frame([UInt8])
        case end
        case failure(RedactError)
    }

    let reader: GreyVideoReader
    let queue = BoundedQueue<Item>(capacity: 4)

    init(reader: GreyVideoReader) {
        self.reader = reader
    }

    func run() {
        do {
            while let g = try reader.nextGrey() {
                guard queue.push(.frame(g)) else { return }
            }
            queue.push(.end)
        } catch let e as RedactError {
            queue.push(.failure(e))
        } catch {
            queue.push(.failure(.decode(path: reader.path, frame: nil, detail: "\(error)")))
        }
    }

    /// The next frame; nil at the end.
    func next() throws -> [UInt8]? {
        switch queue.pop() {
        case .frame(let g): return g
        case .end, nil: return nil
        case .failure(let e): throw e
        }
    }
}

/// The two pixel tests of the benchmark on display-oriented 8-bit grey frames.
final class PixelScorer {
    let width: Int
    let height: Int
    private let patchLow = GaussianBlur(sigma: PixelThresholds.objectSigmas.0)
    private let patchHigh = GaussianBlur(sigma: PixelThresholds.objectSigmas.1)
    /// Full-frame band-pass state, one per side so both sides run in parallel.
    private let sides: [CellFeatures]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        sides = [CellFeatures(width: width, height: height), CellFeatures(width: width, height: height)]
    }

    struct ObjectResult {
        /// nil: low-detail (not scored).
        var redacted: Bool?
        var rho: Double
        var energy: Double
    }

    /// score.py's object_test on the rect's pixels of both frames.
    func objectTest(_ fo: [UInt8], _ fr: [UInt8], _ r: (x0: Int, y0: Int, x1: Int, y1: Int)) -> ObjectResult {
        let po = ImageOps.crop(fo, width: width, x0: r.x0, y0: r.y0, x1: r.x1, y1: r.y1)
        let pr = ImageOps.crop(fr, width: width, x0: r.x0, y0: r.y0, x1: r.x1, y1: r.y1)
        return objectTest(original: po.pixels, redacted: pr.pixels, width: po.w, height: po.h)
    }

    func objectTest(original: [UInt8], redacted: [UInt8], width w: Int, height h: Int) -> ObjectResult {
        let hc = PixelThresholds.canonicalHeight
        let wc = Int(min(Double(3 * hc), max(Double(hc / 2), Double(ImageOps.pyRound(Double(hc * w) / Double(max(h, 1)))))))
        let area = h > hc
        let a = ImageOps.resize(original, width: w, height: h, to: wc, hc, area: area)
        let b = ImageOps.resize(redacted, width: w, height: h, to: wc, hc, area: area)
        var da = dog(a), db = dog(b)
        let n = Float(da.count)
        let ma = da.reduce(0, +) / n, mb = db.reduce(0, +) / n
        for i in 0..<da.count {
            da[i] -= ma
            db[i] -= mb
        }
        var saa: Double = 0, sbb: Double = 0, sab: Double = 0
        for i in 0..<da.count {
            saa += Double(da[i] * da[i])
            sbb += Double(db[i] * db[i])
            sab += Double(da[i] * db[i])
        }
        let ea = (saa / Double(n)).squareRoot(), eb = (sbb / Double(n)).squareRoot()
        let rho = ea > 1e-6 && eb > 1e-6 ? (sab / Double(n)) / (ea * eb) : 0
        let redacted: Bool? = ea >= PixelThresholds.minimumObjectEnergy ? rho < PixelThresholds.tauObject : nil
        return ObjectResult(redacted: redacted, rho: rho, energy: ea)
    }

    private func dog(_ img: FloatImage) -> [Float] {
        let low = patchLow.apply(img, border: .reflect)
        let high = patchHigh.apply(img, border: .reflect)
        var out = low.pixels
        for i in 0..<out.count { out[i] -= high.pixels[i] }
        return out
    }

    struct CellResult {
        var tested = 0, changed = 0, textured = 0, texturedChanged = 0
    }

    /// score.py's cell_test: 32x32 cells touching no (30 %-dilated) box of the frame; textured
    /// cells changed when the band-passed NCC < 0.5, flat ones when the smoothed luma moved > 12.
    func cellTest(_ fo: [UInt8], _ fr: [UInt8], boxes: [Box]) -> CellResult {
        let cell = PixelThresholds.cellSize
        let ny = height / cell, nx = width / cell
        guard ny > 0 && nx > 0 else { return CellResult() }
        var excluded = [Bool](repeating: false, count: ny * nx)
        for b in boxes {
            let w2 = b.w * PixelThresholds.dilate / 2, h2 = b.h * PixelThresholds.dilate / 2
            let x0 = Int(floor((b.centerX - w2) / Double(cell))), x1 = Int(floor((b.centerX + w2) / Double(cell)))
            let y0 = Int(floor((b.centerY - h2) / Double(cell))), y1 = Int(floor((b.centerY + h2) / Double(cell)))
            let ya = max(0, y0), yb = min(ny, max(0, y1 + 1)), xa = max(0, x0), xb = min(nx, max(0, x1 + 1))
            guard ya < yb && xa < xb else { continue }
            for cy in ya..<yb { for cx in xa..<xb { excluded[cy * nx + cx] = true } }
        }
        if excluded.allSatisfy({ $0 }) { return CellResult() }
        let frames = [fo, fr]
        let sides = self.sides
        DispatchQueue.concurrentPerform(iterations: 2) { i in sides[i].compute(frames[i]) }
        let a = sides[0], b = sides[1]
        var result = CellResult()
        let W = width
        let count = Double(cell * cell)
        a.band.pixels.withUnsafeBufferPointer { da in
            b.band.pixels.withUnsafeBufferPointer { db in
                a.smooth.pixels.withUnsafeBufferPointer { la in
                    b.smooth.pixels.withUnsafeBufferPointer { lb in
                        for cy in 0..<ny {
                            for cx in 0..<nx where !excluded[cy * nx + cx] {
                                var sa = 0.0, sb = 0.0, saa = 0.0, sbb = 0.0, sab = 0.0, mad = 0.0
                                for y in (cy * cell)..<(cy * cell + cell) {
                                    let base = y * W + cx * cell
                                    var rsa: Float = 0, rsb: Float = 0, rsaa: Float = 0, rsbb: Float = 0, rsab: Float = 0, rmad: Float = 0
                                    for x in base..<(base + cell) {
                                        let u = da[x], v = db[x]
                                        rsa += u
                                        rsb += v
                                        rsaa += u * u
                                        rsbb += v * v
                                        rsab += u * v
                                        rmad += abs(la[x] - lb[x])
                                    }
                                    sa += Double(rsa)
                                    sb += Double(rsb)
                                    saa += Double(rsaa)
                                    sbb += Double(rsbb)
                                    sab += Double(rsab)
                                    mad += Double(rmad)
                                }
                                let ma = sa / count, mb = sb / count
                                let vaa = saa / count - ma * ma, vbb = sbb / count - mb * mb, vab = sab / count - ma * mb
                                let rho = vaa > 1e-6 && vbb > 1e-6 ? vab / (vaa * vbb + 1e-12).squareRoot() : 0
                                let textured = vaa.squareRoot() >= PixelThresholds.minimumCellEnergy
                                let changed = textured ? rho < PixelThresholds.tauCell : mad / count > PixelThresholds.deltaCell
                                result.tested += 1
                                if changed { result.changed += 1 }
                                if textured {
                                    result.textured += 1
                                    if changed { result.texturedChanged += 1 }
                                }
                            }
                        }
                    }
                }
            }
        }
        return result
    }
}

/// Band-pass (DoG, sigma 1 and 3, mirrored edges) and smoothed luma (sigma 1, OpenCV's default
/// edges) of one full frame; buffers reused from frame to frame.
final class CellFeatures: @unchecked Sendable {
    private let low = GaussianBlur(sigma: PixelThresholds.cellSigmas.0)
    private let high = GaussianBlur(sigma: PixelThresholds.cellSigmas.1)
    private var input: FloatImage
    private var highOut: FloatImage
    private(set) var band: FloatImage
    private(set) var smooth: FloatImage

    init(width: Int, height: Int) {
        input = FloatImage(width: width, height: height)
        highOut = FloatImage(width: width, height: height)
        band = FloatImage(width: width, height: height)
        smooth = FloatImage(width: width, height: height)
    }

    func compute(_ frame: [UInt8]) {
        precondition(frame.count == input.pixels.count)
        input.pixels.withUnsafeMutableBufferPointer { p in
            frame.withUnsafeBufferPointer { f in
                for i in 0..<f.count { p[i] = Float(f[i]) }
            }
        }
        low.apply(input, into: &band, border: .reflect)
        high.apply(input, into: &highOut, border: .reflect)
        band.pixels.withUnsafeMutableBufferPointer { b in
            highOut.pixels.withUnsafeBufferPointer { h in
                for i in 0..<b.count { b[i] -= h[i] }
            }
        }
        low.apply(input, into: &smooth, border: .reflect101)
    }
}
