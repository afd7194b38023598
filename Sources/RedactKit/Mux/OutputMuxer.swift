import CFFmpeg
import Foundation

/// The container an output is written in, chosen by the output's name: QuickTime for `.mov`,
/// MP4 for `.mp4` (and for a name that is neither, which only a direct caller of `JobRunner`
/// can give: the manifest, `render` and `mux` refuse them). Audio is copied unchanged, never re-encoded, and MP4 cannot store
/// some of what cameras record: PCM, which dash cameras write in MOV and AVI files, fits in MOV.
enum OutputContainer: String {
    case mp4, mov

    /// The container a name ending in `.mp4` or `.mov` (any case) picks; nil for any other name,
    /// which a redacted video may not have (the manifest's `output`, `render`, `mux`).
    static func named(_ path: String) -> OutputContainer? {
        OutputContainer(rawValue: URL(fileURLWithPath: path).pathExtension.lowercased())
    }

    init(outputPath: String) {
        self = Self.named(outputPath) ?? .mp4
    }

    /// libavformat's muxer name.
    var muxerName: String { rawValue }
    var displayName: String { rawValue.uppercased() }

    /// Whether the container stores packets of this codec unchanged.
    func stores(_ codec: AVCodecID) -> Bool {
        guard let format = av_guess_format(muxerName, nil, nil) else { return false }
        return avformat_query_codec(format, codec, FF_COMPLIANCE_NORMAL) == 1
    }
}

/// Writes the output (MP4, or MOV for a `.mov` name: `OutputContainer`): one re-encoded video
/// stream plus audio streams copied packet for packet. Container and stream metadata are not
/// copied except the allow-list below.
final class OutputMuxer {
    private var context: UnsafeMutablePointer<AVFormatContext>
    /// Where bytes go (a temporary name); `reportPath` is what errors name.
    private let writePath: String
    private let reportPath: String
    /// Picked by the output's final name (`OutputContainer(outputPath:)`, by the caller, which
    /// may have needed it before: the decode stage checks the audio against it).
    let container: OutputContainer
    private var headerWritten = false
    private var finished = false
    private(set) var sourceTimeBases: [AVRational] = []

    /// Metadata copied from the input to the output (everything else, GPS included, is dropped
    /// and its keys listed in the receipt's `dropped_metadata`; see docs/receipt.md).
    static let containerMetadataAllowList = ["creation_time"]
    static let streamMetadataAllowList = ["language", "creation_time"]
    /// Tags libavformat's MP4 muxer writes on its own, whatever the input had: the file type box,
    /// its own version as `encoder` (e.g. `Lavf59.27.100`), and per stream the handler name
    /// (`VideoHandler` / `SoundHandler`), vendor id (`[0][0][0][0]`) and `language` `und` when
    /// none was kept.
    static let containerTagsWrittenByMuxer = ["major_brand", "minor_version", "compatible_brands", "encoder"]
    static let streamTagsWrittenByMuxer = ["handler_name", "vendor_id", "language"]
    /// The container tag every output redact encodes carries (`render`, `run`, and `mux`'s,
    /// whose video is render's): `mux` copies its VIDEO's packets unchanged, so it takes only a
    /// file with this tag. An original without audio otherwise looks like render's `--no-audio`
    /// output, and joined with another file's audio it would come out unredacted. (A guard
    /// against mixing files up, not a proof: the receipt is that.) The input's own `comment`
    /// is never copied (`containerMetadataAllowList`).
    static let redactedVideoTag = (key: "comment", value: "video re-encoded by redact with its redactions painted")

    /// Every item of the input's metadata that does not reach the output, by key only (values
    /// may be GPS positions, names or serial numbers), in a fixed order:
    /// `format:KEY` (container tags), `stream N:KEY` (tags of input stream N, kept or dropped),
    /// `stream N:side data:NAME` (stream side data; the video's display matrix is kept),
    /// `chapter N:KEY`, `program N:KEY`. `keptStreams` are the input streams that get an output
    /// stream; `videoStream` is the one whose display matrix is kept.
    static func droppedMetadata(of input: MediaInput, keptStreams: Set<Int>, videoStream: Int) -> [String] {
        let ctx = input.context
        var dropped = dictionaryKeys(ctx.pointee.metadata).filter { !containerMetadataAllowList.contains($0) }.map { "format:\($0)" }
        for i in 0..<input.streamCount {
            let s = input.stream(i)
            let kept = keptStreams.contains(i)
            dropped += dictionaryKeys(s.pointee.metadata).filter { !kept || !streamMetadataAllowList.contains($0) }.map { "stream \(i):\($0)" }
            for k in 0..<Int(s.pointee.nb_side_data) {
                let type = s.pointee.side_data[k].type
                if i == videoStream && type == AV_PKT_DATA_DISPLAYMATRIX { continue }
                let name = av_packet_side_data_name(type).map { String(cString: $0) } ?? "side data \(type.rawValue)"
                dropped.append("stream \(i):side data:\(name)")
            }
        }
        for c in 0..<Int(ctx.pointee.nb_chapters) {
            guard let chapter = ctx.pointee.chapters[c] else { continue }
            dropped += dictionaryKeys(chapter.pointee.metadata).map { "chapter \(c):\($0)" }
        }
        for p in 0..<Int(ctx.pointee.nb_programs) {
            guard let program = ctx.pointee.programs[p] else { continue }
            dropped += dictionaryKeys(program.pointee.metadata).map { "program \(p):\($0)" }
        }
        return dropped
    }

    /// `container`: the one `reportPath`, the output's final name, picks (`writePath` is temporary).
    init(writePath: String, reportPath: String, container: OutputContainer) throws {
        self.writePath = writePath
        self.reportPath = reportPath
        self.container = container
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        let r = avformat_alloc_output_context2(&ctx, nil, container.muxerName, writePath)
        guard r >= 0, let c = ctx else {
            throw RedactError.output(path: reportPath, detail: "cannot create \(container.displayName) muxer: \(avErrorText(r))")
        }
        context = c
    }

    deinit {
        if headerWritten && !finished {
            av_write_trailer(context)
        }
        if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
    }

    var needsGlobalHeader: Bool { context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 }

    /// Copies the allow-listed container tags of `input` and adds `redactedVideoTag`.
    func copyContainerMetadata(from input: MediaInput) {
        for key in Self.containerMetadataAllowList {
            if let value = dictionaryValue(input.context.pointee.metadata, key) {
                av_dict_set(&context.pointee.metadata, key, value, 0)
            }
        }
        av_dict_set(&context.pointee.metadata, Self.redactedVideoTag.key, Self.redactedVideoTag.value, 0)
    }

    /// Whether `input` carries `redactedVideoTag`.
    static func isRedactedVideo(_ input: MediaInput) -> Bool {
        dictionaryValue(input.context.pointee.metadata, redactedVideoTag.key) == redactedVideoTag.value
    }

    /// Adds the video stream fed by `encoder`; keeps the input's display matrix (rotation).
    func addVideoStream(encoder: VideoEncoder, like input: UnsafeMutablePointer<AVStream>) throws -> Int {
        guard let stream = avformat_new_stream(context, nil) else {
            throw RedactError.output(path: reportPath, detail: "cannot add video stream")
        }
        let r = avcodec_parameters_from_context(stream.pointee.codecpar, encoder.context)
        if r < 0 { throw RedactError.output(path: reportPath, detail: "video parameters: \(avErrorText(r))") }
        stream.pointee.time_base = encoder.context.pointee.time_base
        stream.pointee.avg_frame_rate = input.pointee.avg_frame_rate
        stream.pointee.sample_aspect_ratio = encoder.context.pointee.sample_aspect_ratio
        copyStreamMetadata(from: input, to: stream)
        sourceTimeBases.append(encoder.context.pointee.time_base)
        let index = Int(stream.pointee.index)
        if let matrix = displayMatrix(input) { try setDisplayMatrix(matrix, stream: index) }
        return index
    }

    /// Adds an audio stream fed by `encoder` (a stream re-encoded because of `mute` ranges); keeps
    /// the input stream's disposition and allow-listed tags, as a copied stream would.
    func addEncodedAudioStream(encoder: UnsafeMutablePointer<AVCodecContext>, like input: UnsafeMutablePointer<AVStream>) throws -> Int {
        guard let stream = avformat_new_stream(context, nil) else {
            throw RedactError.output(path: reportPath, detail: "cannot add audio stream")
        }
        let r = avcodec_parameters_from_context(stream.pointee.codecpar, encoder)
        if r < 0 { throw RedactError.output(path: reportPath, detail: "audio parameters: \(avErrorText(r))") }
        stream.pointee.time_base = encoder.pointee.time_base
        stream.pointee.disposition = input.pointee.disposition
        copyStreamMetadata(from: input, to: stream)
        sourceTimeBases.append(encoder.pointee.time_base)
        return Int(stream.pointee.index)
    }

    /// Keeps the rotation players apply (the display matrix) on an output stream.
    func setDisplayMatrix(_ matrix: [Int32], stream index: Int) throws {
        guard let side = av_stream_new_side_data(context.pointee.streams[index], AV_PKT_DATA_DISPLAYMATRIX, 36) else {
            throw RedactError.output(path: reportPath, detail: "cannot keep the display matrix")
        }
        side.withMemoryRebound(to: Int32.self, capacity: 9) { dst in
            for i in 0..<9 { dst[i] = matrix[i] }
        }
    }

    /// Why the packets of `stream` cannot be copied into `container` unchanged, or nil when they
    /// can: a codec the muxer cannot store (PCM in MP4, for instance) or parameters it refuses
    /// (unknown codec, no sample rate or channels: a damaged header). Checked before the output
    /// is started, so such an input fails as bad media naming its stream instead of as a header
    /// that cannot be written; the message says what would keep it.
    static func copyProblem(_ stream: UnsafeMutablePointer<AVStream>, container: OutputContainer) -> String? {
        let par = stream.pointee.codecpar.pointee
        let codec = String(cString: avcodec_get_name(par.codec_id))
        if par.codec_id == AV_CODEC_ID_NONE { return "unknown codec" }
        guard container.stores(par.codec_id) else {
            let mov = container != .mov && OutputContainer.mov.stores(par.codec_id) ? "name the output .mov to keep it unchanged, or " : ""
            return "codec \(codec) cannot be stored in \(container.displayName) (audio is copied, never re-encoded): \(mov)drop the audio (render.keep_audio false, --no-audio)"
        }
        if par.codec_type == AVMEDIA_TYPE_AUDIO && (par.sample_rate <= 0 || par.ch_layout.nb_channels <= 0) {
            return "\(codec) with \(par.sample_rate) Hz and \(par.ch_layout.nb_channels) channels (damaged header)"
        }
        return nil
    }

    /// Adds a stream whose packets are copied unchanged from `input` (audio; or, for `mux`, the
    /// video that `render` encoded).
    func addCopiedStream(like input: UnsafeMutablePointer<AVStream>) throws -> Int {
        guard let stream = avformat_new_stream(context, nil) else {
            throw RedactError.output(path: reportPath, detail: "cannot add audio stream")
        }
        let r = avcodec_parameters_copy(stream.pointee.codecpar, input.pointee.codecpar)
        if r < 0 { throw RedactError.output(path: reportPath, detail: "audio parameters: \(avErrorText(r))") }
        stream.pointee.codecpar.pointee.codec_tag = 0
        stream.pointee.time_base = input.pointee.time_base
        stream.pointee.disposition = input.pointee.disposition
        copyStreamMetadata(from: input, to: stream)
        sourceTimeBases.append(input.pointee.time_base)
        return Int(stream.pointee.index)
    }

    private func copyStreamMetadata(from input: UnsafeMutablePointer<AVStream>, to output: UnsafeMutablePointer<AVStream>) {
        for key in Self.streamMetadataAllowList {
            if let value = dictionaryValue(input.pointee.metadata, key) {
                av_dict_set(&output.pointee.metadata, key, value, 0)
            }
        }
    }

    func writeHeader() throws {
        // `file:`: the path is a file's, whatever its name looks like (no protocol taken from it).
        var r = avio_open(&context.pointee.pb, "file:" + URL(fileURLWithPath: writePath).path, AVIO_FLAG_WRITE)
        if r < 0 { throw RedactError.output(path: reportPath, detail: "cannot open for writing: \(avErrorText(r))") }
        // No encoder/handler strings from the input. libavformat writes its own `encoder` tag
        // (its version), replacing any set here.
        r = avformat_write_header(context, nil)
        if r < 0 { throw RedactError.output(path: reportPath, detail: "cannot write MP4 header: \(avErrorText(r))") }
        headerWritten = true
    }

    /// Writes one packet whose timestamps are in the time base its stream was added with.
    func write(_ packet: UnsafeMutablePointer<AVPacket>, stream index: Int, frameNumber: Int? = nil) throws {
        let out = context.pointee.streams[index]!
        packet.pointee.stream_index = Int32(index)
        av_packet_rescale_ts(packet, sourceTimeBases[index], out.pointee.time_base)
        packet.pointee.pos = -1
        let r = av_interleaved_write_frame(context, packet)
        if r < 0 { throw failure(r, frame: frameNumber, doing: "mux") }
    }

    func finish() throws {
        let r = av_write_trailer(context)
        finished = true
        if r < 0 { throw failure(r, frame: nil, doing: "cannot finish MP4") }
        avio_closep(&context.pointee.pb)
    }

    /// Errors of the file system when the output is written: a full disk, a quota, a file-size
    /// limit, a read-only or failing device. The output cannot be written (73), which an operator
    /// fixes on the machine and retries; any other muxing error stays an encoding failure (70).
    static let writeErrors: Set<Int32> = [ENOSPC, EDQUOT, EFBIG, EIO, EROFS]

    private func failure(_ r: Int32, frame: Int?, doing what: String) -> RedactError {
        // FFmpeg returns a system error e as AVERROR(e), that is -e.
        if Self.writeErrors.contains(-r) {
            return .output(path: reportPath, detail: "\(frame.map { "writing frame \($0)" } ?? what): \(avErrorText(r))")
        }
        return .encode(path: reportPath, frame: frame, detail: "\(what): \(avErrorText(r))")
    }
}
