import CFFmpeg
import Foundation

/// Baseline JPEG from packed RGB, with FFmpeg's own encoder (libavcodec's `mjpeg`, already linked
/// for the video: no new library). The picture is scaled (area averaging) and converted to
/// full-range 4:4:4 YCbCr (JFIF's BT.601 matrix) by libswscale, then coded as one MJPEG frame,
/// which is a complete JFIF file.
enum JPEGEncoder {
    /// Quantiser scale (2 best ... 31 worst); 3 keeps faces recognisable at a few kB per thumbnail.
    static let defaultQuality = 3

    /// Encodes the `width` x `height` RGB picture at `rgb` (rows `stride` bytes apart), scaled to
    /// `outWidth` x `outHeight`. `path` and `frame` only name the failure.
    static func encode(rgb: UnsafePointer<UInt8>, width: Int, height: Int, stride: Int,
                       outWidth: Int, outHeight: Int, quality: Int = defaultQuality,
                       path: String, frame: Int?) throws -> Data {
        func failure(_ detail: String) -> RedactError { .encode(path: path, frame: frame, detail: "JPEG thumbnail: \(detail)") }
        guard width > 0, height > 0, outWidth > 0, outHeight > 0, stride >= width * 3 else {
            throw failure("invalid size \(width)x\(height) -> \(outWidth)x\(outHeight)")
        }
        _ = silenceFFmpegLogging
        let format = AV_PIX_FMT_YUVJ444P
        guard let sws = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(outWidth), Int32(outHeight), format,
                                       SWS_AREA, nil, nil, nil) else {
            throw failure("cannot convert RGB to YCbCr")
        }
        defer { sws_freeContext(sws) }
        guard let picture = av_frame_alloc() else { throw failure("out of memory") }
        var pictureRef: UnsafeMutablePointer<AVFrame>? = picture
        defer { av_frame_free(&pictureRef) }
        picture.pointee.format = format.rawValue
        picture.pointee.width = Int32(outWidth)
        picture.pointee.height = Int32(outHeight)
        picture.pointee.color_range = AVCOL_RANGE_JPEG
        let allocated = av_frame_get_buffer(picture, 0)
        guard allocated >= 0 else { throw failure(avErrorText(allocated)) }
        var srcData: [UnsafePointer<UInt8>?] = [rgb, nil, nil, nil]
        var srcStride: [Int32] = [Int32(stride), 0, 0, 0]
        let rows = withUnsafeMutablePointer(to: &picture.pointee.data) { dataTuple in
            dataTuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { dst in
                withUnsafeMutablePointer(to: &picture.pointee.linesize) { lineTuple in
                    lineTuple.withMemoryRebound(to: Int32.self, capacity: 8) { dstStride in
                        sws_scale(sws, &srcData, &srcStride, 0, Int32(height), dst, dstStride)
                    }
                }
            }
        }
        guard rows == Int32(outHeight) else { throw failure("scaling failed") }

        guard let codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG) else { throw failure("FFmpeg has no mjpeg encoder") }
        guard let context = avcodec_alloc_context3(codec) else { throw failure("out of memory") }
        var contextRef: UnsafeMutablePointer<AVCodecContext>? = context
        defer { avcodec_free_context(&contextRef) }
        context.pointee.width = Int32(outWidth)
        context.pointee.height = Int32(outHeight)
        context.pointee.pix_fmt = format
        context.pointee.color_range = AVCOL_RANGE_JPEG
        context.pointee.time_base = AVRational(num: 1, den: 25)
        context.pointee.flags |= AV_CODEC_FLAG_QSCALE
        context.pointee.global_quality = Int32(FF_QP2LAMBDA) * Int32(max(2, min(31, quality)))
        context.pointee.thread_count = 1
        let opened = avcodec_open2(context, codec, nil)
        guard opened >= 0 else { throw failure("cannot open the mjpeg encoder: \(avErrorText(opened))") }
        picture.pointee.quality = context.pointee.global_quality
        picture.pointee.pts = 0
        var sent = avcodec_send_frame(context, picture)
        if sent >= 0 { sent = avcodec_send_frame(context, nil) }
        guard sent >= 0 else { throw failure(avErrorText(sent)) }
        let packet = Packet()
        var jpeg = Data()
        while true {
            let r = avcodec_receive_packet(context, packet.pointer)
            if r == avErrorEOF || r == avErrorEAGAIN { break }
            guard r >= 0 else { throw failure(avErrorText(r)) }
            if let bytes = packet.pointer.pointee.data, packet.pointer.pointee.size > 0 {
                jpeg.append(bytes, count: Int(packet.pointer.pointee.size))
            }
            av_packet_unref(packet.pointer)
        }
        // A JFIF file starts with SOI (FF D8) and ends with EOI (FF D9).
        guard jpeg.count > 4, jpeg.prefix(2) == Data([0xFF, 0xD8]), jpeg.suffix(2) == Data([0xFF, 0xD9]) else {
            throw failure("the encoder returned no complete JPEG (\(jpeg.count) bytes)")
        }
        return jpeg
    }
}
