import Foundation

/// Progress of one job, for the progress bar and `--json` events.
public struct JobProgress: Sendable {
    public var jobID: String
    public var framesDone: Int
    public var framesExpected: Int?
}

/// What a finished job produced.
public struct JobResult: Codable, Sendable {
    public var id: String
    public var input: String
    public var output: String
    public var receipt: String
    public var inputSHA256: String
    public var counts: StageCounts
    public var seconds: Double
    public var framesPerSecond: Double
    /// For a job with a tracks file: whether its boxes were reused or detected, and why (one line).
    public var tracksNote: String?
    /// For an input holding more than one video stream and a job naming none: which one was
    /// redacted, and that the others are not in the output (`InputLayout.otherVideoNote`; one line).
    public var videoNote: String?

    enum CodingKeys: String, CodingKey {
        case id, input, output, receipt
        case inputSHA256 = "input_sha256"
        case counts, seconds
        case framesPerSecond = "fps"
        case tracksNote = "tracks"
        case videoNote = "video_streams"
    }
}

/// Runs one job start to end in this process: decode, detect, track, redact + encode + mux
/// (each stage on its own Dispatch queue, joined by bounded queues), then commits the output
/// atomically and signs it. On any error nothing is left at the output path.
public final class JobRunner: @unchecked Sendable {
    let registry: ModelRegistry
    let signingKey: SigningKey
    /// Pictures in flight between two stages (`BoundedQueue.stage`). Small: memory stays flat
    /// for any video length. The detector's bursts (a whole-frame run, then a skipped frame) need
    /// little slack: 2, 3, 4 and 8 ran dev04 in the same time (within noise), 3 and 8 dev09. Two:
    /// up to four pictures fewer than with four (dev04's peak 6 MB lower, 572 -> 566 MiB) pay for
    /// part of the five more the tracker holds for `TrackerConfig.reachBack` (15 MB at 1080p).
    static let framesInFlight = 2
    /// Items (pictures, audio packets, status) in flight between two stages.
    static let itemsInFlight = 64

    /// Processors each job may count on for its codecs' threads (`CodecThreads`): the process's
    /// share when `parallelJobs` jobs run at once.
    let cores: Int

    public init(registry: ModelRegistry, signingKey: SigningKey, parallelJobs: Int = 1) {
        self.registry = registry
        self.signingKey = signingKey
        cores = CodecThreads.cores(perJobOf: parallelJobs)
    }

    public func run(_ job: ManifestJob, progress: @escaping @Sendable (JobProgress) -> Void = { _ in }) throws -> JobResult {
        let started = Date()
        if Cancellation.shared.isCancelled { throw RedactError.interrupted }
        let inputPath = job.input.path
        try EvidencePolicy.check(job)
        try OutputPolicy.check(input: job.input, output: job.output)
        if let tracks = job.tracks { try OutputPolicy.check(input: job.input, output: tracks) }
        // Opened once for the whole job (PinnedInput; a missing or unreadable input fails there
        // as not found, a directory or FIFO as not a file): hashed now, before any work (checked
        // against the manifest and recorded in the receipt), decoded through the same open file.
        let pinned = try PinnedInput(path: inputPath)
        let inputDigest = try pinned.sha256AndSize(cancellable: true)
        let inputHash = inputDigest.sha256
        if let expected = job.expectedInputSHA256, expected.lowercased() != inputHash {
            throw RedactError.inputHashMismatch(path: inputPath, expected: expected, actual: inputHash)
        }
        let model = try registry.model(job.config.detector.model)
        // Every model the job uses is verified now and named in the receipt.
        var usedModels = [model]
        if job.config.detector.classes.contains(.plate) { usedModels.append(try registry.model(TextPlateDetector.modelID)) }

        let temporary = AtomicFile.temporaryURL(for: job.output)
        defer { try? FileManager.default.removeItem(at: temporary) }
        let report: @Sendable (Int, Int?) -> Void = { done, expected in
            progress(JobProgress(jobID: job.id, framesDone: done, framesExpected: expected))
        }

        // The tracks a job keeps are reused when an earlier run made them from this input with
        // these models and settings (TracksReuse): the analyst's decisions change, the boxes do
        // not, so the job renders without detecting again. Under the file's lock, so that jobs
        // sharing it (two outputs of one video) detect once.
        var lock: SidecarLock?
        defer { lock?.release() }
        var outcome: RedactOutcome?
        var tracksNote: String?
        /// Why a job with a tracks file detects instead of reusing it.
        var detectReason: String?
        var tracksRecord: TracksFileRecord?
        if let tracksURL = job.tracks {
            lock = try SidecarLock.acquire(for: tracksURL)
            // The wait may have been long (another job detecting): a signal meanwhile stops here.
            if Cancellation.shared.isCancelled { throw RedactError.interrupted }
            switch TracksReuse.check(tracksURL, inputSHA256: inputHash, models: usedModels, config: job.config, key: signingKey.publicKey) {
            case .reuse(let file, let sha256):
                lock?.release()  // the file is read; it is not written again
                // Kept ids are read from one file: any other fails now, before any rendering.
                try job.reviewedTracks?.check(actual: sha256, tracks: tracksURL, manifestPath: job.manifestPath, detectedBecause: nil)
                let analyst = AnalystPlan.make(job)
                // A kept track that is not there fails now, before any rendering.
                try analyst?.checkKept(in: Set(file.tracks.map(\.id)), tracksPath: tracksURL.path)
                do {
                    var reused = try Self.redact(input: inputPath, source: pinned.readPath, temporary: temporary, reportPath: job.output.path, config: job.config,
                                                 model: nil, boxes: file.boxesByFrame(), expected: file, mute: job.mute,
                                                 analyst: analyst, cores: cores, progress: report)
                    try analyst?.finish(firstSeconds: reused.seconds.first, lastSeconds: reused.seconds.last)
                    try pinned.checkUnchanged(since: inputDigest)
                    reused.counts.tracks = file.tracks.count
                    reused.counts.tracksReused = true
                    outcome = reused
                    tracksNote = "tracks reused from \(tracksURL.path) (detector not run)"
                        + (analyst?.pickUpWarning(in: file.tracks).map { "; " + $0 } ?? "")
                    tracksRecord = TracksFileRecord(name: tracksURL.lastPathComponent, sha256: sha256, reused: true)
                } catch let mismatch as TracksMismatch {
                    if let reviewed = job.reviewedTracks {
                        throw reviewed.refuseToReplace(tracks: tracksURL, because: mismatch.description, manifestPath: job.manifestPath)
                    }
                    detectReason = mismatch.description
                    try? FileManager.default.removeItem(at: temporary)
                    lock = try SidecarLock.acquire(for: tracksURL)
                }
            case .absent:
                // Nothing to replace: a job naming a reviewed file detects, and the new file must
                // be byte for byte the reviewed one (below).
                detectReason = TracksReuse.absentReason
            case .detect(let why):
                // The file the analyst's ids were read from is never replaced by a new detection.
                if let reviewed = job.reviewedTracks {
                    throw reviewed.refuseToReplace(tracks: tracksURL, because: why, manifestPath: job.manifestPath)
                }
                detectReason = why
            }
            if let detectReason { tracksNote = "detecting: \(detectReason)" }
        }
        if outcome == nil {
            let analyst = AnalystPlan.make(job)
            var detected = try Self.redact(input: inputPath, source: pinned.readPath, temporary: temporary, reportPath: job.output.path, config: job.config,
                                           model: model, boxes: nil, recordBoxes: job.tracks != nil, mute: job.mute,
                                           analyst: analyst, cores: cores, progress: report)
            // Before the tracks file is sealed as this input's: a file written over in place during
            // the job (same inode, read through the pinned descriptor) left a sealed tracks file of
            // the other video's boxes that the next run reused on the real input (found by an
            // adversarial review's second pass here).
            try pinned.checkUnchanged(since: inputDigest)
            // The tracks file goes in place before the output, so an output at its final path always
            // has the boxes that made it beside it.
            if let tracksURL = job.tracks, let frames = detected.frames {
                try EvidencePolicy.check(job)
                var file = TracksFile(frames: frames, input: InputReference(path: inputPath, sha256: inputHash), geometry: detected.geometry,
                                      model: ModelReference(id: model.id, sha256: model.sha256), detector: job.config.detector,
                                      tracker: job.config.tracker)
                file.toolVersion = redactVersion
                file.executableSHA256 = redactExecutableSHA256
                file.models = usedModels.map { ModelReference(id: $0.id, sha256: $0.sha256) }
                try TracksReuse.seal(&file, key: signingKey)
                let data = try JSONFiles.write(file, to: tracksURL)
                lock?.release()
                detected.counts.tracksReused = false
                let sha256 = FileDigest.sha256(of: data)
                tracksRecord = TracksFileRecord(name: tracksURL.lastPathComponent, sha256: sha256, reused: false)
                // Only when there was no file: the new tracks are kept for the analyst to review;
                // the output painted with ids read from other tracks is not.
                try job.reviewedTracks?.check(actual: sha256, tracks: tracksURL, manifestPath: job.manifestPath,
                                              detectedBecause: detectReason ?? TracksReuse.absentReason)
                if let warning = analyst?.pickUpWarning(in: file.tracks) {
                    tracksNote = [tracksNote, warning].compactMap { $0 }.joined(separator: "; ")
                }
            }
            // Checked after the tracks file is written: a kept track id that is not there, or a
            // manual box that covers no frame, fails the job, and the corrected run reuses the tracks.
            try analyst?.finish(firstSeconds: detected.seconds.first, lastSeconds: detected.seconds.last)
            outcome = detected
        }
        let counts = outcome!
        // The input was checked unchanged once its video was decoded, in either branch above
        // (`PinnedInput.checkUnchanged`): a file still being written (a cron batch picking up a
        // copy in progress), changed or replaced meanwhile was not the file the receipt would
        // name. That failed closed before anything was written at a final path; the next run
        // starts again from the whole file.
        // Checked again just before anything is written at the final paths: the output's
        // directory swapped for a link into an evidence directory during the job made the
        // rename replace an original (an adversarial review's second pass). A narrow window is
        // left between this check and the rename (docs/manifest.md, `evidence_dirs`).
        try EvidencePolicy.check(job)
        // A job redone over an earlier output removes that output and its receipt first: the new
        // receipt must never sit beside the old output (a pair that does not verify), whatever
        // instant the process is killed at.
        try AtomicFile.remove(job.output)
        try AtomicFile.remove(Receipts.receiptURL(for: job.output))
        // Signed before the output is renamed into place: a job that cannot sign leaves nothing at
        // its output path, and an output at its final path always has its receipt beside it.
        let receipt = try Receipts.sign(
            output: job.output, input: job.input, inputDigest: inputDigest, outputContents: temporary,
            predicate: ReceiptPredicateInput(models: usedModels.map { ReceiptPredicate.Model(id: $0.id, sha256: $0.sha256) }, config: job.config,
                                             counts: counts.counts, droppedStreams: counts.dropped,
                                             droppedMetadata: counts.droppedMetadata, audioMute: counts.audioMute,
                                             analyst: counts.analyst, tracksFile: tracksRecord),
            key: signingKey)
        do {
            try AtomicFile.commit(temporary: temporary, to: job.output)
        } catch {
            try? FileManager.default.removeItem(at: receipt)
            throw error
        }
        let seconds = Date().timeIntervalSince(started)
        return JobResult(id: job.id, input: inputPath, output: job.output.path, receipt: receipt.path, inputSHA256: inputHash,
                         counts: counts.counts, seconds: seconds, framesPerSecond: Double(counts.counts.frames) / max(seconds, 1e-9),
                         tracksNote: tracksNote, videoNote: counts.videoNote)
    }

    struct RedactOutcome {
        var counts: StageCounts
        var dropped: [String]
        /// Metadata keys not carried to the output, frame side data removed before encoding included.
        var droppedMetadata: [String]
        /// The mute ranges and the streams re-encoded for them; nil without ranges.
        var audioMute: AudioMuteRecord?
        var geometry: FrameGeometry
        /// Every frame's final boxes, when asked for.
        var frames: [FrameBoxes]?
        /// What the analyst's decisions did; nil without decisions.
        var analyst: AnalystRecord?
        /// Presentation times of the first and last frame.
        var seconds: (first: Double?, last: Double?)
        /// `InputLayout.otherVideoNote`.
        var videoNote: String?
    }

    /// The streaming core shared by `run` and `render`: with `boxes == nil` frames are detected
    /// and tracked; otherwise the given boxes are painted. Writes the MP4 to `temporary`.
    /// `cores`: processors this job may count on (`CodecThreads`).
    /// `expected`: the tracks file `boxes` come from; its geometry and frame count must be the
    /// input's (else `TracksMismatch`). `analyst`: the job's decisions, applied while painting.
    static func redact(input: String, source: String? = nil, temporary: URL, reportPath: String, config: JobConfig, model: VerifiedModel?,
                       boxes: [Int: [TrackedBox]]?, expected: TracksFile? = nil, recordBoxes: Bool = false, mute: [MuteRange] = [],
                       analyst: AnalystPlan? = nil, cores: Int = CodecThreads.cores(),
                       progress: @escaping (Int, Int?) -> Void) throws -> RedactOutcome {
        let threads = CodecThreads(detecting: boxes == nil, cores: cores)
        // Picked once: the decode stage checks the audio against it, the render stage writes it.
        let container = OutputContainer(outputPath: reportPath)
        let decode = try DecodeStage(path: input, source: source, keepAudio: config.render.keepAudio, threads: threads.decoder,
                                     videoStream: config.detector.videoStream, container: container)
        if let expected, expected.geometry != decode.layout.geometry {
            throw TracksMismatch(description: "tracks file's frame geometry is not the input's")
        }
        let decoded = BoundedQueue<MediaItem>.stage()
        let group = DispatchGroup()
        var toRender = decoded
        var tracker: OnlineTracker?
        var provider: BoxProvider
        var detect: DetectStage?
        if let boxes {
            provider = PrecomputedBoxes(boxes)
        } else {
            guard let model else { throw RedactError.detector(path: input, frame: nil, detail: "no model") }
            detect = try DetectStage(model: model, config: config.detector, tracker: config.tracker, geometry: decode.layout.geometry, path: input)
            let t = OnlineTracker(config: config.tracker, birthThreshold: config.detector.threshold, geometry: decode.layout.geometry,
                                  detectionInterval: config.detector.every)
            tracker = t
            provider = t
            toRender = BoundedQueue<MediaItem>.stage()
        }
        let recorder = recordBoxes ? RecordingBoxes(provider) : nil
        if let recorder { provider = recorder }
        let render = try RenderStage(input: decode.input, layout: decode.layout, config: config.render,
                                     writePath: temporary.path, reportPath: reportPath, container: container, boxes: provider, mute: mute, analyst: analyst,
                                     encoderThreads: threads.encoder) { done in
            progress(done, decode.layout.expectedFrames)
        }
        let cancellation = Cancellation.shared
        cancellation.register(decoded)
        cancellation.register(toRender)
        defer {
            cancellation.unregister(decoded)
            cancellation.unregister(toRender)
        }
        DispatchQueue(label: "redact.decode").async(group: group) { decode.run(into: decoded) }
        if let detect {
            let detected = toRender
            DispatchQueue(label: "redact.detect").async(group: group) { detect.run(from: decoded, into: detected) }
        }
        do {
            try render.run(from: toRender)
        } catch {
            decoded.cancel()
            toRender.cancel()
            group.wait()
            throw cancellation.isCancelled ? RedactError.interrupted : error
        }
        group.wait()
        if let expected, render.counts.frames != expected.frameCount {
            throw TracksMismatch(description: "tracks file covers \(expected.frameCount) frames, the input has \(render.counts.frames)")
        }
        var counts = render.counts
        counts.tracks = tracker?.trackCount ?? Set(boxes?.values.flatMap { $0.map(\.trackID) } ?? []).count
        counts.videoPackets = decode.videoPackets  // the decode queue has finished (group.wait)
        counts.record(damaged: decode.damagedFrames)
        let video = decode.layout.videoStream
        let sideData = render.droppedFrameSideData.map { "stream \(video):frame side data:\($0)" }
        return RedactOutcome(counts: counts, dropped: decode.layout.droppedStreams, droppedMetadata: decode.layout.droppedMetadata + sideData,
                             audioMute: render.audioMuteRecord, geometry: decode.layout.geometry, frames: recorder?.frames,
                             analyst: analyst?.record, seconds: (render.firstSeconds, render.lastSeconds),
                             videoNote: decode.layout.otherVideoNote)
    }
}

/// Evidence directories hold originals; no output, sidecar or temporary file goes inside one.
public enum EvidencePolicy {
    /// Refuses a job that would write inside one of its evidence directories. Run before
    /// anything is created for the job (lock file, directories): the manifest's own check was by
    /// name only; this one follows symbolic links.
    public static func check(_ job: ManifestJob) throws {
        for url in [job.output, job.tracks].compactMap({ $0 }) {
            if let dir = job.evidenceDirectories.first(where: { isInside(url, $0, resolvingLinks: true) }) {
                throw RedactError.output(path: url.path, detail: "is inside evidence directory \(dir.path); nothing is written there")
            }
        }
    }

    /// Whether `url` is `directory` or lies below it. With `resolvingLinks`, the deepest
    /// existing ancestor of each is resolved first, so a symbolic link cannot smuggle a path in.
    public static func isInside(_ url: URL, _ directory: URL, resolvingLinks: Bool = false) -> Bool {
        let a = resolvingLinks ? resolved(url) : url.standardizedFileURL.path
        let d = resolvingLinks ? resolved(directory) : directory.standardizedFileURL.path
        let dir = d.hasSuffix("/") ? d : d + "/"
        return a == d || a.hasPrefix(dir)
    }

    static func resolved(_ url: URL) -> String {
        var existing = url.standardizedFileURL
        var rest: [String] = []
        while !FileManager.default.fileExists(atPath: existing.path) && existing.path != "/" {
            rest.insert(existing.lastPathComponent, at: 0)
            existing = existing.deletingLastPathComponent()
        }
        var path = existing.resolvingSymlinksInPath().path
        for part in rest { path = (path as NSString).appendingPathComponent(part) }
        return path
    }
}

/// Rules about where outputs may go.
enum OutputPolicy {
    /// A stage's JSON output (detections.json, tracks.json) must end in `.json`, which keeps it
    /// off every video (`redact detect clip.mp4 -o clip.mp4` replaced the original with JSON),
    /// and must not be one of the files the stage reads.
    static func checkJSON(output: URL, inputs: [URL]) throws {
        guard output.pathExtension.lowercased() == "json" else {
            throw RedactError.usage("\(output.path): a JSON output must end in .json (so it is never written over a video)")
        }
        for input in inputs { try check(input: input, output: output) }
    }

    /// A redacted video's name picks its container (`OutputContainer`), so it must be one the
    /// file is: `.mp4`, or `.mov` (as the manifest's `output` must). A video named `.mkv` or `.avi`
    /// holding MP4 would mislead whoever receives it.
    static func checkVideoName(_ output: URL) throws {
        guard OutputContainer.named(output.path) != nil else {
            throw RedactError.usage("\(output.path): a redacted video must be named .mp4, or .mov (which also keeps PCM audio); the name picks the container")
        }
    }

    static func check(input: URL, output: URL) throws {
        switch sameFile(input, output) {
        case .path: throw RedactError.output(path: output.path, detail: "is the input; the original is never overwritten")
        case .hardLink: throw RedactError.output(path: output.path, detail: "is the same file as the input")
        case nil: break
        }
        try createDirectory(of: output)
    }

    enum SameFile { case path, hardLink }

    /// Whether `a` and `b` name one file: the same path once links are resolved, or one file
    /// under two names (a hard link). Nil when they are different files (or `b` does not exist).
    static func sameFile(_ a: URL, _ b: URL) -> SameFile? {
        let aPath = a.standardizedFileURL.resolvingSymlinksInPath().path
        let bPath = b.standardizedFileURL.resolvingSymlinksInPath().path
        if aPath == bPath { return .path }
        if let x = try? FileManager.default.attributesOfItem(atPath: aPath), let y = try? FileManager.default.attributesOfItem(atPath: bPath),
           (x[.systemFileNumber] as? NSNumber) == (y[.systemFileNumber] as? NSNumber),
           (x[.systemNumber] as? NSNumber) == (y[.systemNumber] as? NSNumber) {
            return .hardLink
        }
        return nil
    }

    /// Creates the directory `output` goes in, if missing.
    static func createDirectory(of output: URL) throws {
        let dir = output.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw RedactError.output(path: output.path, detail: "cannot create directory \(dir.path)")
        }
    }
}
