import CFFmpeg

/// Decodes one video stream. Frames come out numbered 1, 2, ... in decoder output order;
/// every decoded frame is kept (none dropped, none duplicated).
final class VideoDecoder {
    /// Nil once closed.
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private let path: String
    private var nextNumber = 1
    private var lastPTS: Int64 = Int64.min
    /// Frames the decoder returned marked as made up in part (`decode_error_flags`: damaged
    /// data it concealed, references it did not have; `AV_FRAME_FLAG_CORRUPT`): pictures that
    /// are not wholly what the camera recorded. Not every decoder marks them (FFmpeg 5.1's HEVC
    /// decoder decodes damaged slice data into wrong pictures without an error or a mark), so
    /// none marked is no proof of an undamaged input.
    private(set) var damagedFrames = FrameRanges()

    init(stream: UnsafeMutablePointer<AVStream>, path: String, threads: Int = 0) throws {
        self.path = path
        let par = stream.pointee.codecpar
        guard let codec = avcodec_find_decoder(par!.pointee.codec_id) else {
            throw RedactError.badMedia(path: path, detail: "no decoder for video codec \(String(cString: avcodec_get_name(par!.pointee.codec_id)))")
        }
        guard let ctx = avcodec_alloc_context3(codec) else {
            throw RedactError.decode(path: path, frame: nil, detail: "out of memory")
        }
        var r = avcodec_parameters_to_context(ctx, par)
        if r >= 0 {
            ctx.pointee.pkt_timebase = stream.pointee.time_base
            ctx.pointee.thread_count = Int32(threads)
            r = avcodec_open2(ctx, codec, nil)
        }
        if r < 0 {
            var c: UnsafeMutablePointer<AVCodecContext>? = ctx
            avcodec_free_context(&c)
            throw RedactError.badMedia(path: path, detail: "cannot open video decoder: \(avErrorText(r))")
        }
        // Assigned only on success: after it a throw would run deinit and free the context twice.
        context = ctx
    }

    deinit {
        close()
    }

    /// Frees the decoder, and with it its references to the pictures it returned (the reference
    /// pictures it keeps for the next frames), so that their holders may write into them without
    /// a copy. Nothing can be decoded after it.
    func close() {
        avcodec_free_context(&context)
    }

    /// Sends one packet (nil: end of stream) and returns every frame it completes.
    func decode(_ packet: UnsafeMutablePointer<AVPacket>?) throws -> [VideoFrame] {
        guard let context else {
            throw RedactError.decode(path: path, frame: nextNumber, detail: "the decoder was closed")
        }
        let sent = avcodec_send_packet(context, packet)
        if sent < 0 && sent != avErrorEOF && sent != avErrorEAGAIN {
            var detail = avErrorText(sent)
            if sent == avErrorInvalidData, let position = packet?.pointee.pos, position >= 0 {
                // Fails closed, as every decoder error does: a picture skipped could be one a
                // court needs, so the operator is told where the file is damaged and what helps.
                detail += " (the video packet at byte \(position) is damaged; redact does not skip damaged video: repair the file or export it again)"
            }
            throw RedactError.decode(path: path, frame: nextNumber, detail: detail)
        }
        var frames: [VideoFrame] = []
        while true {
            guard let frame = av_frame_alloc() else {
                throw RedactError.decode(path: path, frame: nextNumber, detail: "out of memory")
            }
            let r = avcodec_receive_frame(context, frame)
            if r == avErrorEAGAIN || r == avErrorEOF {
                var f: UnsafeMutablePointer<AVFrame>? = frame
                av_frame_free(&f)
                break
            }
            if r < 0 {
                var f: UnsafeMutablePointer<AVFrame>? = frame
                av_frame_free(&f)
                throw RedactError.decode(path: path, frame: nextNumber, detail: avErrorText(r))
            }
            // A frame the decoder flags as corrupt is still a frame of the input; it is kept and
            // redacted like any other, so the output has exactly the input's frames, and counted,
            // so the receipt says which frames the decoder had to make up in part.
            if frame.pointee.decode_error_flags != 0 || frame.pointee.flags & AV_FRAME_FLAG_CORRUPT != 0 {
                damagedFrames.add(nextNumber)
            }
            var pts = frame.pointee.best_effort_timestamp
            if pts == avNoPTS { pts = frame.pointee.pts }
            if pts == avNoPTS || pts <= lastPTS {
                // Without a usable timestamp the frame still has to be encoded after its predecessor.
                pts = lastPTS == Int64.min ? 0 : lastPTS + max(1, frame.pointee.pkt_duration)
            }
            lastPTS = pts
            frame.pointee.pts = pts
            frames.append(VideoFrame(taking: frame, number: nextNumber, pts: pts))
            nextNumber += 1
        }
        return frames
    }
}
