import CFFmpeg
import Foundation

/// Replaces the audio of one AAC stream inside the job's mute ranges by the tone (`MuteTone`) and
/// re-encodes the whole stream as AAC-LC (FFmpeg's native encoder), since AAC frames overlap
/// and cannot be replaced one by one.
///
/// Samples are placed on the stream's own timeline: sample `i` of the output is at `i /
/// sample_rate` seconds, the decoder's timestamps (after the input's priming samples are
/// skipped) give each decoded frame its place, a gap between frames is filled with silence (or
/// tone, inside a range) and an overlap is cut, so the audio stays in sync with the video. Every
/// sample whose time is in a range `[start, end)` is replaced on every channel: no fade, so
/// none of the original sound is mixed into the tone.
final class AACToneMuter: ToneMuter {
    let inputIndex: Int
    let encoder: UnsafeMutablePointer<AVCodecContext>
    /// One line for the receipt, e.g. "stream 1: aac 48000 Hz 1 ch -> aac 96 kb/s".
    let summary: String
    private let ranges: [MuteRange]
    private let decoder: UnsafeMutablePointer<AVCodecContext>
    private let fifo: OpaquePointer
    private let inputPath: String
    private let reportPath: String
    private let streamTimeBase: AVRational
    private let sampleRate: Int
    private let channels: Int
    /// Timeline index (in samples) of the next sample to enter the FIFO; nil before the first.
    private var nextSample: Int64?
    /// Timeline index of the FIFO's first sample.
    private var fifoStart: Int64 = 0
    private let packet = Packet()
    /// The last packet the encoder gave, held back so that its duration can be cut at the end.
    private var pending: Packet?
    /// Where the input stream ends on the timeline (samples): the largest pts + duration of its
    /// packets. The encoder pads its last frame to a whole AAC frame; the last packet's duration
    /// is cut back to this, so the re-encoded stream lasts exactly as long as the input's.
    private var inputEnd: Int64?

    init(stream: UnsafeMutablePointer<AVStream>, inputIndex: Int, ranges: [MuteRange],
         inputPath: String, reportPath: String, globalHeader: Bool) throws {
        self.inputIndex = inputIndex
        self.ranges = ranges
        self.inputPath = inputPath
        self.reportPath = reportPath
        streamTimeBase = stream.pointee.time_base
        let par = stream.pointee.codecpar!
        let name = String(cString: avcodec_get_name(par.pointee.codec_id))
        guard par.pointee.codec_id == AV_CODEC_ID_AAC else {
            throw RedactError.badMedia(path: inputPath, detail: "stream \(inputIndex): mute needs AAC audio, found \(name)")
        }
        sampleRate = Int(par.pointee.sample_rate)
        channels = Int(par.pointee.ch_layout.nb_channels)
        guard sampleRate > 0, channels > 0 else {
            throw RedactError.badMedia(path: inputPath, detail: "stream \(inputIndex): audio without sample rate or channels")
        }

        guard let decoderCodec = avcodec_find_decoder(AV_CODEC_ID_AAC), let dec = avcodec_alloc_context3(decoderCodec) else {
            throw RedactError.badMedia(path: inputPath, detail: "stream \(inputIndex): no AAC decoder")
        }
        var r = avcodec_parameters_to_context(dec, par)
        if r >= 0 {
            dec.pointee.pkt_timebase = stream.pointee.time_base
            r = avcodec_open2(dec, decoderCodec, nil)
        }
        if r < 0 {
            var d: UnsafeMutablePointer<AVCodecContext>? = dec
            avcodec_free_context(&d)
            throw RedactError.badMedia(path: inputPath, detail: "stream \(inputIndex): cannot open the AAC decoder: \(avErrorText(r))")
        }

        // Not below the input's rate, and at least 96 kb/s per channel, so that the speech
        // outside the ranges loses little in the second generation.
        let bitRate = min(512_000 * channels, max(Int(par.pointee.bit_rate), 96_000 * channels))
        guard let encoderCodec = avcodec_find_encoder_by_name("aac"), let enc = avcodec_alloc_context3(encoderCodec) else {
            var d: UnsafeMutablePointer<AVCodecContext>? = dec
            avcodec_free_context(&d)
            throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): FFmpeg's AAC encoder is not available")
        }
        enc.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        enc.pointee.sample_rate = Int32(sampleRate)
        if par.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC {
            av_channel_layout_default(&enc.pointee.ch_layout, Int32(channels))
        } else {
            r = av_channel_layout_copy(&enc.pointee.ch_layout, &par.pointee.ch_layout)
        }
        enc.pointee.bit_rate = Int64(bitRate)
        enc.pointee.time_base = AVRational(num: 1, den: Int32(sampleRate))
        if globalHeader { enc.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER }
        if r >= 0 { r = avcodec_open2(enc, encoderCodec, nil) }
        guard r >= 0, let queue = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, Int32(channels), Int32(max(1, enc.pointee.frame_size)) * 4) else {
            var d: UnsafeMutablePointer<AVCodecContext>? = dec, e: UnsafeMutablePointer<AVCodecContext>? = enc
            avcodec_free_context(&d)
            avcodec_free_context(&e)
            throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): cannot open the AAC encoder (\(sampleRate) Hz, \(channels) ch): \(r < 0 ? avErrorText(r) : "out of memory")")
        }
        decoder = dec
        encoder = enc
        fifo = queue
        summary = "stream \(inputIndex): \(name) \(sampleRate) Hz \(channels) ch -> aac \(bitRate / 1000) kb/s"
    }

    func addStream(to muxer: OutputMuxer, like input: UnsafeMutablePointer<AVStream>) throws -> Int {
        try muxer.addEncodedAudioStream(encoder: encoder, like: input)
    }

    deinit {
        av_audio_fifo_free(fifo)
        var d: UnsafeMutablePointer<AVCodecContext>? = decoder, e: UnsafeMutablePointer<AVCodecContext>? = encoder
        avcodec_free_context(&d)
        avcodec_free_context(&e)
    }

    /// Decodes one input packet (nil: the end of the stream, which also flushes the encoder) and
    /// hands every packet the encoder finishes to `sink`, in the encoder's time base (1/sample rate).
    func process(_ input: UnsafeMutablePointer<AVPacket>?, sink: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        if let p = input?.pointee, p.pts != avNoPTS, p.duration > 0 {
            let end = av_rescale_q(p.pts + p.duration, streamTimeBase, AVRational(num: 1, den: Int32(sampleRate)))
            inputEnd = max(inputEnd ?? end, end)
        }
        let sent = avcodec_send_packet(decoder, input)
        if sent < 0 && sent != avErrorEOF {
            throw RedactError.decode(path: inputPath, frame: nil, detail: "audio stream \(inputIndex): \(avErrorText(sent))")
        }
        while true {
            guard let frame = av_frame_alloc() else { throw RedactError.decode(path: inputPath, frame: nil, detail: "out of memory") }
            defer { var f: UnsafeMutablePointer<AVFrame>? = frame; av_frame_free(&f) }
            let r = avcodec_receive_frame(decoder, frame)
            if r == avErrorEAGAIN || r == avErrorEOF { break }
            if r < 0 { throw RedactError.decode(path: inputPath, frame: nil, detail: "audio stream \(inputIndex): \(avErrorText(r))") }
            try place(frame)
            try encodeWhole(sink)
        }
        if input == nil {
            // The rest (shorter than a frame: allowed as the last one), then the encoder's delay.
            let rest = Int(av_audio_fifo_size(fifo))
            if rest > 0 { try encode(samples: rest, sink) }
            try send(nil, sink)
            if let last = pending {
                let p = last.pointer
                if let end = inputEnd, p.pointee.pts != avNoPTS, end > p.pointee.pts, end - p.pointee.pts < p.pointee.duration {
                    p.pointee.duration = end - p.pointee.pts
                }
                pending = nil
                try sink(p)
            }
        }
    }

    /// Puts a decoded frame's samples into the FIFO at their place on the timeline, replacing
    /// those inside a range by the tone.
    private func place(_ frame: UnsafeMutablePointer<AVFrame>) throws {
        guard frame.pointee.format == AV_SAMPLE_FMT_FLTP.rawValue, Int(frame.pointee.ch_layout.nb_channels) == channels,
              Int(frame.pointee.sample_rate) == sampleRate else {
            throw RedactError.decode(path: inputPath, frame: nil, detail: "audio stream \(inputIndex): format or channels changed mid-stream")
        }
        let count = Int(frame.pointee.nb_samples)
        var ts = frame.pointee.best_effort_timestamp
        if ts == avNoPTS { ts = frame.pointee.pts }
        let start = ts == avNoPTS ? (nextSample ?? 0) : av_rescale_q(ts, streamTimeBase, AVRational(num: 1, den: Int32(sampleRate)))
        if nextSample == nil {
            nextSample = start
            fifoStart = start
        }
        var skip = 0
        let gap = start - nextSample!
        // A sample or two of rounding is not a gap.
        if gap > 2 {
            try write(planes: Array(repeating: [Float](repeating: 0, count: Int(gap)), count: channels))
        } else if gap < -2 {
            skip = Int(min(Int64(count), -gap))
        }
        guard skip < count else { return }
        let data = UnsafeRawPointer(frame.pointee.extended_data).assumingMemoryBound(to: UnsafePointer<Float>?.self)
        var planes: [[Float]] = []
        for c in 0..<channels {
            guard let plane = data[c] else { throw RedactError.decode(path: inputPath, frame: nil, detail: "audio stream \(inputIndex): missing channel") }
            planes.append(Array(UnsafeBufferPointer(start: plane + skip, count: count - skip)))
        }
        try write(planes: planes)
    }

    /// Appends samples at `nextSample`, replacing those inside a range by the tone.
    private func write(planes: [[Float]]) throws {
        var planes = planes
        let n = planes.first?.count ?? 0
        guard n > 0, let first = nextSample else { return }
        let rate = Double(sampleRate)
        let t0 = Double(first) / rate, t1 = Double(first + Int64(n)) / rate
        if ranges.contains(where: { $0.overlaps(from: t0, to: t1) }) {
            for k in 0..<n {
                let t = Double(first + Int64(k)) / rate
                guard ranges.contains(where: { $0.contains(seconds: t) }) else { continue }
                let tone = Float(MuteTone.value(at: t))
                for c in 0..<channels { planes[c][k] = tone }
            }
        }
        // One contiguous block, one plane after the other, for the FIFO's array of plane pointers.
        let block = UnsafeMutablePointer<Float>.allocate(capacity: n * channels)
        defer { block.deallocate() }
        for c in 0..<channels { planes[c].withUnsafeBufferPointer { (block + c * n).update(from: $0.baseAddress!, count: n) } }
        var pointers: [UnsafeMutableRawPointer?] = (0..<channels).map { UnsafeMutableRawPointer(block + $0 * n) }
        let written = pointers.withUnsafeMutableBufferPointer { av_audio_fifo_write(fifo, $0.baseAddress, Int32(n)) }
        if written < Int32(n) {
            throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): audio buffer: \(written < 0 ? avErrorText(written) : "short write")")
        }
        nextSample = first + Int64(n)
    }

    private func encodeWhole(_ sink: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        let size = Int(encoder.pointee.frame_size)
        while Int(av_audio_fifo_size(fifo)) >= size { try encode(samples: size, sink) }
    }

    private func encode(samples n: Int, _ sink: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        guard let frame = av_frame_alloc() else { throw RedactError.encode(path: reportPath, frame: nil, detail: "out of memory") }
        defer { var f: UnsafeMutablePointer<AVFrame>? = frame; av_frame_free(&f) }
        frame.pointee.nb_samples = Int32(n)
        frame.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        frame.pointee.sample_rate = Int32(sampleRate)
        var r = av_channel_layout_copy(&frame.pointee.ch_layout, &encoder.pointee.ch_layout)
        if r >= 0 { r = av_frame_get_buffer(frame, 0) }
        if r >= 0 {
            let planes = UnsafeRawPointer(frame.pointee.extended_data).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
            r = av_audio_fifo_read(fifo, UnsafeMutablePointer(mutating: planes), Int32(n))
        }
        if r < 0 { throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): audio frame: \(avErrorText(r))") }
        frame.pointee.pts = fifoStart
        fifoStart += Int64(n)
        try send(frame, sink)
    }

    private func send(_ frame: UnsafeMutablePointer<AVFrame>?, _ sink: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        let sent = avcodec_send_frame(encoder, frame)
        if sent < 0 && !(frame == nil && sent == avErrorEOF) {
            throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): AAC encoder: \(avErrorText(sent))")
        }
        while true {
            let r = avcodec_receive_packet(encoder, packet.pointer)
            if r == avErrorEAGAIN || r == avErrorEOF { return }
            if r < 0 { throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): AAC encoder: \(avErrorText(r))") }
            let finished = Packet(moving: packet.pointer)
            if let previous = pending { try sink(previous.pointer) }
            pending = finished
        }
    }
}
