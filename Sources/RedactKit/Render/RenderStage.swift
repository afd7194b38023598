import CFFmpeg
import Foundation

/// Where the boxes to paint come from: the tracker (`run`) or a tracks.json file (`render`).
protocol BoxProvider: AnyObject {
    /// Takes one frame's detections (nil: detector did not run; `windowed`: it looked only at
    /// windows around some faces) and returns frames now final.
    func push(frame: Int, detections: [Detection]?, windowed: Bool, image: GrayImage?) -> [FrameBoxes]
    func finish() -> [FrameBoxes]
}

extension OnlineTracker: BoxProvider {}

/// Boxes read from a tracks.json: every frame is final as soon as it arrives.
final class PrecomputedBoxes: BoxProvider {
    private let byFrame: [Int: [TrackedBox]]
    init(_ byFrame: [Int: [TrackedBox]]) { self.byFrame = byFrame }
    func push(frame: Int, detections: [Detection]?, windowed: Bool, image: GrayImage?) -> [FrameBoxes] {
        [FrameBoxes(frame: frame, boxes: byFrame[frame] ?? [])]
    }
    func finish() -> [FrameBoxes] { [] }
}

/// Passes another provider's output through and keeps a copy of every final frame's boxes, for
/// the job's tracks.json. Boxes are small (a few per frame), so this stays small for long videos.
final class RecordingBoxes: BoxProvider {
    private let inner: BoxProvider
    private(set) var frames: [FrameBoxes] = []
    init(_ inner: BoxProvider) { self.inner = inner }
    func push(frame: Int, detections: [Detection]?, windowed: Bool, image: GrayImage?) -> [FrameBoxes] {
        let final = inner.push(frame: frame, detections: detections, windowed: windowed, image: image)
        frames += final
        return final
    }
    func finish() -> [FrameBoxes] {
        let final = inner.finish()
        frames += final
        return final
    }
}

/// Redacts and encodes frames in order and muxes them with the copied audio. Holds back the
/// frames the box provider has not released yet (the tracker's look-ahead window), so memory
/// is bounded by that window, not by the video's length.
final class RenderStage {
    private let input: MediaInput
    private let layout: InputLayout
    private let config: RenderConfig
    private let muxer: OutputMuxer
    private let reportPath: String
    private let boxes: BoxProvider
    private let redactor: Redactor
    private var encoder: VideoEncoder?
    private var videoOutputStream = 0
    private var held: [MediaItem] = []
    private var heldHead = 0
    private var converter: OpaquePointer?
    private var expectedSize: (Int, Int)?
    /// Duration of each frame sent to the encoder, by pts: libx264 does not carry it to its
    /// packets, and without it the MP4's last frame would get no duration (a shorter video).
    private var frameDurations: [Int64: Int64] = [:]
    private var defaultDuration: Int64 = 1
    private let progress: (Int) -> Void
    private(set) var counts = StageCounts()
    /// Names of the frame side data (SEI user data, closed captions...) removed from the decoded
    /// frames before encoding, each once, in the order first seen; for the receipt.
    private(set) var droppedFrameSideData: [String] = []
    /// Audio streams with a tone over the mute ranges, by output stream index.
    private let muters: [Int: ToneMuter]
    private let mute: [MuteRange]
    /// libx264's threads (0: FFmpeg's choice; `CodecThreads`).
    private let encoderThreads: Int
    /// The job's analyst decisions (kept tracks, manual boxes, excluded regions); nil: none.
    let analyst: AnalystPlan?
    /// Presentation times (seconds) of the first and last frame encoded.
    private(set) var firstSeconds: Double?
    private(set) var lastSeconds: Double?

    init(input: MediaInput, layout: InputLayout, config: RenderConfig, writePath: String, reportPath: String, container: OutputContainer,
         boxes: BoxProvider, mute: [MuteRange] = [], analyst: AnalystPlan? = nil, encoderThreads: Int = 0,
         progress: @escaping (Int) -> Void) throws {
        // Every box the manifest names must lie in the picture: checked before any work.
        try analyst?.validate(geometry: layout.geometry)
        self.analyst = analyst
        self.input = input
        self.layout = layout
        self.config = config
        self.reportPath = reportPath
        self.boxes = boxes
        self.progress = progress
        self.mute = mute
        self.encoderThreads = encoderThreads
        // Recorded even when empty: the receipt then says nothing was found, rather than nothing
        // was counted (as in receipts made before these counts existed).
        counts.byClass = [:]
        counts.boxSources = [:]
        muxer = try OutputMuxer(writePath: writePath, reportPath: reportPath, container: container)
        // Opened now, before any frame: an audio stream that cannot be muted fails the job at once.
        var muters: [Int: ToneMuter] = [:]
        for (inIndex, outIndex) in layout.audioMap.sorted(by: { $0.value < $1.value })
        where ToneMuters.affects(input.stream(inIndex), ranges: mute) {
            muters[outIndex] = try ToneMuters.make(stream: input.stream(inIndex), inputIndex: inIndex, ranges: mute,
                                                   inputPath: input.path, reportPath: reportPath, globalHeader: muxer.needsGlobalHeader)
        }
        self.muters = muters
        redactor = Redactor(style: config.style, padding: config.padding, platePadding: config.platePadding, faceShape: config.shape, geometry: layout.geometry, path: reportPath)
    }

    deinit { sws_freeContext(converter) }

    /// Consumes `queue` to its end. Throws the first error (its own or one that travelled down).
    func run(from queue: BoundedQueue<MediaItem>) throws {
        defer { queue.cancel() }
        while let item = queue.pop() {
            switch item {
            case .video(let work):
                if let d = work.detections {
                    counts.detectedFrames += 1
                    if work.windows != nil { counts.windowedFrames = (counts.windowedFrames ?? 0) + 1 }
                    if work.coarseInput { counts.coarseInputFrames = (counts.coarseInputFrames ?? 0) + 1 }
                    counts.detections += d.count
                    for detection in d { counts.countDetection(of: detection.objectClass) }
                }
                held.append(item)
                let image = work.gray
                work.gray = nil  // the tracker keeps what it needs; the frame need not carry it
                for final in boxes.push(frame: work.frame.number, detections: work.detections, windowed: work.windows != nil, image: image) {
                    try release(final)
                }
            case .audio:
                held.append(item)
            case .end:
                for final in boxes.finish() { try release(final) }
                try drainHeld()
                try finishOutput()
                return
            case .failure(let e):
                throw e
            }
        }
        throw RedactError.interrupted
    }

    /// Writes every held item up to and including the frame `final` describes.
    private func release(_ final: FrameBoxes) throws {
        if encoder == nil {
            // The encoder needs the first frame's size before any packet, audio included, is written.
            for case .video(let work) in held[heldHead...] {
                try ensureOutputStarted(work.frame)
                break
            }
        }
        while heldHead < held.count {
            let item = held[heldHead]
            held[heldHead] = .end  // drop our reference to the frame
            heldHead += 1
            switch item {
            case .audio(let packet, let out):
                try writeAudio(packet, stream: out)
            case .video(let work):
                guard work.frame.number == final.frame else {
                    throw RedactError.encode(path: reportPath, frame: work.frame.number, detail: "internal: boxes for frame \(final.frame) arrived out of order")
                }
                try encode(work.frame, boxes: final.boxes)
                compactHeld()
                return
            default:
                break
            }
        }
        throw RedactError.encode(path: reportPath, frame: final.frame, detail: "internal: boxes for a frame that was never decoded")
    }

    private func drainHeld() throws {
        while heldHead < held.count {
            if case .audio(let packet, let out) = held[heldHead] { try writeAudio(packet, stream: out) }
            if case .video(let work) = held[heldHead] {
                throw RedactError.encode(path: reportPath, frame: work.frame.number, detail: "internal: frame left without boxes")
            }
            heldHead += 1
        }
        compactHeld()
    }

    private func compactHeld() {
        if heldHead > 32 && heldHead * 2 > held.count {
            held.removeFirst(heldHead)
            heldHead = 0
        }
    }

    private func writeAudio(_ packet: Packet, stream: Int) throws {
        try ensureOutputStarted(nil)
        if let muter = muters[stream] {
            try muter.process(packet.pointer) { try muxer.write($0, stream: stream) }
            return
        }
        try muxer.write(packet.pointer, stream: stream)
        counts.audioPackets += 1
    }

    /// What the receipt records about the mute ranges; nil when the job had none.
    var audioMuteRecord: AudioMuteRecord? {
        guard !mute.isEmpty else { return nil }
        return AudioMuteRecord(ranges: mute, toneHz: MuteTone.hz, toneDBFS: MuteTone.dbfs,
                               reencodedStreams: muters.sorted { $0.key < $1.key }.map { $0.value.summary })
    }

    /// Creates the encoder and writes the header on the first frame (the encoder needs its size).
    private func ensureOutputStarted(_ frame: VideoFrame?) throws {
        if encoder != nil { return }
        guard let frame else {
            // Audio before any video frame: the window always holds a frame first, so this
            // only happens for audio trailing a stream whose video never decoded.
            throw RedactError.badMedia(path: input.path, detail: "no video frame before audio")
        }
        let vs = input.stream(layout.videoStream)
        let fullRange = frame.pointer.pointee.color_range == AVCOL_RANGE_JPEG || frame.pixelFormat == AV_PIX_FMT_YUVJ420P
        var sar = frame.pointer.pointee.sample_aspect_ratio
        if sar.num == 0 { sar = vs.pointee.sample_aspect_ratio }
        let settings = VideoEncoder.Settings(
            width: frame.width, height: frame.height,
            pixelFormat: VideoEncoder.pixelFormat(width: frame.width, height: frame.height), timeBase: layout.timeBase,
            frameRate: vs.pointee.avg_frame_rate.num > 0 ? vs.pointee.avg_frame_rate : vs.pointee.r_frame_rate,
            sampleAspectRatio: sar,
            colorRange: fullRange ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG,
            colorPrimaries: frame.pointer.pointee.color_primaries,
            colorTransfer: frame.pointer.pointee.color_trc,
            colorSpace: frame.pointer.pointee.colorspace,
            crf: config.crf, preset: config.preset, globalHeader: muxer.needsGlobalHeader, threads: encoderThreads)
        let enc = try VideoEncoder(settings, path: reportPath)
        videoOutputStream = try muxer.addVideoStream(encoder: enc, like: vs)
        for (inIndex, outIndex) in layout.audioMap.sorted(by: { $0.value < $1.value }) {
            let added = try muters[outIndex].map { try $0.addStream(to: muxer, like: input.stream(inIndex)) }
                ?? muxer.addCopiedStream(like: input.stream(inIndex))
            precondition(added == outIndex)
        }
        muxer.copyContainerMetadata(from: input)
        try muxer.writeHeader()
        encoder = enc
        expectedSize = (frame.width, frame.height)
        let rate = vs.pointee.avg_frame_rate.num > 0 ? vs.pointee.avg_frame_rate : vs.pointee.r_frame_rate
        if rate.num > 0 && rate.den > 0 {
            defaultDuration = max(1, av_rescale_q(1, AVRational(num: rate.den, den: rate.num), layout.timeBase))
        }
    }

    private func encode(_ frame: VideoFrame, boxes: [TrackedBox]) throws {
        try ensureOutputStarted(frame)
        guard let (w, h) = expectedSize, frame.width == w, frame.height == h,
              w == layout.geometry.storedWidth, h == layout.geometry.storedHeight
        else {
            throw RedactError.badMedia(path: input.path, detail: "frame \(frame.number) is \(frame.width)x\(frame.height); the stream is \(layout.geometry.storedWidth)x\(layout.geometry.storedHeight) (size changes are not supported)")
        }
        // Presentation time as `mute` and the manifest's time ranges read it: pts × num / den.
        let seconds = Double(frame.pts) * Double(layout.timeBase.num) / Double(layout.timeBase.den)
        if firstSeconds == nil { firstSeconds = seconds }
        lastSeconds = seconds
        var machine = boxes, manual: [TrackedBox] = [], exclusions: [(index: Int, box: Box)] = []
        if let analyst { (machine, manual, exclusions) = analyst.plan(frame: frame.number, seconds: seconds, machine: boxes) }
        let picture = try writablePlanarFrame(frame, needsWrite: !machine.isEmpty || !manual.isEmpty)
        defer { if picture != frame.pointer { var p: UnsafeMutablePointer<AVFrame>? = picture; av_frame_free(&p) } }
        let fullRange = encoder!.context.pointee.color_range == AVCOL_RANGE_JPEG
        let painted = try redactor.apply(machine, manual: manual, exclusions: exclusions, to: picture, frameNumber: frame.number,
                                         fullRange: fullRange, onPainted: { counts.countPainted($0) },
                                         onExcluded: { analyst?.countExcluded(region: $0, whollyInside: $1) })
        counts.redactedBoxes += painted
        if painted > 0 { counts.redactedFrames += 1 }
        // Painting works on 4:2:0; an odd-sized picture is encoded as 4:4:4 (VideoEncoder.pixelFormat).
        var coded = picture
        if encoder!.context.pointee.pix_fmt == AV_PIX_FMT_YUV444P {
            guard let copy = yuv444Copy(of: picture) else {
                throw RedactError.encode(path: reportPath, frame: frame.number, detail: "cannot convert the picture to yuv444p")
            }
            coded = copy
        }
        defer { if coded != picture { var p: UnsafeMutablePointer<AVFrame>? = coded; av_frame_free(&p) } }
        // Nothing but the pixels goes to the encoder: side data (SEI user data, closed captions)
        // could otherwise reach the output's bitstream.
        for name in removeAllSideData(coded) where !droppedFrameSideData.contains(name) {
            droppedFrameSideData.append(name)
        }
        coded.pointee.pts = frame.pts
        coded.pointee.pict_type = AV_PICTURE_TYPE_NONE
        let duration = frame.pointer.pointee.pkt_duration
        frameDurations[frame.pts] = duration > 0 ? duration : defaultDuration
        try encoder!.encode(coded, frameNumber: frame.number) { packet in
            try writeVideo(packet, frameNumber: frame.number)
        }
        counts.frames += 1
        progress(counts.frames)
    }

    /// The frame as writable 8-bit yuv420p: the decoded frame itself (made writable, since the
    /// decoder may still reference its buffers), or a converted copy for other pixel formats.
    private func writablePlanarFrame(_ frame: VideoFrame, needsWrite: Bool) throws -> UnsafeMutablePointer<AVFrame> {
        let src = frame.pointer
        if frame.pixelFormat == AV_PIX_FMT_YUV420P || frame.pixelFormat == AV_PIX_FMT_YUVJ420P {
            if needsWrite {
                let r = av_frame_make_writable(src)
                if r < 0 { throw RedactError.encode(path: reportPath, frame: frame.number, detail: "cannot copy frame: \(avErrorText(r))") }
            }
            src.pointee.format = AV_PIX_FMT_YUV420P.rawValue
            return src
        }
        guard let dst = av_frame_alloc() else { throw RedactError.encode(path: reportPath, frame: frame.number, detail: "out of memory") }
        dst.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        dst.pointee.width = src.pointee.width
        dst.pointee.height = src.pointee.height
        var r = av_frame_get_buffer(dst, 0)
        if r >= 0 { r = av_frame_copy_props(dst, src) }
        converter = sws_getCachedContext(converter, src.pointee.width, src.pointee.height, frame.pixelFormat,
                                         src.pointee.width, src.pointee.height, AV_PIX_FMT_YUV420P, SWS_BICUBIC, nil, nil, nil)
        if r >= 0, let converter {
            r = withUnsafePointer(to: &src.pointee.data) { sd in
                withUnsafePointer(to: &src.pointee.linesize) { sl in
                    withUnsafePointer(to: &dst.pointee.data) { dd in
                        withUnsafePointer(to: &dst.pointee.linesize) { dl in
                            sws_scale(converter,
                                      UnsafeRawPointer(sd).assumingMemoryBound(to: UnsafePointer<UInt8>?.self),
                                      UnsafeRawPointer(sl).assumingMemoryBound(to: Int32.self),
                                      0, src.pointee.height,
                                      UnsafeRawPointer(dd).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                                      UnsafeRawPointer(dl).assumingMemoryBound(to: Int32.self))
                        }
                    }
                }
            }
        } else if r >= 0 {
            r = -1
        }
        if r < 0 {
            var d: UnsafeMutablePointer<AVFrame>? = dst
            av_frame_free(&d)
            throw RedactError.encode(path: reportPath, frame: frame.number, detail: "cannot convert \(String(cString: av_get_pix_fmt_name(frame.pixelFormat))) to yuv420p")
        }
        return dst
    }

    private func writeVideo(_ packet: UnsafeMutablePointer<AVPacket>, frameNumber: Int?) throws {
        if let d = frameDurations.removeValue(forKey: packet.pointee.pts) { packet.pointee.duration = d }
        try muxer.write(packet, stream: videoOutputStream, frameNumber: frameNumber)
    }

    private func finishOutput() throws {
        guard let enc = encoder else {
            throw RedactError.badMedia(path: input.path, detail: "no video frame could be decoded")
        }
        try enc.encode(nil, frameNumber: nil) { packet in
            try writeVideo(packet, frameNumber: nil)
        }
        for (stream, muter) in muters.sorted(by: { $0.key < $1.key }) {
            try muter.process(nil) { try muxer.write($0, stream: stream) }
        }
        try muxer.finish()
    }
}
