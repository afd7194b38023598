import CFFmpeg
import CRedactCV
import Foundation

/// Paints boxes over a planar YUV 4:2:0 frame at full resolution, on the planes themselves
/// (no round trip through RGB).
struct Redactor {
    let style: RedactionStyle
    let padding: Double
    /// Padding of plate boxes (`padding` applies to faces).
    var platePadding: Double? = nil
    /// Outline of face redactions (plates are always boxes).
    var faceShape: RedactionShape = .box
    let geometry: FrameGeometry
    let path: String

    /// Pixel rectangle in stored-picture luma coordinates, clipped to the frame; nil if empty.
    /// `exact`: an analyst's manual box, painted as drawn (no padding).
    func lumaRect(for display: Box, objectClass: ObjectClass = .face, exact: Bool = false) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
        let p = exact ? 0 : objectClass == .plate ? (platePadding ?? padding) : padding
        let b = geometry.storedBox(fromDisplay: display.padded(by: p))
        let x0 = max(0, Int(floor(b.x))), y0 = max(0, Int(floor(b.y)))
        let x1 = min(geometry.storedWidth, Int(ceil(b.maxX))), y1 = min(geometry.storedHeight, Int(ceil(b.maxY)))
        return x1 > x0 && y1 > y0 ? (x0, y0, x1, y1) : nil
    }

    typealias Rect = (x0: Int, y0: Int, x1: Int, y1: Int)

    /// The stored-picture luma pixels wholly inside a display box (rounded inwards), clipped to
    /// the frame; nil if none.
    func innerLumaRect(for display: Box) -> Rect? {
        let b = geometry.storedBox(fromDisplay: display)
        let x0 = max(0, Int(ceil(b.x))), y0 = max(0, Int(ceil(b.y)))
        let x1 = min(geometry.storedWidth, Int(floor(b.maxX))), y1 = min(geometry.storedHeight, Int(floor(b.maxY)))
        return x1 > x0 && y1 > y0 ? (x0, y0, x1, y1) : nil
    }

    /// Redacts every box; returns how many boxes touched the picture, each also passed to `onPainted`.
    ///
    /// `boxes` (the machine's) are painted first, and none of their paint lands on the pixels
    /// wholly inside an excluded region (`exclusions`, display boxes with an index for
    /// `onExcluded`): those pixels are saved before and put back after; a box wholly inside a
    /// region is not painted at all. The chroma samples put back are those whose 2x2 luma pixels
    /// are all inside the region. `manual` boxes are painted last, over everything.
    /// `onExcluded(index, whollyInside)` is called once per machine box and region it overlaps.
    func apply(_ boxes: [TrackedBox], manual: [TrackedBox] = [], exclusions: [(index: Int, box: Box)] = [],
               to frame: UnsafeMutablePointer<AVFrame>, frameNumber: Int, fullRange: Bool,
               onPainted: (TrackedBox) -> Void = { _ in }, onExcluded: (Int, Bool) -> Void = { _, _ in }) throws -> Int {
        let regions: [(index: Int, rect: Rect)] = exclusions.compactMap { e in innerLumaRect(for: e.box).map { (e.index, $0) } }
        var machine: [(TrackedBox, Rect)] = []
        var touched = Set<Int>()
        for tracked in boxes {
            guard let r = lumaRect(for: tracked.box, objectClass: tracked.objectClass) else { continue }
            if let k = regions.firstIndex(where: { $0.rect.x0 <= r.x0 && $0.rect.y0 <= r.y0 && r.x1 <= $0.rect.x1 && r.y1 <= $0.rect.y1 }) {
                onExcluded(regions[k].index, true)
                continue
            }
            for (k, region) in regions.enumerated()
            where region.rect.x0 < r.x1 && r.x0 < region.rect.x1 && region.rect.y0 < r.y1 && r.y0 < region.rect.y1 {
                onExcluded(region.index, false)
                touched.insert(k)
            }
            machine.append((tracked, r))
        }
        // Saved before any machine paint, put back after all of it.
        let chromaW = (geometry.storedWidth + 1) / 2, chromaH = (geometry.storedHeight + 1) / 2
        let protected: [(luma: Rect, chroma: Rect?, saved: [[UInt8]])] = touched.sorted().map { k in
            let r = regions[k].rect
            // Chroma sample j covers luma 2j and 2j+1 (only 2j in an odd size's last column or row).
            let cx1 = r.x1 == geometry.storedWidth ? chromaW : r.x1 / 2
            let cy1 = r.y1 == geometry.storedHeight ? chromaH : r.y1 / 2
            let c: Rect? = cx1 > (r.x0 + 1) / 2 && cy1 > (r.y0 + 1) / 2 ? ((r.x0 + 1) / 2, (r.y0 + 1) / 2, cx1, cy1) : nil
            var saved = [save(frame, plane: 0, rect: r)]
            if let c { saved += [save(frame, plane: 1, rect: c), save(frame, plane: 2, rect: c)] }
            return (r, c, saved)
        }
        for (tracked, r) in machine {
            try paint(tracked, rect: r, on: frame, frameNumber: frameNumber, fullRange: fullRange)
            onPainted(tracked)
        }
        for p in protected {
            restore(frame, plane: 0, rect: p.luma, saved: p.saved[0]) { _ in (0, 0) }
            if let c = p.chroma {
                restore(frame, plane: 1, rect: c, saved: p.saved[1]) { _ in (0, 0) }
                restore(frame, plane: 2, rect: c, saved: p.saved[2]) { _ in (0, 0) }
            }
        }
        var painted = machine.count
        for tracked in manual {
            guard let r = lumaRect(for: tracked.box, objectClass: tracked.objectClass, exact: true) else { continue }
            try paint(tracked, rect: r, whole: true, on: frame, frameNumber: frameNumber, fullRange: fullRange)
            onPainted(tracked)
            painted += 1
        }
        return painted
    }

    /// Paints one box whose luma rectangle is `r` in `style`: a face as the inscribed ellipse
    /// when `faceShape` says so, unless `whole` (an analyst's manual box: painted as drawn).
    private func paint(_ tracked: TrackedBox, rect r: Rect, whole: Bool = false, on frame: UnsafeMutablePointer<AVFrame>,
                       frameNumber: Int, fullRange: Bool) throws {
        // Chroma rectangle covers every chroma sample touching a redacted luma sample.
        let c = (x0: r.x0 / 2, y0: r.y0 / 2, x1: (r.x1 + 1) / 2, y1: (r.y1 + 1) / 2)
        let chromaW = (geometry.storedWidth + 1) / 2, chromaH = (geometry.storedHeight + 1) / 2
        // An ellipse is painted as its box, then the pixels outside it are put back.
        let outline: Ellipse? = tracked.objectClass == .face && faceShape == .ellipse && !whole ? Ellipse(rect: r) : nil
        let saved = outline.map { _ in [save(frame, plane: 0, rect: r), save(frame, plane: 1, rect: c), save(frame, plane: 2, rect: c)] }
        defer {
            if let outline, let saved {
                restore(frame, plane: 0, rect: r, saved: saved[0]) { outline.lumaSpan(row: $0) }
                restore(frame, plane: 1, rect: c, saved: saved[1]) { outline.chromaSpan(row: $0) }
                restore(frame, plane: 2, rect: c, saved: saved[2]) { outline.chromaSpan(row: $0) }
            }
        }
        switch style {
        case .fill:
            fill(frame, plane: 0, rect: r, value: fullRange ? 0 : 16)
            fill(frame, plane: 1, rect: c, value: 128)
            fill(frame, plane: 2, rect: c, value: 128)
        case .pixelate:
            // About 8 blocks across the box's shorter side.
            let block = max(2, min(r.x1 - r.x0, r.y1 - r.y0) / 8)
            pixelate(frame, plane: 0, rect: r, block: block)
            pixelate(frame, plane: 1, rect: c, block: max(1, block / 2))
            pixelate(frame, plane: 2, rect: c, block: max(1, block / 2))
        case .blur:
            let sigma = Double(max(r.x1 - r.x0, r.y1 - r.y0)) / 4
            try blur(frame, plane: 0, rect: r, width: geometry.storedWidth, height: geometry.storedHeight, sigma: sigma, frameNumber: frameNumber)
            try blur(frame, plane: 1, rect: c, width: chromaW, height: chromaH, sigma: sigma / 2, frameNumber: frameNumber)
            try blur(frame, plane: 2, rect: c, width: chromaW, height: chromaH, sigma: sigma / 2, frameNumber: frameNumber)
        }
    }

    private func planePointer(_ frame: UnsafeMutablePointer<AVFrame>, _ plane: Int) -> (UnsafeMutablePointer<UInt8>, Int) {
        let data = withUnsafePointer(to: &frame.pointee.data) {
            $0.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { $0[plane]! }
        }
        let stride = withUnsafePointer(to: &frame.pointee.linesize) {
            $0.withMemoryRebound(to: Int32.self, capacity: 8) { Int($0[plane]) }
        }
        return (data, stride)
    }

    private func save(_ frame: UnsafeMutablePointer<AVFrame>, plane: Int, rect: (x0: Int, y0: Int, x1: Int, y1: Int)) -> [UInt8] {
        let (data, stride) = planePointer(frame, plane)
        let w = rect.x1 - rect.x0
        var copy = [UInt8](repeating: 0, count: w * (rect.y1 - rect.y0))
        copy.withUnsafeMutableBufferPointer { buffer in
            for y in rect.y0..<rect.y1 {
                (buffer.baseAddress! + (y - rect.y0) * w).update(from: data + y * stride + rect.x0, count: w)
            }
        }
        return copy
    }

    /// Puts back the saved pixels of each row outside `span(row)` (a half-open column range).
    private func restore(_ frame: UnsafeMutablePointer<AVFrame>, plane: Int, rect: (x0: Int, y0: Int, x1: Int, y1: Int), saved: [UInt8],
                         span: (Int) -> (Int, Int)) {
        let (data, stride) = planePointer(frame, plane)
        let w = rect.x1 - rect.x0
        saved.withUnsafeBufferPointer { buffer in
            for y in rect.y0..<rect.y1 {
                let (a, b) = span(y)
                let lo = min(max(a, rect.x0), rect.x1), hi = max(min(b, rect.x1), lo)
                let source = buffer.baseAddress! + (y - rect.y0) * w
                let row = data + y * stride
                if lo > rect.x0 { (row + rect.x0).update(from: source, count: lo - rect.x0) }
                if hi < rect.x1 { (row + hi).update(from: source + (hi - rect.x0), count: rect.x1 - hi) }
            }
        }
    }

    private func fill(_ frame: UnsafeMutablePointer<AVFrame>, plane: Int, rect: (x0: Int, y0: Int, x1: Int, y1: Int), value: UInt8) {
        let (data, stride) = planePointer(frame, plane)
        for y in rect.y0..<rect.y1 {
            (data + y * stride + rect.x0).update(repeating: value, count: rect.x1 - rect.x0)
        }
    }

    private func pixelate(_ frame: UnsafeMutablePointer<AVFrame>, plane: Int, rect: (x0: Int, y0: Int, x1: Int, y1: Int), block: Int) {
        let (data, stride) = planePointer(frame, plane)
        var by = rect.y0
        while by < rect.y1 {
            let bh = min(block, rect.y1 - by)
            var bx = rect.x0
            while bx < rect.x1 {
                let bw = min(block, rect.x1 - bx)
                var sum = 0
                for y in by..<(by + bh) {
                    let row = data + y * stride
                    for x in bx..<(bx + bw) { sum += Int(row[x]) }
                }
                let mean = UInt8((sum + bw * bh / 2) / (bw * bh))
                for y in by..<(by + bh) { (data + y * stride + bx).update(repeating: mean, count: bw) }
                bx += block
            }
            by += block
        }
    }

    private func blur(_ frame: UnsafeMutablePointer<AVFrame>, plane: Int, rect: (x0: Int, y0: Int, x1: Int, y1: Int),
                      width: Int, height: Int, sigma: Double, frameNumber: Int) throws {
        let (data, stride) = planePointer(frame, plane)
        var err = [CChar](repeating: 0, count: 512)
        let r = rcv_blur_plane(data, Int32(width), Int32(height), Int32(stride), Int32(rect.x0), Int32(rect.y0),
                               Int32(rect.x1 - rect.x0), Int32(rect.y1 - rect.y0), max(0.5, sigma), &err, err.count)
        if r != RCV_OK { throw RedactError.encode(path: path, frame: frameNumber, detail: "blur: \(String(cString: err))") }
    }
}

/// The ellipse inscribed in a luma rectangle, row by row, for the luma plane and for the
/// half-resolution chroma planes (where every chroma sample touching a painted luma sample is
/// painted too).
struct Ellipse {
    let cx: Double, cy: Double, rx: Double, ry: Double

    init(rect: (x0: Int, y0: Int, x1: Int, y1: Int)) {
        cx = Double(rect.x0 + rect.x1) / 2
        cy = Double(rect.y0 + rect.y1) / 2
        rx = Double(rect.x1 - rect.x0) / 2
        ry = Double(rect.y1 - rect.y0) / 2
    }

    /// Columns [start, end) of luma row `y` whose pixel centres lie inside.
    func lumaSpan(row y: Int) -> (Int, Int) {
        Self.span(row: y, cx: cx, cy: cy, rx: rx, ry: ry)
    }

    /// Columns [start, end) of chroma row `y`: the same ellipse in chroma units, grown by one
    /// chroma sample so that the samples along its edge are covered.
    func chromaSpan(row y: Int) -> (Int, Int) {
        Self.span(row: y, cx: cx / 2, cy: cy / 2, rx: rx / 2 + 1, ry: ry / 2 + 1)
    }

    static func span(row y: Int, cx: Double, cy: Double, rx: Double, ry: Double) -> (Int, Int) {
        guard rx > 0, ry > 0 else { return (0, 0) }
        let dy = (Double(y) + 0.5 - cy) / ry
        guard abs(dy) <= 1 else { return (0, 0) }
        let half = rx * (1 - dy * dy).squareRoot()
        let start = Int((cx - half - 0.5).rounded(.up)), end = Int((cx + half - 0.5).rounded(.down)) + 1
        return end > start ? (start, end) : (0, 0)
    }
}
