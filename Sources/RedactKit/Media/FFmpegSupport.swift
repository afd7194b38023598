import CFFmpeg
import Foundation

/// Text for an FFmpeg error code.
func avErrorText(_ code: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    redact_av_strerror(code, &buffer, buffer.count)
    return String(cString: buffer)
}

let avErrorEAGAIN = redact_av_error_eagain()
let avErrorEOF = redact_av_error_eof()
let avErrorInvalidData = redact_av_error_invaliddata()
let avNoPTS = redact_av_nopts_value()

/// FFmpeg logs to stderr by default; redact reports its own one-line errors instead.
let silenceFFmpegLogging: Void = {
    av_log_set_level(AV_LOG_QUIET)
}()

/// A rational as FFmpeg has it, in a form that can be stored in JSON.
public struct Rational: Codable, Equatable, Sendable, CustomStringConvertible {
    public var num: Int32
    public var den: Int32
    public init(_ num: Int32, _ den: Int32) {
        self.num = num
        self.den = den
    }
    init(_ r: AVRational) { self.init(r.num, r.den) }
    var av: AVRational { AVRational(num: num, den: den) }
    public var value: Double? { den == 0 || num == 0 ? nil : Double(num) / Double(den) }
    public var description: String { "\(num)/\(den)" }
}

/// Clockwise rotation, in quarter turns, that a player applies to the stored picture
/// (from the stream's display matrix). Flips in the matrix are not represented.
func displayRotationQuarterTurns(_ stream: UnsafeMutablePointer<AVStream>) -> Int {
    guard let raw = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, nil) else { return 0 }
    let matrix = UnsafeRawPointer(raw).assumingMemoryBound(to: Int32.self)
    let counterClockwise = av_display_rotation_get(matrix)
    guard counterClockwise.isFinite else { return 0 }
    // av_display_rotation_get gives the counter-clockwise angle; players rotate by its negation.
    var clockwise = -counterClockwise
    clockwise = clockwise.truncatingRemainder(dividingBy: 360)
    if clockwise < 0 { clockwise += 360 }
    return Int((clockwise / 90).rounded()) % 4
}

/// The raw 3x3 display matrix of a stream, if it has one (copied to the output unchanged).
func displayMatrix(_ stream: UnsafeMutablePointer<AVStream>) -> [Int32]? {
    var size: Int = 0
    guard let raw = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size), size >= 36 else { return nil }
    let matrix = UnsafeRawPointer(raw).assumingMemoryBound(to: Int32.self)
    return (0..<9).map { matrix[$0] }
}

func dictionaryKeys(_ dict: OpaquePointer?) -> [String] {
    var keys: [String] = []
    var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
    while true {
        entry = av_dict_get(dict, "", entry, AV_DICT_IGNORE_SUFFIX)
        guard let e = entry else { break }
        keys.append(String(cString: e.pointee.key))
    }
    return keys
}

func dictionaryValue(_ dict: OpaquePointer?, _ key: String) -> String? {
    guard let e = av_dict_get(dict, key, nil, 0) else { return nil }
    return String(cString: e.pointee.value)
}
