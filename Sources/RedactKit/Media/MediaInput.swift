import CFFmpeg
import Foundation

/// An input file opened read-only with libavformat. Never writes to the file.
final class MediaInput {
    let path: String
    private(set) var context: UnsafeMutablePointer<AVFormatContext>

    /// The containers an input may be (libavformat demuxer names): those that hold their own
    /// media. Not the formats whose file names other files to read (`concat` scripts, `hls` and
    /// `dash` playlists, image sequences): a few bytes of text saying `file other.mp4`, named
    /// `evidence.mp4`, was decoded and redacted as other.mp4 while the receipt named the text
    /// file's SHA-256 as the input. (`mov` opens no file its references name: libavformat's
    /// `enable_drefs` is off.)
    static let acceptedFormats = ["mov", "matroska", "mpegts", "avi", "asf", "mpeg", "flv", "mxf"]

    /// `source`: where to read the file from when not `path` (a job's `PinnedInput.readPath`);
    /// `path` names it in errors either way.
    init(path: String, source: String? = nil) throws {
        _ = silenceFFmpegLogging
        self.path = path
        let file = source ?? path
        try RegularFile.check(file)
        guard FileManager.default.isReadableFile(atPath: file) else { throw RedactError.inputNotFound(path: path) }
        // `file:` and an absolute path: libavformat takes no protocol from the file's name (one
        // named `concat:b.mp4` was read as the concat protocol, i.e. b.mp4), and the whitelist
        // lets it open files only.
        let url = "file:" + URL(fileURLWithPath: file).path
        let format = try Self.probeFormat(url: url, path: path)
        let names = String(cString: format.pointee.name).split(separator: ",").map(String.init)
        guard names.contains(where: Self.acceptedFormats.contains) else {
            let long = format.pointee.long_name.map { String(cString: $0) } ?? names[0]
            throw RedactError.badMedia(path: path, detail: "libavformat reads it as `\(names[0])` (\(long)), not a container redact takes: only files that hold their own audio and video (MP4/MOV, Matroska, MPEG-TS, AVI, ASF, MPEG-PS, FLV, MXF), never a playlist or script, whose pictures are in other files, nor a raw stream without timing; remux it first (ffmpeg -i IN -c copy OUT.mp4)")
        }
        var options: OpaquePointer? = nil
        av_dict_set(&options, "protocol_whitelist", "file", 0)
        av_dict_set(&options, "format_whitelist", Self.acceptedFormats.joined(separator: ","), 0)
        var ctx: UnsafeMutablePointer<AVFormatContext>? = nil
        let opened = avformat_open_input(&ctx, url, format, &options)
        av_dict_free(&options)
        guard opened >= 0, let opened_ctx = ctx else {
            throw RedactError.badMedia(path: path, detail: avErrorText(opened))
        }
        // `context` is assigned only once the input is fully usable: once every stored property
        // is set, a throw runs deinit, which would close the context a second time.
        let found = avformat_find_stream_info(opened_ctx, nil)
        if found < 0 {
            avformat_close_input(&ctx)
            throw RedactError.badMedia(path: path, detail: "cannot read stream information: \(avErrorText(found))")
        }
        context = opened_ctx
    }

    /// The container libavformat finds in the file's first bytes (and its name), without
    /// opening the demuxer, which for a playlist or a script would read the files it names.
    private static func probeFormat(url: String, path: String) throws -> UnsafePointer<AVInputFormat> {
        var io: UnsafeMutablePointer<AVIOContext>? = nil
        let r = avio_open(&io, url, AVIO_FLAG_READ)
        guard r >= 0, io != nil else { throw RedactError.badMedia(path: path, detail: avErrorText(r)) }
        defer { avio_closep(&io) }
        var format: UnsafePointer<AVInputFormat>? = nil
        let probed = av_probe_input_buffer2(io, &format, url, nil, 0, 0)
        guard probed >= 0, let format else { throw RedactError.badMedia(path: path, detail: avErrorText(probed)) }
        return format
    }

    deinit {
        var ctx: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&ctx)
    }

    var streamCount: Int { Int(context.pointee.nb_streams) }

    func stream(_ index: Int) -> UnsafeMutablePointer<AVStream> {
        context.pointee.streams[index]!
    }

    /// The video stream redact processes: `requested` (a stream index as `redact probe` numbers
    /// them, `DetectorConfig.videoStream`) when given, which must be a video stream and not a
    /// cover picture; else `primaryVideoStreamIndex()`.
    func videoStreamIndex(requested: Int?) throws -> Int {
        guard let requested else { return try primaryVideoStreamIndex() }
        guard requested >= 0, requested < streamCount else {
            throw RedactError.badMedia(path: path, detail: "has no stream \(requested) (detector.video_stream; it has \(streamCount) streams, numbered from 0: `redact probe` lists them)")
        }
        guard isCamera(requested) else {
            let type = stream(requested).pointee.codecpar.pointee.codec_type
            let what = type == AVMEDIA_TYPE_VIDEO ? "a cover picture" : Probe.typeName(type)
            throw RedactError.badMedia(path: path, detail: "stream \(requested) is \(what), not a video stream to redact (detector.video_stream; `redact probe` lists the streams)")
        }
        return requested
    }

    /// Whether stream `index` is video and not a cover picture: a camera's pictures.
    private func isCamera(_ index: Int) -> Bool {
        let s = stream(index)
        return s.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_VIDEO && s.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC == 0
    }

    /// Every video stream that is not a cover picture, in file order: the cameras a file holds.
    var videoStreamIndices: [Int] { (0..<streamCount).filter(isCamera) }

    /// The video stream redact processes by default: the best one by libavformat's choice,
    /// ignoring cover art; else the first camera.
    func primaryVideoStreamIndex() throws -> Int {
        let best = Int(av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0))
        if best >= 0, isCamera(best) { return best }
        if let first = videoStreamIndices.first { return first }
        throw RedactError.badMedia(path: path, detail: "no video stream")
    }

    /// When the file is shorter than its own index says (a truncated copy): the byte offset the
    /// index needs data up to, and the file's size; nil when the index fits in the file or there is
    /// no index. libavformat's MP4 demuxer reports a clean end of file when the next packet lies
    /// past the end of the file, so without this check a truncated MP4 would give a shorter output
    /// and no error.
    func truncation() -> (needed: Int64, size: Int64)? {
        guard let pb = context.pointee.pb else { return nil }
        let size = avio_size(pb)
        guard size > 0 else { return nil }
        var needed: Int64 = 0
        for i in 0..<streamCount {
            let s = stream(i)
            for k in 0..<avformat_index_get_entries_count(s) {
                guard let e = avformat_index_get_entry(s, k) else { continue }
                needed = max(needed, e.pointee.pos + Int64(max(0, e.pointee.size)))
            }
        }
        return needed > size ? (needed, size) : nil
    }

    /// Reads the next packet into `packet`. Returns false at end of file.
    func read(into packet: UnsafeMutablePointer<AVPacket>) throws -> Bool {
        let r = av_read_frame(context, packet)
        if r == avErrorEOF { return false }
        if r < 0 { throw RedactError.badMedia(path: path, detail: "read failed: \(avErrorText(r))") }
        return true
    }
}

/// An AVPacket owned by Swift.
final class Packet {
    let pointer: UnsafeMutablePointer<AVPacket>
    init() { pointer = av_packet_alloc() }
    /// Takes the contents of `other`, leaving it blank.
    init(moving other: UnsafeMutablePointer<AVPacket>) {
        pointer = av_packet_alloc()
        av_packet_move_ref(pointer, other)
    }
    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&p)
    }
}
