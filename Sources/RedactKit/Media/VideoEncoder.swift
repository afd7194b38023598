import CFFmpeg

/// H.264 (libx264) encoder for redacted frames: CRF rate control, the input's time base so every
/// frame keeps its exact presentation timestamp (variable frame rate included). 8-bit yuv420p,
/// or yuv444p for a picture with an odd width or height (see `pixelFormat(width:height:)`).
final class VideoEncoder {
    let context: UnsafeMutablePointer<AVCodecContext>
    private let path: String

    struct Settings {
        var width: Int
        var height: Int
        /// `pixelFormat(width:height:)` of the size.
        var pixelFormat: AVPixelFormat
        var timeBase: AVRational
        var frameRate: AVRational
        var sampleAspectRatio: AVRational
        var colorRange: AVColorRange
        var colorPrimaries: AVColorPrimaries
        var colorTransfer: AVColorTransferCharacteristic
        var colorSpace: AVColorSpace
        var crf: Int
        var preset: String
        var globalHeader: Bool
        var threads: Int
    }

    init(_ s: Settings, path: String) throws {
        self.path = path
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw RedactError.encode(path: path, frame: nil, detail: "libx264 encoder not available in this FFmpeg")
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw RedactError.encode(path: path, frame: nil, detail: "out of memory")
        }
        ctx.pointee.width = Int32(s.width)
        ctx.pointee.height = Int32(s.height)
        ctx.pointee.pix_fmt = s.pixelFormat
        ctx.pointee.time_base = s.timeBase
        if s.frameRate.num > 0 && s.frameRate.den > 0 { ctx.pointee.framerate = s.frameRate }
        ctx.pointee.sample_aspect_ratio = s.sampleAspectRatio
        ctx.pointee.color_range = s.colorRange
        ctx.pointee.color_primaries = s.colorPrimaries
        ctx.pointee.color_trc = s.colorTransfer
        ctx.pointee.colorspace = s.colorSpace
        ctx.pointee.thread_count = Int32(s.threads)
        if s.globalHeader { ctx.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        var options: OpaquePointer? = nil
        av_dict_set(&options, "preset", s.preset, 0)
        av_dict_set(&options, "crf", String(s.crf), 0)
        // Closed captions (A53) found on input frames are never carried into the output's SEI;
        // RenderStage also strips all frame side data before encoding.
        av_dict_set(&options, "a53cc", "0", 0)
        let r = avcodec_open2(ctx, codec, &options)
        av_dict_free(&options)
        if r < 0 {
            var c: UnsafeMutablePointer<AVCodecContext>? = ctx
            avcodec_free_context(&c)
            throw RedactError.encode(path: path, frame: nil, detail: "cannot open libx264 (\(s.width)x\(s.height)): \(avErrorText(r))")
        }
        // Assigned only on success: after it a throw would run deinit and free the context twice.
        context = ctx
    }

    /// The encoder's pixel format for a picture of this size. H.264 crops only in whole chroma
    /// samples (SPS frame cropping, CropUnitX/Y = 2 for 4:2:0), so an odd width or height cannot be
    /// coded in 4:2:0 at all; 4:4:4 (High 4:4:4 Predictive) crops to any size, which keeps the
    /// exact picture size without cropping or scaling.
    static func pixelFormat(width: Int, height: Int) -> AVPixelFormat {
        width % 2 == 1 || height % 2 == 1 ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_YUV420P
    }

    deinit {
        var c: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&c)
    }

    /// Encodes one frame (nil: flush) and hands every finished packet to `sink`.
    func encode(_ frame: UnsafeMutablePointer<AVFrame>?, frameNumber: Int?, sink: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        let sent = avcodec_send_frame(context, frame)
        if sent < 0 && !(frame == nil && sent == avErrorEOF) {
            throw RedactError.encode(path: path, frame: frameNumber, detail: avErrorText(sent))
        }
        let packet = Packet()
        while true {
            let r = avcodec_receive_packet(context, packet.pointer)
            if r == avErrorEAGAIN || r == avErrorEOF { return }
            if r < 0 { throw RedactError.encode(path: path, frame: frameNumber, detail: avErrorText(r)) }
            try sink(packet.pointer)
            av_packet_unref(packet.pointer)
        }
    }
}
