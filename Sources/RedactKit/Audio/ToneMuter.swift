import CFFmpeg
import Foundation

/// The sound that replaces muted audio: a steady 1 kHz sine at -20 dBFS peak. Forensic guidance
/// prefers a tone to silence: a listener can hear that something was removed and where.
enum MuteTone {
    static let hz = 1000.0
    /// Peak level in dBFS (amplitude 0.1 of full scale).
    static let dbfs = -20.0
    static let amplitude = 0.1

    /// The tone at `seconds` on the stream's timeline (full scale 1.0). Its phase follows the
    /// timeline, so a range split over packets or frames is one continuous tone.
    static func value(at seconds: Double) -> Double { amplitude * sin(2 * Double.pi * hz * seconds) }
}

/// One audio stream that the job's mute ranges touch: it takes the input's packets in order
/// (nil at the end) and hands the output's to `sink`, the samples inside the ranges replaced by
/// `MuteTone` on every channel. How depends on the codec (`ToneMuters.make`).
protocol ToneMuter: AnyObject {
    /// One line for the receipt (`audio_mute.reencoded_streams`), e.g.
    /// "stream 1: aac 48000 Hz 1 ch -> aac 96 kb/s".
    var summary: String { get }
    /// Adds the output stream this muter feeds; its packets' timestamps are in that stream's
    /// source time base.
    func addStream(to muxer: OutputMuxer, like input: UnsafeMutablePointer<AVStream>) throws -> Int
    func process(_ input: UnsafeMutablePointer<AVPacket>?, sink: (UnsafeMutablePointer<AVPacket>) throws -> Void) throws
}

enum ToneMuters {
    /// Whether any range overlaps the stream's known extent (unknown extent: yes).
    static func affects(_ stream: UnsafeMutablePointer<AVStream>, ranges: [MuteRange]) -> Bool {
        let tb = stream.pointee.time_base
        guard stream.pointee.duration > 0, tb.num > 0, tb.den > 0 else { return !ranges.isEmpty }
        let start = stream.pointee.start_time == avNoPTS ? 0 : Double(stream.pointee.start_time) * Double(tb.num) / Double(tb.den)
        let end = start + Double(stream.pointee.duration) * Double(tb.num) / Double(tb.den)
        return ranges.contains { $0.overlaps(from: start, to: end) }
    }

    /// The muter for `stream`'s codec: AAC is decoded, toned and re-encoded (`AACToneMuter`);
    /// interleaved PCM is toned in place (`PCMToneMuter`). Any other codec fails as bad media
    /// naming the stream, before any work.
    static func make(stream: UnsafeMutablePointer<AVStream>, inputIndex: Int, ranges: [MuteRange],
                     inputPath: String, reportPath: String, globalHeader: Bool) throws -> ToneMuter {
        let id = stream.pointee.codecpar.pointee.codec_id
        if id == AV_CODEC_ID_AAC {
            return try AACToneMuter(stream: stream, inputIndex: inputIndex, ranges: ranges,
                                    inputPath: inputPath, reportPath: reportPath, globalHeader: globalHeader)
        }
        if let layout = PCMToneMuter.Layout(stream.pointee.codecpar) {
            return try PCMToneMuter(stream: stream, layout: layout, inputIndex: inputIndex, ranges: ranges,
                                    inputPath: inputPath, reportPath: reportPath)
        }
        let name = String(cString: avcodec_get_name(id))
        throw RedactError.badMedia(path: inputPath, detail: "stream \(inputIndex): mute needs AAC or interleaved PCM audio, found \(name)")
    }
}
