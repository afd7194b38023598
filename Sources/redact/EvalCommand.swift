import ArgumentParser
import Foundation
import RedactKit

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure redaction coverage against ground truth; fail below a recall floor (for CI).",
        discussion: """
            `redact eval ORIGINAL REDACTED GT.csv` decodes both videos and decides from the pixels which ground-truth objects were redacted (works on any tool's output). `redact eval --tracks tracks.json GT.csv` checks a tracks.json's boxes instead, decoding nothing.

            GT.csv rows: frame,id,x,y,w,h,class,visible_fraction (display pixels, frames 1-based). Gates apply to each class of the ground truth, or only to the one --class names. Exit 0 when every gate passes, 1 when one fails (one line per failure on stderr), 64/65/66 for bad usage or inputs. Definitions: docs/eval.md.
            """)

    @Argument(help: ArgumentHelp("ORIGINAL REDACTED GT.csv, or GT.csv with --tracks.", valueName: "files"))
    var files: [String] = []
    @Option(help: "Score this tracks.json's boxes instead of a redacted video.") var tracks: String?
    @Flag(help: "Print one JSON object instead of the table.") var json = false
    @Option(name: .customLong("min-recall"), help: "Fail when a class's recall is below this (0-1).") var minRecall: Double?
    @Option(name: .customLong("max-leak-frames"), help: "Fail when a class has more leak frames than this.") var maxLeakFrames: Int?
    @Option(name: .customLong("max-over-redaction"), help: "Fail when the over-redaction fraction is above this (0-1).") var maxOverRedaction: Double?
    @Option(name: .customLong("class"), help: "Class the gates apply to: face, plate (any GT class) or all.") var objectClass = "all"
    @Option(name: .customLong("over-stride"), help: "Test over-redaction on every Nth frame (0: skip it).") var overStride = 1
    @Option(help: "Tracks mode: padding per side applied to track boxes (default: render's).") var padding: Double?
    @Option(help: "Tracks mode: outline of face redactions, ellipse or box (default: render's).") var shape: String?
    @Option(name: .customLong("video-stream"), help: "The ORIGINAL's video stream the output was made from (detector.video_stream, numbered as `redact probe` lists them; default: its main one).") var videoStream: Int?

    func run() throws {
        try reportingErrors {
            if let r = minRecall, !(0...1).contains(r) { throw RedactError.usage("--min-recall must be in 0...1") }
            if let n = maxLeakFrames, n < 0 { throw RedactError.usage("--max-leak-frames must be >= 0") }
            if let o = maxOverRedaction, !(0...1).contains(o) { throw RedactError.usage("--max-over-redaction must be in 0...1") }
            if overStride < 0 { throw RedactError.usage("--over-stride must be >= 0") }
            let cls = objectClass == "all" ? nil : objectClass
            if let cls, cls.isEmpty || cls != cls.lowercased() || cls.contains(",") {
                throw RedactError.usage("--class must be face, plate (a lowercase class name) or all")
            }
            var report: EvalReport
            if let tracks {
                guard files.count == 1 else {
                    throw RedactError.usage("with --tracks give exactly one more file: GT.csv (got \(files.count))")
                }
                if videoStream != nil { throw RedactError.usage("--video-stream only applies to ORIGINAL REDACTED GT.csv") }
                // Checked by the manifest's rules for `render.padding` and `render.shape`.
                var settings = SettingOptions()
                settings.set("--padding", "render", "padding", padding)
                settings.set("--shape", "render", "shape", shape)
                var render = JobConfig()
                try settings.apply(to: &render)
                var options = TrackEvalOptions()
                options.padding = render.render.padding
                options.shape = render.render.shape
                report = try Evaluation.evaluate(tracks: URL(fileURLWithPath: tracks), groundTruth: URL(fileURLWithPath: files[0]), options: options)
            } else {
                guard files.count == 3 else {
                    throw RedactError.usage("expected ORIGINAL REDACTED GT.csv (or --tracks tracks.json GT.csv), got \(files.count) file(s)")
                }
                if padding != nil { throw RedactError.usage("--padding only applies with --tracks") }
                if shape != nil { throw RedactError.usage("--shape only applies with --tracks") }
                var options = PixelEvalOptions()
                options.overRedactionStride = overStride
                options.originalVideoStream = videoStream
                report = try Evaluation.evaluate(original: URL(fileURLWithPath: files[0]), redacted: URL(fileURLWithPath: files[1]),
                                                 groundTruth: URL(fileURLWithPath: files[2]), options: options)
            }
            let gates = EvalGates(minRecall: minRecall, maxLeakFrames: maxLeakFrames, maxOverRedaction: maxOverRedaction, objectClass: cls)
            let result = report.check(gates)
            if !gates.isEmpty { report.gates = result }
            if json {
                printJSON(report)
            } else {
                print(EvalTable.render(report))
            }
            for w in result.warnings { Console.error("eval: warning: \(w)\n") }
            if !result.passed {
                for f in result.failures { Console.error("eval: \(f)\n") }
                throw ArgumentParser.ExitCode(RedactKit.ExitCode.verificationFailed.rawValue)
            }
        }
    }
}

/// The human-readable table (after the benchmark scorer's).
enum EvalTable {
    static func pct(_ v: Double?) -> String {
        guard let v else { return "-" }
        return String(format: "%.1f%%", 100 * v)
    }

    static func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
        let p = String(repeating: " ", count: max(0, n - s.count))
        return left ? s + p : p + s
    }

    static func render(_ r: EvalReport) -> String {
        var lines: [String] = []
        let name = { (p: String?) in p.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "-" }
        let f = r.frames
        if r.mode == "tracks" {
            lines.append("\(name(r.tracks)) (boxes of tracks.json) vs \(name(r.groundTruth))")
            lines.append("  frames \(f.redacted) in tracks.json   size \(r.displaySize[0])x\(r.displaySize[1])   padding \(r.thresholds.padding ?? 0)")
        } else {
            lines.append("\(name(r.original)) -> \(name(r.redacted)) vs \(name(r.groundTruth))")
            lines.append("  frames \(f.original) -> \(f.redacted)\(f.match ? "" : "  ** FRAME COUNT MISMATCH: scored the first \(f.scored) **")"
                         + "   size \(r.displaySize[0])x\(r.displaySize[1])")
        }
        lines.append("  " + pad("class", 6, left: true) + " " + pad("obj-frames", 10) + " " + pad("recall", 8) + " " + pad("leak-fr", 8) + " "
                     + pad("longest", 8) + " " + pad("<40", 7) + " " + pad("40-100", 7) + " " + pad(">100", 7) + " " + pad("low-detail", 10))
        for (cls, c) in r.classes.sorted(by: { $0.key < $1.key }) + [("ALL", r.all)] {
            let rb = c.recallBySize ?? [:]
            lines.append("  " + pad(cls, 6, left: true) + " " + pad("\(c.objectFrames)", 10) + " " + pad(pct(c.recall), 8) + " "
                         + pad("\(c.leakFrames)", 8) + " " + pad("\(c.longestLeakRun)", 8) + " " + pad(pct(rb["<40"] ?? nil), 7) + " "
                         + pad(pct(rb["40-100"] ?? nil), 7) + " " + pad(pct(rb[">100"] ?? nil), 7) + " " + pad("\(c.lowDetailObjectFrames)", 10))
        }
        if let o = r.overRedaction {
            if o.method == "changed_cells" {
                lines.append("  over-redaction: \(pct(o.fraction)) of \(o.cellsTested) cells outside GT boxes changed "
                             + "(\(pct(o.fractionTextured)) of textured cells; \(o.framesWithGt5pctChanged)/\(o.framesTested) frames with >5% changed"
                             + "\(o.frameStride > 1 ? "; every \(o.frameStride)th frame" : ""))")
            } else {
                lines.append("  over-redaction (estimate from box areas): \(pct(o.fraction)) of the area outside GT boxes is inside padded track boxes "
                             + "(\(o.framesWithGt5pctChanged)/\(o.framesTested) frames above 5%)")
            }
        }
        for n in r.notes where !(r.mode == "tracks" && n.hasPrefix("tracks mode:")) { lines.append("  note: \(n)") }
        lines.append(String(format: "  evaluated in %.1f s", r.seconds))
        if let g = r.gates {
            lines.append("  gates: \(g.passed ? "PASS" : "FAIL")" + (g.failures.isEmpty ? "" : " (\(g.failures.joined(separator: "; ")))"))
        }
        return lines.joined(separator: "\n")
    }
}
