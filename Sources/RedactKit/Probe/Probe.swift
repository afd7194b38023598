import Crypto
import CFFmpeg
import Foundation

/// Facts about one stream of a media file.
public struct StreamReport: Codable, Equatable, Sendable {
    public var index: Int
    /// video, audio, subtitle, data, attachment or unknown.
    public var type: String
    public var codec: String
    public var timeBase: Rational
    public var metadataKeys: [String]
    public var attachedPicture: Bool
    /// A camera's pictures: video and not a cover picture (`MediaInput.isCamera`, from the header).
    public var isCamera: Bool { type == "video" && !attachedPicture }
    // Video
    public var width: Int?
    public var height: Int?
    public var pixelFormat: String?
    /// Rotation from the display matrix in degrees counter-clockwise (0, 90, 180, 270), the
    /// convention ffprobe's `rotation` uses; players turn the stored picture by it.
    public var rotation: Int?
    public var displayWidth: Int?
    public var displayHeight: Int?
    public var averageFrameRate: Double?
    public var frameCount: Int?
    /// True when the frame durations differ (found by reading every packet's timestamp).
    public var variableFrameRate: Bool?
    // Audio
    public var channels: Int?
    public var sampleRate: Int?

    enum CodingKeys: String, CodingKey {
        case index, type, codec
        case timeBase = "time_base"
        case metadataKeys = "metadata_keys"
        case attachedPicture = "attached_picture"
        case width, height
        case pixelFormat = "pixel_format"
        case rotation
        case displayWidth = "display_width"
        case displayHeight = "display_height"
        case averageFrameRate = "average_frame_rate"
        case frameCount = "frame_count"
        case variableFrameRate = "variable_frame_rate"
        case channels
        case sampleRate = "sample_rate"
    }
}

extension StreamReport {
    /// How a receipt's `dropped_streams` names this stream: "stream 2: subtitle mov_text",
    /// "stream 3: attached picture mjpeg".
    var droppedDescription: String { "stream \(index): \(attachedPicture ? "attached picture" : type) \(codec)" }
}

/// What `redact probe` prints.
public struct ProbeReport: Codable, Equatable, Sendable {
    public var file: String
    public var container: String
    public var durationSeconds: Double?
    public var sizeBytes: Int64
    public var metadataKeys: [String]
    public var streams: [StreamReport]
    /// The video stream redact detects and redacts unless `detector.video_stream` names another
    /// (libavformat's best, never a cover picture); nil: none.
    public var defaultVideoStream: Int?

    enum CodingKeys: String, CodingKey {
        case file, container
        case durationSeconds = "duration_seconds"
        case sizeBytes = "size_bytes"
        case metadataKeys = "metadata_keys"
        case streams
        case defaultVideoStream = "default_video_stream"
    }
}

public enum Probe {
    /// Reads the container header and every packet's timestamps (no decoding) to describe the file.
    public static func run(path: String) throws -> ProbeReport {
        let input = try MediaInput(path: path)
        let ctx = input.context
        var streams = describeStreams(of: input)
        // Frame count and frame-rate variability come from the packets themselves: the header's
        // nb_frames and r_frame_rate are hints that VFR files contradict.
        var timestamps = [[Int64]](repeating: [], count: input.streamCount)
        let packet = Packet()
        while try input.read(into: packet.pointer) {
            let idx = Int(packet.pointer.pointee.stream_index)
            if idx < streams.count, streams[idx].type == "video" {
                let pts = packet.pointer.pointee.pts != avNoPTS ? packet.pointer.pointee.pts : packet.pointer.pointee.dts
                timestamps[idx].append(pts)
            }
            av_packet_unref(packet.pointer)
        }
        for i in streams.indices where streams[i].isCamera {
            streams[i].frameCount = timestamps[i].count
            streams[i].variableFrameRate = isVariable(timestamps[i])
        }
        let duration = ctx.pointee.duration
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        return ProbeReport(
            file: path,
            container: String(cString: ctx.pointee.iformat.pointee.name),
            durationSeconds: duration == avNoPTS || duration <= 0 ? nil : Double(duration) / Double(AV_TIME_BASE),
            sizeBytes: size,
            metadataKeys: dictionaryKeys(ctx.pointee.metadata),
            streams: streams,
            defaultVideoStream: try? input.primaryVideoStreamIndex()
        )
    }

    /// The streams of `input` that have no counterpart in `output` (a file made from it), in
    /// the words of a receipt's `dropped_streams` ("stream N: TYPE CODEC", "stream N: attached
    /// picture CODEC"): what the standalone `redact sign` records, since it did not make the
    /// output. Video streams match by type, preferring the same displayed size (the video is
    /// re-encoded); other streams by type and codec (they are copied). Cover pictures never
    /// match: the pipeline always drops them. `videoStream`: the input stream the output's video
    /// was made from, when known (`DetectorConfig.videoStream` of the tracks used); it alone
    /// matches a video output.
    public static func droppedStreams(input: String, output: String, videoStream: Int? = nil) throws -> [String] {
        droppedStreams(input: try headerStreams(path: input), output: try headerStreams(path: output), videoStream: videoStream)
    }

    /// The SHA-256 of every coded picture slice of `minimumSliceBytes` or more in the file's video streams
    /// (cover pictures aside), by stream index. H.264 and HEVC packets are split into their NAL
    /// units, whether length-prefixed (MP4, Matroska) or after start codes (MPEG-TS), and only the
    /// slices (VCL units) are kept, without their framing: a stream copied into another
    /// container, cut, or stripped of its SEI keeps them byte for byte, where a re-encode shares
    /// none. Other codecs: each packet whole. One pass over the file (`Receipts.checkStandaloneOutput`,
    /// `Stages.mux`).
    static func videoSliceDigests(path: String) throws -> [Int: Set<String>] {
        // Smaller slices are left out: libx264 writes the same bytes for a flat picture whoever
        // encodes it with the same settings (a black 1280x720 frame re-encoded at veryfast, CRF
        // 18 gave the same 217-byte IDR slice and 33-40-byte P slices; 1080p about 420 bytes),
        // so a redaction of an x264 input that starts on black would share them. A picture with
        // anything in it to disclose is kilobytes.
        let minimumSliceBytes = 2048
        let input = try MediaInput(path: path)
        let videos = input.videoStreamIndices
        guard !videos.isEmpty else { throw RedactError.badMedia(path: path, detail: "no video stream") }
        for i in 0..<input.streamCount where !videos.contains(i) { input.stream(i).pointee.discard = AVDISCARD_ALL }
        var framing: [Int: SliceFraming] = [:]
        for v in videos { framing[v] = SliceFraming(input.stream(v).pointee.codecpar) }
        var digests: [Int: Set<String>] = Dictionary(uniqueKeysWithValues: videos.map { ($0, []) })
        let packet = Packet()
        while try input.read(into: packet.pointer) {
            let p = packet.pointer.pointee
            let index = Int(p.stream_index)
            if let data = p.data, p.size > 0, let f = framing[index] {
                for slice in f.slices(UnsafeRawBufferPointer(start: data, count: Int(p.size))) where slice.count >= minimumSliceBytes {
                    digests[index]?.insert(FileDigest.hex(SHA256.hash(data: slice)))
                }
            }
            av_packet_unref(packet.pointer)
        }
        return digests
    }

    /// For each video stream of `path`, how many of its slices (`videoSliceDigests`) are also
    /// slices of any video stream of `other`: a stream copied, remuxed or cut from `other` shares
    /// them, a re-encode of it none (`Receipts.checkStandaloneOutput`, `Stages.mux`).
    static func videoSlicesShared(by path: String, with other: String) throws -> [Int: Int] {
        let theirs = try videoSliceDigests(path: other).values.reduce(into: Set<String>()) { $0.formUnion($1) }
        return try videoSliceDigests(path: path).mapValues { $0.intersection(theirs).count }
    }

    /// See `droppedStreams(input:output:)`; streams as the container header describes them.
    static func droppedStreams(input: [StreamReport], output: [StreamReport], videoStream: Int? = nil) -> [String] {
        var matched = Set<Int>()
        for out in output where !out.attachedPicture {
            let candidates = input.filter {
                !matched.contains($0.index) && !$0.attachedPicture && $0.type == out.type && (out.type == "video" || $0.codec == out.codec)
                    && (out.type != "video" || videoStream == nil || $0.index == videoStream)
            }
            let sameSize = candidates.first { $0.displayWidth == out.displayWidth && $0.displayHeight == out.displayHeight }
            if let pick = out.type == "video" ? sameSize ?? candidates.first : candidates.first { matched.insert(pick.index) }
        }
        return input.filter { !matched.contains($0.index) }.map(\.droppedDescription)
    }

    /// The streams as the container header describes them, without reading packets (no frame
    /// count or frame-rate variability).
    static func headerStreams(path: String) throws -> [StreamReport] {
        describeStreams(of: try MediaInput(path: path))
    }

    private static func describeStreams(of input: MediaInput) -> [StreamReport] {
        (0..<input.streamCount).map { describe(input.stream($0), index: $0) }
    }

    static func typeName(_ type: AVMediaType) -> String {
        switch type {
        case AVMEDIA_TYPE_VIDEO: return "video"
        case AVMEDIA_TYPE_AUDIO: return "audio"
        case AVMEDIA_TYPE_SUBTITLE: return "subtitle"
        case AVMEDIA_TYPE_DATA: return "data"
        case AVMEDIA_TYPE_ATTACHMENT: return "attachment"
        default: return "unknown"
        }
    }

    static func describe(_ stream: UnsafeMutablePointer<AVStream>, index: Int) -> StreamReport {
        let par = stream.pointee.codecpar.pointee
        var report = StreamReport(
            index: index,
            type: typeName(par.codec_type),
            codec: String(cString: avcodec_get_name(par.codec_id)),
            timeBase: Rational(stream.pointee.time_base),
            metadataKeys: dictionaryKeys(stream.pointee.metadata),
            attachedPicture: stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC != 0
        )
        if par.codec_type == AVMEDIA_TYPE_VIDEO {
            report.width = Int(par.width)
            report.height = Int(par.height)
            if let name = av_get_pix_fmt_name(AVPixelFormat(rawValue: par.format)) {
                report.pixelFormat = String(cString: name)
            }
            let turns = displayRotationQuarterTurns(stream)
            report.rotation = (4 - turns) % 4 * 90
            report.displayWidth = turns % 2 == 1 ? Int(par.height) : Int(par.width)
            report.displayHeight = turns % 2 == 1 ? Int(par.width) : Int(par.height)
            report.averageFrameRate = Rational(stream.pointee.avg_frame_rate).value
        } else if par.codec_type == AVMEDIA_TYPE_AUDIO {
            report.channels = Int(par.ch_layout.nb_channels)
            report.sampleRate = Int(par.sample_rate)
        }
        return report
    }

    /// Variable when frame-to-frame durations differ by more than 1 % (plus one tick for rounding).
    static func isVariable(_ timestamps: [Int64]) -> Bool {
        let sorted = timestamps.filter { $0 != avNoPTS }.sorted()
        guard sorted.count > 2 else { return false }
        var smallest = Int64.max
        var largest = Int64.min
        for i in 1..<sorted.count {
            let d = sorted[i] - sorted[i - 1]
            smallest = min(smallest, d)
            largest = max(largest, d)
        }
        return Double(largest - smallest) > Double(smallest) * 0.01 + 1
    }
}

/// How a video stream's packets hold their pictures' slices (`Probe.videoSliceDigests`).
struct SliceFraming {
    enum Codec { case h264, hevc, other }
    let codec: Codec
    /// Bytes of each NAL unit's length prefix (MP4, Matroska); nil: start codes (Annex B).
    let lengthSize: Int?

    init(_ par: UnsafeMutablePointer<AVCodecParameters>) {
        let id = par.pointee.codec_id
        codec = id == AV_CODEC_ID_H264 ? .h264 : id == AV_CODEC_ID_HEVC ? .hevc : .other
        let extra = par.pointee.extradata.map { UnsafeBufferPointer(start: $0, count: Int(par.pointee.extradata_size)) }
        // avcC and hvcC (configuration version 1) give the prefix length; Annex B extradata
        // starts with a start code instead.
        if let extra, extra.count > 4, extra[0] == 1 {
            if codec == .h264 { lengthSize = Int(extra[4] & 3) + 1; return }
            if codec == .hevc, extra.count > 21 { lengthSize = Int(extra[21] & 3) + 1; return }
        }
        lengthSize = nil
    }

    /// The slices of one packet without their NAL unit header (for `.other`, the packet). The
    /// header is left out because bits of it can change without changing a picture: a second
    /// review rewrote `nal_ref_idc` in every slice of an original and it was signed.
    func slices(_ packet: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
        guard codec != .other else { return [packet] }
        let header = codec == .h264 ? 1 : 2
        return nalUnits(packet).compactMap { nal in
            guard nal.count > header, let first = nal.first else { return nil }
            // Slice (VCL) units: H.264 types 1-5, HEVC types 0-31.
            let isSlice = codec == .h264 ? (1...5).contains(first & 0x1f) : (first >> 1) & 0x3f < 32
            return isSlice ? UnsafeRawBufferPointer(rebasing: nal[header...]) : nil
        }
    }

    private func nalUnits(_ b: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
        var units: [UnsafeRawBufferPointer] = []
        if let size = lengthSize {
            var at = 0
            while at + size <= b.count {
                var length = 0
                for k in 0..<size { length = length << 8 | Int(b[at + k]) }
                at += size
                guard length > 0, at + length <= b.count else { break }
                units.append(UnsafeRawBufferPointer(rebasing: b[at..<(at + length)]))
                at += length
            }
            return units
        }
        // Annex B: units between start codes (00 00 01), trailing zero bytes dropped.
        var starts: [Int] = []
        var i = 0
        while i + 2 < b.count {
            if b[i] == 0, b[i + 1] == 0, b[i + 2] == 1 {
                starts.append(i + 3)
                i += 3
            } else {
                i += 1
            }
        }
        for (n, start) in starts.enumerated() {
            var end = n + 1 < starts.count ? starts[n + 1] - 3 : b.count
            while end > start, b[end - 1] == 0 { end -= 1 }
            if end > start { units.append(UnsafeRawBufferPointer(rebasing: b[start..<end])) }
        }
        return units
    }
}
