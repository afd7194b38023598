import CFFmpeg
import Foundation

/// Replaces the samples of one interleaved PCM stream inside the job's mute ranges by the tone
/// (`MuteTone`), in the packets themselves. PCM samples stand alone (AAC frames overlap and must
/// be re-encoded whole), so nothing else changes: every packet keeps its size, timestamps and
/// duration, and every byte of a sample outside the ranges is the input's. Dash and in-car
/// cameras record such audio (16-bit PCM, or G.711 mu-law and A-law) in MOV and AVI files.
///
/// The tone's samples are written by FFmpeg's own encoder for the stream's codec, so they are
/// stored exactly as the codec stores samples (byte order, width, mu-law...). A sample's time
/// is its packet's timestamp plus its place in the packet, as the decoder would give it.
final class PCMToneMuter: ToneMuter {
    /// What in-place toning needs to know of a codec: fixed-size interleaved samples, and an
    /// encoder for it taking interleaved samples of a format the tone can be written in.
    struct Layout {
        let codecName: String
        let codecID: AVCodecID
        /// Bytes of one sample instant, all channels (the codec's block alignment).
        let bytesPerInstant: Int
        let channels: Int
        let sampleRate: Int
        /// What the codec's encoder takes.
        let encoderFormat: AVSampleFormat

        /// Nil when the codec is not PCM with fixed-size interleaved samples (planar PCM, DVD
        /// and Blu-ray PCM with their headers, compressed codecs) or its parameters are damaged.
        init?(_ par: UnsafeMutablePointer<AVCodecParameters>) {
            let id = par.pointee.codec_id
            let name = String(cString: avcodec_get_name(id))
            let bits = Int(av_get_bits_per_sample(id))
            let channels = Int(par.pointee.ch_layout.nb_channels)
            guard name.hasPrefix("pcm_"), bits > 0, bits % 8 == 0, channels > 0, par.pointee.sample_rate > 0,
                  let codec = avcodec_find_encoder(id), let formats = codec.pointee.sample_fmts
            else { return nil }
            let format = formats[0]
            guard [AV_SAMPLE_FMT_U8, AV_SAMPLE_FMT_S16, AV_SAMPLE_FMT_S32, AV_SAMPLE_FMT_FLT, AV_SAMPLE_FMT_DBL].contains(format) else { return nil }
            codecName = name
            codecID = id
            bytesPerInstant = bits / 8 * channels
            self.channels = channels
            sampleRate = Int(par.pointee.sample_rate)
            encoderFormat = format
        }
    }

    let summary: String
    private let layout: Layout
    private let ranges: [MuteRange]
    private let inputIndex: Int
    private let inputPath: String
    private let reportPath: String
    private let streamTimeBase: AVRational
    private let encoder: UnsafeMutablePointer<AVCodecContext>
    private let encoded = Packet()
    /// Timeline index (in samples) just after the last packet, for a packet without a timestamp.
    private var nextSample: Int64 = 0

    init(stream: UnsafeMutablePointer<AVStream>, layout: Layout, inputIndex: Int, ranges: [MuteRange],
         inputPath: String, reportPath: String) throws {
        self.layout = layout
        self.ranges = ranges
        self.inputIndex = inputIndex
        self.inputPath = inputPath
        self.reportPath = reportPath
        streamTimeBase = stream.pointee.time_base
        guard let codec = avcodec_find_encoder(layout.codecID), let enc = avcodec_alloc_context3(codec) else {
            throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): no \(layout.codecName) encoder")
        }
        enc.pointee.sample_fmt = layout.encoderFormat
        enc.pointee.sample_rate = Int32(layout.sampleRate)
        av_channel_layout_default(&enc.pointee.ch_layout, Int32(layout.channels))
        enc.pointee.time_base = AVRational(num: 1, den: Int32(layout.sampleRate))
        let r = avcodec_open2(enc, codec, nil)
        if r < 0 {
            var e: UnsafeMutablePointer<AVCodecContext>? = enc
            avcodec_free_context(&e)
            throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): cannot open the \(layout.codecName) encoder: \(avErrorText(r))")
        }
        encoder = enc
        summary = "stream \(inputIndex): \(layout.codecName) \(layout.sampleRate) Hz \(layout.channels) ch -> \(layout.codecName), toned in place (packets and samples outside the ranges unchanged)"
    }

    deinit {
        var e: UnsafeMutablePointer<AVCodecContext>? = encoder
        avcodec_free_context(&e)
    }

    func addStream(to muxer: OutputMuxer, like input: UnsafeMutablePointer<AVStream>) throws -> Int {
        try muxer.addCopiedStream(like: input)
    }

    func process(_ input: UnsafeMutablePointer<AVPacket>?, sink: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws {
        guard let packet = input else { return }  // nothing is held back
        let size = Int(packet.pointee.size)
        guard size % layout.bytesPerInstant == 0 else {
            throw RedactError.decode(path: inputPath, frame: nil, detail: "audio stream \(inputIndex): a \(layout.codecName) packet of \(size) bytes is not whole samples of \(layout.bytesPerInstant) bytes")
        }
        let count = size / layout.bytesPerInstant
        let rate = Int32(layout.sampleRate)
        let first = packet.pointee.pts == avNoPTS ? nextSample : av_rescale_q(packet.pointee.pts, streamTimeBase, AVRational(num: 1, den: rate))
        nextSample = first + Int64(count)
        let t0 = Double(first) / Double(rate), t1 = Double(first + Int64(count)) / Double(rate)
        guard count > 0, ranges.contains(where: { $0.overlaps(from: t0, to: t1) }) else { return try sink(packet) }

        let tone = try toneBytes(first: first, count: count)
        let r = av_packet_make_writable(packet)  // the demuxer's buffer may be shared
        if r < 0 { throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): audio packet: \(avErrorText(r))") }
        let width = layout.bytesPerInstant
        for k in 0..<count {
            let t = Double(first + Int64(k)) / Double(rate)
            guard ranges.contains(where: { $0.contains(seconds: t) }) else { continue }
            (packet.pointee.data + k * width).update(from: tone + k * width, count: width)
        }
        try sink(packet)
    }

    /// The tone over `count` sample instants from timeline index `first`, every channel, as the
    /// codec stores it (the encoder's packet; valid until the next call).
    private func toneBytes(first: Int64, count: Int) throws -> UnsafePointer<UInt8> {
        guard let frame = av_frame_alloc() else { throw RedactError.encode(path: reportPath, frame: nil, detail: "out of memory") }
        defer { var f: UnsafeMutablePointer<AVFrame>? = frame; av_frame_free(&f) }
        frame.pointee.nb_samples = Int32(count)
        frame.pointee.format = layout.encoderFormat.rawValue
        frame.pointee.sample_rate = Int32(layout.sampleRate)
        frame.pointee.pts = first
        var r = av_channel_layout_copy(&frame.pointee.ch_layout, &encoder.pointee.ch_layout)
        if r >= 0 { r = av_frame_get_buffer(frame, 0) }
        if r < 0 { throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): tone frame: \(avErrorText(r))") }
        let channels = layout.channels, rate = Double(layout.sampleRate)
        let data = UnsafeMutableRawPointer(frame.pointee.data.0!)
        for k in 0..<count {
            let v = MuteTone.value(at: Double(first + Int64(k)) / rate)
            for c in 0..<channels {
                let i = k * channels + c
                switch layout.encoderFormat {
                case AV_SAMPLE_FMT_U8: data.storeBytes(of: UInt8(128 + (v * 127).rounded()), toByteOffset: i, as: UInt8.self)
                case AV_SAMPLE_FMT_S16: data.storeBytes(of: Int16((v * 32767).rounded()), toByteOffset: 2 * i, as: Int16.self)
                case AV_SAMPLE_FMT_S32: data.storeBytes(of: Int32((v * 2_147_483_647).rounded()), toByteOffset: 4 * i, as: Int32.self)
                case AV_SAMPLE_FMT_FLT: data.storeBytes(of: Float(v), toByteOffset: 4 * i, as: Float.self)
                default: data.storeBytes(of: v, toByteOffset: 8 * i, as: Double.self)  // DBL (Layout allows no other)
                }
            }
        }
        r = avcodec_send_frame(encoder, frame)
        if r >= 0 {
            av_packet_unref(encoded.pointer)
            r = avcodec_receive_packet(encoder, encoded.pointer)
        }
        if r < 0 { throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): \(layout.codecName) encoder: \(avErrorText(r))") }
        guard Int(encoded.pointer.pointee.size) == count * layout.bytesPerInstant, let bytes = encoded.pointer.pointee.data else {
            throw RedactError.encode(path: reportPath, frame: nil, detail: "stream \(inputIndex): \(layout.codecName) encoder gave \(encoded.pointer.pointee.size) bytes for \(count) samples")
        }
        return UnsafePointer(bytes)
    }
}
