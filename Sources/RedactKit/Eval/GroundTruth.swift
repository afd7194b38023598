import Foundation

/// One row of a ground-truth CSV: one object in one frame.
public struct GroundTruthRow: Equatable, Sendable {
    /// 1-based, in decoder output order (every frame once).
    public var frame: Int
    public var id: Int
    /// Display pixels (after the display matrix's rotation); may extend past the frame edge.
    public var box: Box
    /// `face`, `plate` or any other lowercase word.
    public var objectClass: String
    /// Share of the object inside the frame and not occluded (0...1).
    public var visibleFraction: Double

    public init(frame: Int, id: Int, box: Box, objectClass: String, visibleFraction: Double) {
        self.frame = frame
        self.id = id
        self.box = box
        self.objectClass = objectClass
        self.visibleFraction = visibleFraction
    }

    /// Only rows at least this visible are scored (the others still count as objects for
    /// over-redaction: their area is never "over-redacted").
    public static let minimumVisibleFraction = 0.5
    public var isScored: Bool { visibleFraction >= Self.minimumVisibleFraction }

    /// The size the benchmark buckets by: face height, plate (and other classes') width.
    public var bucketSize: Double { objectClass == "face" ? box.h : box.w }
}

/// Ground truth in the benchmark's MOTChallenge-like CSV:
///
///     frame,id,x,y,w,h,class,visible_fraction
///     12,3,604.2,288.0,57.1,57.1,face,0.870
///
/// The header line is optional; `visible_fraction` may be left out (1.0). Anything else that does
/// not parse is an error naming the line, so a CI gate never passes on a misread file.
public struct GroundTruth: Equatable, Sendable {
    public var rows: [GroundTruthRow]

    public init(rows: [GroundTruthRow]) {
        self.rows = rows
    }

    /// Rows per frame number.
    public var rowsByFrame: [Int: [GroundTruthRow]] {
        Dictionary(grouping: rows, by: \.frame)
    }

    /// Classes present, sorted.
    public var classes: [String] {
        Array(Set(rows.map(\.objectClass))).sorted()
    }

    public static func read(contentsOf url: URL) throws -> GroundTruth {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: url.path),
              let data = try? Data(contentsOf: url)
        else { throw RedactError.inputNotFound(path: url.path) }
        return try parse(String(decoding: data, as: UTF8.self), path: url.path)
    }

    public static let header = "frame,id,x,y,w,h,class,visible_fraction"

    /// Parses CSV text; `path` only names the file in errors.
    public static func parse(_ text: String, path: String) throws -> GroundTruth {
        var rows: [GroundTruthRow] = []
        var sawContent = false
        var lineNumber = 0
        // "\r\n" is one Character in Swift: split on it as well as on "\n" and a lone "\r".
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            lineNumber += 1
            var line = Substring(rawLine)
            if lineNumber == 1 && line.hasPrefix("\u{FEFF}") { line = line.dropFirst() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            func fail(_ detail: String) -> RedactError {
                .badJSON(path: path, jsonPath: "line \(lineNumber)", detail: detail)
            }
            let fields = trimmed.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if !sawContent {
                sawContent = true
                // A header is any first line whose first field is not a number.
                if let first = fields.first, Int(first) == nil, Double(first) == nil {
                    guard first.lowercased() == "frame" else {
                        throw fail("expected the header `\(header)` or a data row, found `\(trimmed.prefix(60))`")
                    }
                    continue
                }
            }
            guard fields.count == 7 || fields.count == 8 else {
                throw fail("expected 8 fields (\(header)), found \(fields.count)")
            }
            guard let frame = Int(fields[0]), frame >= 1 else {
                throw fail("frame `\(fields[0])` is not an integer >= 1")
            }
            guard let id = Int(fields[1]) else { throw fail("id `\(fields[1])` is not an integer") }
            var numbers: [Double] = []
            for (k, name) in ["x", "y", "w", "h"].enumerated() {
                guard let v = Double(fields[2 + k]), v.isFinite else { throw fail("\(name) `\(fields[2 + k])` is not a number") }
                numbers.append(v)
            }
            guard numbers[2] > 0, numbers[3] > 0 else {
                throw fail("w and h must be positive (found \(fields[4]) x \(fields[5]))")
            }
            let cls = fields[6]
            guard isClassName(cls) else {
                throw fail("class `\(cls)` is not a lowercase word (face, plate, ...)")
            }
            var visible = 1.0
            if fields.count == 8 {
                guard let v = Double(fields[7]), v >= 0, v <= 1 else {
                    throw fail("visible_fraction `\(fields[7])` is not a number in 0...1")
                }
                visible = v
            }
            rows.append(GroundTruthRow(frame: frame, id: id, box: Box(x: numbers[0], y: numbers[1], w: numbers[2], h: numbers[3]),
                                       objectClass: cls, visibleFraction: visible))
        }
        return GroundTruth(rows: rows)
    }

    static func isClassName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, ("a"..."z").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }
}
