import CFFmpeg
import Foundation

/// The stages as standalone steps (`redact detect`, `track`, `render`, `mux`), each reading and
/// writing files, so any one can be run, inspected or replaced on its own.
public enum Stages {
    /// Decodes `input` (its video stream `config.videoStream`, else libavformat's best) and runs
    /// the detector on every frame; writes detections.json. `note` hears of the input's other
    /// video streams, which no output of these detections carries (`InputLayout.otherVideoNote`).
    @discardableResult
    public static func detect(input: URL, output: URL, config: DetectorConfig, registry: ModelRegistry,
                              note: (String) -> Void = { _ in },
                              progress: @escaping (Int, Int?) -> Void = { _, _ in }) throws -> DetectionsFile {
        try OutputPolicy.checkJSON(output: output, inputs: [input])
        // One open file hashed and decoded (PinnedInput): the detections are of the bytes hashed.
        let pinned = try PinnedInput(path: input.path)
        let hash = try pinned.sha256AndSize().sha256
        let model = try registry.model(config.model)
        let decode = try DecodeStage(path: input.path, source: pinned.readPath, keepAudio: false, videoStream: config.videoStream)
        if let other = decode.layout.otherVideoNote { note(other) }
        // Standalone detect keeps weak detections (down to the default tracker's low score) so
        // that `track` can use them; `track` decodes the video again for its grey images.
        var tracker = TrackerConfig()
        tracker.flow = false
        let detect = try DetectStage(model: model, config: config, tracker: tracker, geometry: decode.layout.geometry, path: input.path)
        let decoded = BoundedQueue<MediaItem>.stage()
        let detected = BoundedQueue<MediaItem>.stage()
        let group = DispatchGroup()
        DispatchQueue(label: "redact.decode").async(group: group) { decode.run(into: decoded) }
        DispatchQueue(label: "redact.detect").async(group: group) { detect.run(from: decoded, into: detected) }
        var frames: [FrameDetections] = []
        defer {
            decoded.cancel()
            detected.cancel()
            group.wait()
        }
        loop: while let item = detected.pop() {
            switch item {
            case .video(let work):
                frames.append(FrameDetections(frame: work.frame.number, pts: work.frame.pts, detections: work.detections, windows: work.windows,
                                              coarseInput: work.coarseInput))
                progress(frames.count, decode.layout.expectedFrames)
            case .audio: continue
            case .end: break loop
            case .failure(let e): throw e
            }
        }
        let file = DetectionsFile(input: InputReference(path: input.path, sha256: hash), geometry: decode.layout.geometry,
                                  model: ModelReference(id: model.id, sha256: model.sha256), detector: config, frames: frames)
        try JSONFiles.write(file, to: output)
        return file
    }

    /// Groups detections into tracks (the same tracker `run` uses); writes tracks.json.
    ///
    /// With `flow` on (the default) the tracker follows faces between and before detections by
    /// optical flow on grey images of the frames, so `video` (default: the file detections.json
    /// names) is decoded again for them, checked against the SHA-256 the detections recorded:
    /// the tracks are then the ones `redact run` makes from the same detections. Without them
    /// the chain `detect`, `track`, `render` covered faces only by interpolation and extension
    /// and left 10 face frames visible on dev03 that `run` covers (docs/quality.md).
    @discardableResult
    public static func track(detections: URL, output: URL, config: TrackerConfig, video: URL? = nil,
                             progress: @escaping (Int, Int?) -> Void = { _, _ in }) throws -> TracksFile {
        // The video is checked once it is known (`flowSource`): given, or named by the detections.
        try OutputPolicy.checkJSON(output: output, inputs: [detections])
        let file = try JSONFiles.read(DetectionsFile.self, from: detections)
        for (i, f) in file.frames.enumerated() where f.frame != i + 1 {
            throw RedactError.badJSON(path: detections.path, jsonPath: "$.frames[\(i)].frame", detail: "expected frame \(i + 1), found \(f.frame) (frames must be consecutive from 1)")
        }
        let tracker = OnlineTracker(config: config, birthThreshold: file.detector.threshold, geometry: file.geometry,
                                    detectionInterval: file.detector.every)
        var finals: [FrameBoxes] = []
        if config.flow {
            let source = try flowSource(for: file, detections: detections, video: video)
            try OutputPolicy.check(input: URL(fileURLWithPath: source.path), output: output)
            try forEachFlowImage(of: source, file: file, detections: detections) { index, image in
                let f = file.frames[index]
                finals += tracker.push(frame: f.frame, detections: f.detections, windowed: f.windows != nil, image: image)
                progress(index + 1, file.frames.count)
            }
        } else {
            for f in file.frames { finals += tracker.push(frame: f.frame, detections: f.detections, windowed: f.windows != nil, image: nil) }
        }
        finals += tracker.finish()
        let tracks = TracksFile(frames: finals, input: file.input, geometry: file.geometry, model: file.model,
                                detector: file.detector, tracker: config)
        try JSONFiles.write(tracks, to: output)
        return tracks
    }

    /// The video whose frames `track` follows faces on: `video`, or else the input detections.json
    /// names; it must be the file the detections were made from (its SHA-256), and is decoded
    /// through the file that was hashed (`PinnedInput`).
    private static func flowSource(for file: DetectionsFile, detections: URL, video: URL?) throws -> PinnedInput {
        let source = video ?? URL(fileURLWithPath: file.input.path)
        guard FileManager.default.isReadableFile(atPath: source.path) else {
            if video != nil { throw RedactError.inputNotFound(path: source.path) }
            throw RedactError.badJSON(path: detections.path, jsonPath: "$.input.path",
                                      detail: "\(source.path): no such file or not readable (the video these detections were made from, needed for optical flow: give it with --input, or track without flow with --no-flow, which covers less)")
        }
        let pinned = try PinnedInput(path: source.path)
        let hash = try pinned.sha256AndSize().sha256
        guard hash == file.input.sha256 else {
            throw RedactError.badJSON(path: detections.path, jsonPath: "$.input.sha256",
                                      detail: "detections were made from another file (\(file.input.sha256)); \(source.path) is \(hash)")
        }
        return pinned
    }

    /// Decodes `source` and calls `body` with each frame's index and the grey image the detect
    /// stage of `redact run` makes for the tracker (the detector image at `input_size`, halved),
    /// one frame at a time: memory stays flat. The video must have as many frames as `file`.
    private static func forEachFlowImage(of source: PinnedInput, file: DetectionsFile, detections: URL,
                                         _ body: (Int, GrayImage) throws -> Void) throws {
        let decode = try DecodeStage(path: source.path, source: source.readPath, keepAudio: false, videoStream: file.detector.videoStream)
        guard decode.layout.geometry == file.geometry else {
            throw RedactError.badJSON(path: detections.path, jsonPath: "$.geometry", detail: "does not match \(source.path)")
        }
        let image = DetectorImage(geometry: file.geometry, longSide: file.detector.inputSize, path: source.path)
        let decoded = BoundedQueue<MediaItem>.stage()
        let group = DispatchGroup()
        DispatchQueue(label: "redact.decode").async(group: group) { decode.run(into: decoded) }
        defer {
            decoded.cancel()
            group.wait()
        }
        var index = 0
        loop: while let item = decoded.pop() {
            switch item {
            case .video(let work):
                guard index < file.frames.count else {
                    throw RedactError.badJSON(path: detections.path, jsonPath: "$.frames", detail: "covers \(file.frames.count) frames; \(source.path) has more")
                }
                try image.load(work.frame)
                try body(index, try GrayImage.fromDetectorImage(image, path: source.path, frame: work.frame.number))
                index += 1
            case .audio: continue
            case .end: break loop
            case .failure(let e): throw e
            }
        }
        guard index == file.frames.count else {
            throw RedactError.badJSON(path: detections.path, jsonPath: "$.frames", detail: "covers \(file.frames.count) frames; \(source.path) has \(index)")
        }
    }

    /// Paints the boxes of tracks.json over `input` and encodes `output` (audio copied).
    /// Refuses a tracks.json made from another file: its boxes would miss the faces.
    @discardableResult
    public static func render(input: URL, tracks: URL, output: URL, config: RenderConfig,
                              progress: @escaping (Int, Int?) -> Void = { _, _ in }) throws -> StageCounts {
        try OutputPolicy.check(input: input, output: output)
        try OutputPolicy.check(input: tracks, output: output)
        try OutputPolicy.checkVideoName(output)
        let file = try JSONFiles.read(TracksFile.self, from: tracks)
        let pinned = try PinnedInput(path: input.path)
        let hash = try pinned.sha256AndSize(cancellable: true).sha256
        guard file.input.sha256 == hash else {
            throw RedactError.badJSON(path: tracks.path, jsonPath: "$.input.sha256", detail: "tracks were made from another file (\(file.input.sha256)); \(input.path) is \(hash)")
        }
        var job = JobConfig()
        job.render = config
        // The video stream the boxes were found on.
        job.detector.videoStream = file.detector?.videoStream
        let temporary = AtomicFile.temporaryURL(for: output)
        defer { try? FileManager.default.removeItem(at: temporary) }
        let outcome = try JobRunner.redact(input: input.path, source: pinned.readPath, temporary: temporary, reportPath: output.path, config: job,
                                           model: nil, boxes: file.boxesByFrame(), progress: progress)
        if outcome.counts.frames != file.frameCount {
            throw RedactError.badJSON(path: tracks.path, jsonPath: "$.frame_count", detail: "tracks cover \(file.frameCount) frames; the input has \(outcome.counts.frames)")
        }
        try AtomicFile.commit(temporary: temporary, to: output)
        return outcome.counts
    }

    /// Joins the video stream of `video` (an MP4 that `redact render --no-audio` encoded) with
    /// every audio stream of `audioFrom`, copying packets unchanged, interleaved by time.
    ///
    /// The video's packets are copied, so `video` must not be an original: with the two files
    /// swapped, `mux` wrote the original's unredacted video. `video` must have no audio stream
    /// (render's `--no-audio` output has none; an original with sound has) and `audioFrom` at
    /// least one (render's output of a video-only original has none); together these refuse the
    /// swap and a file joined with itself. And `video` must carry the tag redact writes on what
    /// it encodes (`OutputMuxer.redactedVideoTag`): an original without audio passes the first
    /// two checks.
    public static func mux(video: URL, audioFrom: URL, output: URL) throws {
        try OutputPolicy.check(input: video, output: output)
        try OutputPolicy.check(input: audioFrom, output: output)
        try OutputPolicy.checkVideoName(output)
        let v = try MediaInput(path: video.path)
        let a = try MediaInput(path: audioFrom.path)
        let vIndex = try v.primaryVideoStreamIndex()
        func hasAudio(_ input: MediaInput) -> Bool {
            (0..<input.streamCount).contains { input.stream($0).pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO }
        }
        if hasAudio(v) {
            throw RedactError.badMedia(path: video.path, detail: "has audio: mux copies this file's video packets, so it takes only a video-only `redact render --no-audio` output (are VIDEO and --audio-from swapped?)")
        }
        if !hasAudio(a) {
            throw RedactError.badMedia(path: audioFrom.path, detail: "has no audio stream to join (are VIDEO and --audio-from swapped?)")
        }
        if !OutputMuxer.isRedactedVideo(v) {
            throw RedactError.badMedia(path: video.path, detail: "was not encoded by redact (it lacks the `\(OutputMuxer.redactedVideoTag.key)` tag render writes): mux copies this file's video packets, so it takes only a `redact render --no-audio` output, never an original")
        }
        // The tag is a guard anyone can write (an adversarial review wrote it on the original's
        // video copied out with ffmpeg): the video's slices must also not be those of the file
        // the audio comes from, which is the original this output is for.
        if !a.videoStreamIndices.isEmpty {
            let shared = try Probe.videoSlicesShared(by: video.path, with: audioFrom.path).values.reduce(0, +)
            if shared > 0 {
                throw RedactError.badMedia(path: video.path, detail: "\(shared) of its coded pictures' slices are bytes of \(audioFrom.path)'s video: it is that video copied, not a redaction of it; mux takes only a `redact render --no-audio` output")
            }
        }
        let temporary = AtomicFile.temporaryURL(for: output)
        defer { try? FileManager.default.removeItem(at: temporary) }
        let muxer = try OutputMuxer(writePath: temporary.path, reportPath: output.path, container: OutputContainer(outputPath: output.path))
        var map: [(input: MediaInput, index: Int, out: Int)] = []
        map.append((v, vIndex, try muxer.addCopiedStream(like: v.stream(vIndex))))
        if let matrix = displayMatrix(v.stream(vIndex)) { try muxer.setDisplayMatrix(matrix, stream: 0) }
        for i in 0..<a.streamCount where a.stream(i).pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO {
            if let problem = OutputMuxer.copyProblem(a.stream(i), container: muxer.container) {
                throw RedactError.badMedia(path: audioFrom.path, detail: "stream \(i): audio cannot be copied: \(problem)")
            }
            map.append((a, i, try muxer.addCopiedStream(like: a.stream(i))))
        }
        muxer.copyContainerMetadata(from: a)
        try muxer.writeHeader()
        // Merge the two files' packets in time order so the muxer's buffer stays small.
        var pending: [ObjectIdentifier: Packet] = [:]
        var finished = Set<ObjectIdentifier>()
        func next(_ input: MediaInput) throws -> Packet? {
            let p = Packet()
            while try input.read(into: p.pointer) {
                let idx = Int(p.pointer.pointee.stream_index)
                if map.contains(where: { $0.input === input && $0.index == idx }) { return p }
                av_packet_unref(p.pointer)
            }
            return nil
        }
        func seconds(_ p: Packet, _ input: MediaInput) -> Double {
            let st = input.stream(Int(p.pointer.pointee.stream_index))
            let ts = p.pointer.pointee.dts != avNoPTS ? p.pointer.pointee.dts : p.pointer.pointee.pts
            return Double(ts) * Double(st.pointee.time_base.num) / Double(st.pointee.time_base.den)
        }
        let inputs = [v, a]
        while true {
            if Cancellation.shared.isCancelled { throw RedactError.interrupted }
            for input in inputs where pending[ObjectIdentifier(input)] == nil && !finished.contains(ObjectIdentifier(input)) {
                if let p = try next(input) { pending[ObjectIdentifier(input)] = p } else { finished.insert(ObjectIdentifier(input)) }
            }
            guard let input = inputs.filter({ pending[ObjectIdentifier($0)] != nil })
                .min(by: { seconds(pending[ObjectIdentifier($0)]!, $0) < seconds(pending[ObjectIdentifier($1)]!, $1) })
            else { break }
            let p = pending.removeValue(forKey: ObjectIdentifier(input))!
            let entry = map.first { $0.input === input && $0.index == Int(p.pointer.pointee.stream_index) }!
            if p.pointer.pointee.duration <= 0, entry.out == 0 {
                // A video packet without a duration would leave the last frame with none.
                let st = input.stream(entry.index)
                let rate = st.pointee.avg_frame_rate
                if rate.num > 0 && rate.den > 0 {
                    p.pointer.pointee.duration = av_rescale_q(1, AVRational(num: rate.den, den: rate.num), st.pointee.time_base)
                }
            }
            try muxer.write(p.pointer, stream: entry.out)
        }
        try muxer.finish()
        try AtomicFile.commit(temporary: temporary, to: output)
    }
}
