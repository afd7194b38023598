import ArgumentParser
import Foundation
import RedactKit

struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a media file: container, streams, rotation, frame rate.")
    @Argument(help: "Input media file.") var input: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingErrors {
            let report = try RedactKit.Probe.run(path: input)
            if json { printJSON(report); return }
            print("\(report.file): \(report.container), \(report.durationSeconds.map { String(format: "%.3f s", $0) } ?? "unknown duration"), \(report.sizeBytes) bytes")
            for s in report.streams {
                var line = "  #\(s.index) \(s.type) \(s.codec) time base \(s.timeBase)"
                if s.type == "video" {
                    line += " \(s.width ?? 0)x\(s.height ?? 0) \(s.pixelFormat ?? "?")"
                    line += " shown \(s.displayWidth ?? 0)x\(s.displayHeight ?? 0) (rotation \(s.rotation ?? 0))"
                    line += " \(s.frameCount ?? 0) frames, \(s.averageFrameRate.map { String(format: "%.3f", $0) } ?? "?") fps"
                    line += s.variableFrameRate == true ? " variable" : " constant"
                }
                if s.type == "audio" { line += " \(s.channels ?? 0) ch \(s.sampleRate ?? 0) Hz" }
                if !s.metadataKeys.isEmpty { line += " metadata: \(s.metadataKeys.joined(separator: ","))" }
                print(line)
            }
            if !report.metadataKeys.isEmpty { print("  metadata: \(report.metadataKeys.joined(separator: ","))") }
            let cameras = report.streams.filter(\.isCamera)
            if cameras.count > 1, let main = report.defaultVideoStream {
                print("  \(cameras.count) video streams: redact takes #\(main) unless detector.video_stream (--video-stream) names another; an output carries one")
            }
        }
    }
}

struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Find faces on every other frame (every frame while one moves fast; --every); write detections.json.")
    @Argument(help: "Input video.") var input: String
    @Option(name: .shortAndLong, help: "Where to write detections.json.") var output: String
    @OptionGroup var detector: DetectorOptions
    @OptionGroup var models: ModelOptions

    func run() throws {
        try reportingErrors {
            var config = JobConfig()
            try detector.apply(to: &config)
            let registry = try ModelRegistry.locate(explicit: models.models)
            let progress = ProgressBar(label: URL(fileURLWithPath: input).lastPathComponent)
            let file = try Stages.detect(input: URL(fileURLWithPath: input), output: URL(fileURLWithPath: output), config: config.detector,
                                         registry: registry, note: { Console.error("\(input): warning: \($0)\n") }) {
                progress.update($0, of: $1)
            }
            progress.finish()
            let total = file.frames.reduce(0) { $0 + ($1.detections?.count ?? 0) }
            Console.error("\(output): \(file.frames.count) frames, \(total) detections\n")
        }
    }
}

struct Track: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Group detections into tracks and fill gaps; write tracks.json.")
    @Argument(help: "detections.json from `redact detect`.") var detections: String
    @Option(name: .shortAndLong, help: "Where to write tracks.json.") var output: String
    @Option(name: .customLong("max-gap"), help: "Longest gap (frames) a track survives and that is filled.") var maxGap: Int?
    @Option(name: .customLong("extend"), help: "Frames to extend each track before and after its detections.") var extend: Int?
    @Option(name: .customLong("iou"), help: "Minimum IoU to continue a track.") var iou: Double?
    @Option(name: .customLong("reach-back"), help: "Frames a sure new track is followed back by optical flow before its first detection.") var reachBack: Int?
    @Option(help: "The video the detections were made from, decoded again for optical flow (default: the path detections.json records; its SHA-256 must match).")
    var input: String?
    @Flag(name: .customLong("no-flow"), help: "Track without optical flow and without decoding the video: faces between detections get interpolation and extension only, which covers less than `redact run`.")
    var noFlow = false

    func run() throws {
        try reportingErrors {
            // Checked by the manifest's rules for the same `tracker` keys.
            var options = SettingOptions()
            options.set("--max-gap", "tracker", "max_gap", maxGap)
            options.set("--extend", "tracker", "extend_frames", extend)
            options.set("--iou", "tracker", "iou_threshold", iou)
            options.set("--reach-back", "tracker", "reach_back", reachBack)
            if noFlow { options.set("--no-flow", "tracker", "flow", false) }
            var config = JobConfig()
            try options.apply(to: &config)
            if noFlow, input != nil { throw RedactError.usage("--input is for optical flow; --no-flow decodes no video") }
            let progress = ProgressBar(label: URL(fileURLWithPath: detections).lastPathComponent)
            let file = try Stages.track(detections: URL(fileURLWithPath: detections), output: URL(fileURLWithPath: output), config: config.tracker,
                                        video: input.map { URL(fileURLWithPath: $0) }) { progress.update($0, of: $1) }
            progress.finish()
            let boxes = file.tracks.reduce(0) { $0 + $1.boxes.count }
            Console.error("\(output): \(file.tracks.count) tracks, \(boxes) boxes over \(file.frameCount) frames\n")
        }
    }
}

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Redact the boxes of tracks.json and encode H.264; audio copied.")
    @Argument(help: "Input video (the one tracks.json was made from).") var input: String
    @Argument(help: "tracks.json from `redact track`.") var tracks: String
    @Option(name: .shortAndLong, help: "Output MP4.") var output: String
    @OptionGroup var render: RenderOptions

    func run() throws {
        try reportingErrors {
            var config = JobConfig()
            try render.apply(to: &config)
            let progress = ProgressBar(label: URL(fileURLWithPath: input).lastPathComponent)
            SignalTrap.install()
            let counts = try Stages.render(input: URL(fileURLWithPath: input), tracks: URL(fileURLWithPath: tracks),
                                           output: URL(fileURLWithPath: output), config: config.render) { progress.update($0, of: $1) }
            progress.finish()
            if let warning = counts.damageWarning { Console.error("\(output): warning: \(warning)\n") }
            Console.error("\(output): \(counts.frames) frames, \(counts.redactedBoxes) boxes redacted\n")
        }
    }
}

struct Review: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML page listing every track of tracks.json, with thumbnails of the ORIGINAL pixels (internal use only).",
        discussion: """
            One self-contained page (no network, no script): per track its id, class, first and last time, frames, \
            boxes by source and up to 4 thumbnails of the unredacted object, plus a timeline strip. TRACKS is required: \
            `redact track` writes it, and `redact run` only when the job names a `tracks` path. Refuses a tracks.json made \
            from another file (exit 65). The page is written with mode 0600. See docs/review.md.
            """)
    @Argument(help: "Input video (the one tracks.json was made from).") var input: String
    @Argument(help: "tracks.json from `redact track` or a job's `tracks`.") var tracks: String
    @Option(name: .shortAndLong, help: "Where to write the page (.html).") var output: String

    func run() throws {
        try reportingErrors {
            let summary = try ReviewPage.write(input: URL(fileURLWithPath: input), tracks: URL(fileURLWithPath: tracks),
                                               output: URL(fileURLWithPath: output))
            Console.error("\(output): \(summary.tracks) tracks, \(summary.thumbnails) thumbnails over \(summary.frames) frames (INTERNAL: unredacted crops)\n")
            Console.error("\(tracks): SHA-256 \(summary.tracksSHA256) (a job keeping these track ids names it in tracks_sha256)\n")
        }
    }
}

struct Mux: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Join a rendered video with the audio streams of another file (packets copied).")
    @Argument(help: "MP4 whose video stream to use: a `redact render --no-audio` output (an original, or any file redact did not encode, is refused).") var video: String
    @Option(name: .customLong("audio-from"), help: "File whose audio streams to copy.") var audioFrom: String
    @Option(name: .shortAndLong, help: "Output MP4.") var output: String

    func run() throws {
        try reportingErrors {
            SignalTrap.install()
            try Stages.mux(video: URL(fileURLWithPath: video), audioFrom: URL(fileURLWithPath: audioFrom), output: URL(fileURLWithPath: output))
        }
    }
}

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make an Ed25519 key pair (KEY and KEY.pub, PEM).")
    @Option(name: .shortAndLong, help: "Private key path; the public key goes to PATH.pub.") var output: String

    func run() throws {
        try reportingErrors {
            let key = SigningKey.generate()
            let priv = URL(fileURLWithPath: output)
            let pub = URL(fileURLWithPath: output + ".pub")
            try key.write(privateKeyTo: priv, publicKeyTo: pub)
            print("private key: \(priv.path)\npublic key:  \(pub.path)\nkey id:      \(key.publicKey.keyID)")
        }
    }
}

struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write OUTPUT.receipt.json: hashes, configuration and counts, signed with Ed25519.")
    @Argument(help: "The redacted output.") var output: String
    @Option(help: "Private key (PEM) from `redact keygen`.") var key: String
    @Option(help: "The original the output was made from.") var input: String
    @Option(help: "tracks.json used for the output (records its configuration and counts).") var tracks: String?

    func run() throws {
        try reportingErrors {
            let signingKey = try SigningKey(contentsOf: URL(fileURLWithPath: key))
            try Receipts.checkStandaloneOutput(URL(fileURLWithPath: output), input: URL(fileURLWithPath: input))
            let inputDigest = try FileDigest.sha256AndSize(of: URL(fileURLWithPath: input))
            // Read once: checked against the output, then summarised into the receipt.
            let summary = try tracks.map { try TracksSummary(url: URL(fileURLWithPath: $0)) }
            if let tracks, let summary {
                try Receipts.checkTracksPainted(output: URL(fileURLWithPath: output), input: URL(fileURLWithPath: input),
                                                tracks: summary, named: URL(fileURLWithPath: tracks), inputSHA256: inputDigest.sha256)
            }
            // This command did not make the output: what was dropped is found by comparing the
            // streams (the video stream the tracks were found on, when they are given).
            let dropped = try RedactKit.Probe.droppedStreams(input: input, output: output, videoStream: summary?.config.detector.videoStream)
            var predicate = ReceiptPredicateInput(droppedStreams: dropped)
            if let summary {
                predicate = ReceiptPredicateInput(models: summary.models, config: summary.config, counts: summary.counts, droppedStreams: dropped)
            }
            predicate.command = "sign"
            let receipt = try Receipts.sign(output: URL(fileURLWithPath: output), input: URL(fileURLWithPath: input), inputDigest: inputDigest,
                                            predicate: predicate, key: signingKey)
            print(receipt.path)
        }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check an output against its receipt (signature, hashes).")
    @Argument(help: "The redacted output.") var output: String
    @Option(help: "Receipt path (default: OUTPUT.receipt.json).") var receipt: String?
    @Option(help: "The original: also check its SHA-256.") var input: String?
    @Option(name: .customLong("trusted-key"), help: "Public key (PEM) the receipt must be signed with.") var trustedKey: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try reportingErrors {
            let trusted = try trustedKey.map { try PublicKey(contentsOf: URL(fileURLWithPath: $0)) }
            let verified = try Receipts.verify(output: URL(fileURLWithPath: output), receipt: receipt.map { URL(fileURLWithPath: $0) },
                                               input: input.map { URL(fileURLWithPath: $0) }, trustedKey: trusted)
            if json {
                printJSON(verified.statement)
            } else {
                print("\(output): OK (signed by key \(verified.keyID); output sha256 \(verified.predicate.output.sha256); input sha256 \(verified.predicate.input.sha256))")
                for line in verifiedSummary(verified.predicate) { print("  " + line) }
            }
        }
    }
}

/// What `verify` prints after `OK`, one line each: the frames the decoder made up in part
/// (`counts.damaged_frames`) and what a person decided for the output (the receipt's `analyst`
/// and `tracks_file`). The signature covers these as it covers everything else in the receipt.
func verifiedSummary(_ p: ReceiptPredicate) -> [String] {
    func num(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }
    func frames(_ first: Int?, _ last: Int?) -> String { first.flatMap { f in last.map { "frames \(f)-\($0)" } } ?? "no frame" }
    var lines: [String] = []
    if p.tool.command == "sign" {
        lines.append("signed by `redact sign`, which did not make this output: it checked that the video is not the input's copied, and, when given tracks, that their boxes are painted over; the render settings recorded are the defaults, not necessarily those used")
    }
    if let damaged = p.counts.damagedFramesSummary {
        lines.append("damaged input: the decoder made up \(damaged) in part (counts.damaged_frames)")
    }
    if let t = p.tracksFile {
        lines.append("tracks: \(t.name) sha256 \(t.sha256) (\(t.reused ? "reused from an earlier run; detector not run" : "detected by this run"))")
    }
    guard let a = p.analyst else { return lines }
    for k in a.keep {
        lines.append("kept visible: track \(k.track), \(frames(k.firstFrame, k.lastFrame)) (\(k.boxesNotPainted) boxes not painted): \(k.reason)")
    }
    for b in a.boxes {
        let shape = b.box.map { "[" + $0.map(num).joined(separator: ", ") + "]" } ?? "\(b.keyframes?.count ?? 0) keyframes"
        lines.append("manual \(b.objectClass.rawValue) box \(shape), \(num(b.start))-\(num(b.end)) s, \(frames(b.firstFrame, b.lastFrame)): \(b.reason)")
    }
    for e in a.excludeRegions {
        let when = e.start == nil && e.end == nil ? "whole video" : "\(num(e.start ?? 0))-\(e.end.map(num) ?? "end") s"
        lines.append("excluded region [" + e.box.map(num).joined(separator: ", ") + "], \(when) (\(e.boxesClipped) machine boxes clipped, \(e.boxesNotPainted) not painted): \(e.reason)")
    }
    return lines
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every job of a manifest: detect, track, redact, encode, sign.",
        discussion: """
            A job whose output and receipt already verify and match (same input, configuration, models, \
            tool version and signing key) is skipped; anything else is redone. Each job runs under a lock \
            (.OUTPUT.lock beside its output), so overlapping runs never process the same job. Every outcome \
            is appended to the journal (default: the manifest's path plus .journal.jsonl). See docs/batch.md.
            """)
    @Argument(help: "Manifest JSON (docs/manifest.md).") var manifest: String
    @Option(name: .customLong("jobs"), help: "Jobs to run at once.") var parallelJobs = 1
    @Flag(help: "Print one JSON event per line on stdout instead of a progress bar.") var json = false
    @Option(help: "Private key (PEM); overrides the manifest's signing_key.") var key: String?
    @Option(help: "Journal of job outcomes, appended to (default: the manifest's path plus .journal.jsonl).") var journal: String?
    @Flag(name: .customLong("retry-failed"), help: "Run only the jobs whose latest journal entry is `failed`.") var retryFailed = false
    @Flag(help: "Redo every job, even those whose output is up to date.") var force = false
    @OptionGroup var models: ModelOptions

    func run() throws {
        try reportingErrors {
            guard parallelJobs >= 1 && parallelJobs <= 64 else { throw RedactError.usage("--jobs must be in 1...64") }
            let loaded = try ManifestLoader.load(contentsOf: URL(fileURLWithPath: manifest))
            guard let keyURL = key.map({ URL(fileURLWithPath: $0) }) ?? loaded.signingKey else {
                throw RedactError.usage("no signing key: set signing_key in the manifest or pass --key (make one with `redact keygen`)")
            }
            let signingKey = try SigningKey(contentsOf: keyURL)
            let registry = try ModelRegistry.locate(explicit: models.models)
            let reporter = BatchReporter(json: json)
            let journalURL = journal.map { URL(fileURLWithPath: $0) } ?? Journal.defaultURL(forManifest: loaded.sourceURL)
            try Journal.checkPath(journalURL, manifest: loaded, signingKey: keyURL)
            var only: Set<String>?
            if retryFailed {
                let failedIDs = Journal.failedJobs(in: try Journal.read(journalURL), among: loaded.jobs.map(\.id))
                guard !failedIDs.isEmpty else {
                    reporter.note("no failed jobs to retry: no job's latest entry in \(journalURL.path) is failed")
                    reporter.handle(.batchDone(done: 0, failed: 0, skipped: 0, locked: 0))
                    return
                }
                reporter.note("retrying \(failedIDs.count) failed job\(failedIDs.count == 1 ? "" : "s") from \(journalURL.path): \(failedIDs.joined(separator: ", "))")
                only = Set(failedIDs)
            }
            let journalFile = try Journal(url: journalURL)
            SignalTrap.install()
            let outcome = BatchRunner(manifest: loaded, registry: registry, signingKey: signingKey, parallelJobs: parallelJobs,
                                      options: BatchOptions(journal: journalFile, force: force, onlyJobs: only))
                .run { reporter.handle($0) }
            if Cancellation.shared.isCancelled { throw RedactError.interrupted }
            if let journalError = outcome.journalErrors.first { throw journalError }
            if !outcome.failed.isEmpty {
                throw RedactError.batchFailed(failed: outcome.failed.count, total: only?.count ?? loaded.jobs.count)
            }
        }
    }
}
