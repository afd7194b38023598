import CFFmpeg
import Foundation

/// One video stream of a file (by default its primary one), decoded in order, every frame
/// exactly once (decoder output order, numbered as `VideoDecoder` numbers them); every other
/// stream is discarded. For the readers that need the frames alone, without the pipeline's
/// queues: the evaluator's grey frames (`GreyVideoReader`) and the review page's thumbnails
/// (`ThumbnailExtractor`).
final class VideoStreamReader {
    let path: String
    let geometry: FrameGeometry
    /// The video stream's time base and average frame rate.
    let timeBase: AVRational
    let frameRate: AVRational
    private let input: MediaInput
    private let decoder: VideoDecoder
    private let videoStream: Int
    private let packet = Packet()
    private var pending: [VideoFrame] = []
    private var pendingIndex = 0
    private var inputDone = false

    /// `videoStream`: the stream to decode (`DetectorConfig.videoStream`); nil: libavformat's best.
    init(path: String, decoderThreads: Int = 0, videoStream requested: Int? = nil) throws {
        self.path = path
        input = try MediaInput(path: path)
        videoStream = try input.videoStreamIndex(requested: requested)
        let vs = input.stream(videoStream)
        for i in 0..<input.streamCount where i != videoStream {
            input.stream(i).pointee.discard = AVDISCARD_ALL
        }
        decoder = try VideoDecoder(stream: vs, path: path, threads: decoderThreads)
        let par = vs.pointee.codecpar.pointee
        geometry = FrameGeometry(storedWidth: Int(par.width), storedHeight: Int(par.height),
                                 quarterTurns: displayRotationQuarterTurns(vs))
        guard geometry.storedWidth > 0, geometry.storedHeight > 0 else {
            throw RedactError.badMedia(path: path, detail: "video stream has no size")
        }
        timeBase = vs.pointee.time_base
        frameRate = vs.pointee.avg_frame_rate
    }

    /// The next decoded frame, or nil at the end.
    func nextFrame() throws -> VideoFrame? {
        while pendingIndex >= pending.count {
            if inputDone { return nil }
            pending = []
            pendingIndex = 0
            if try input.read(into: packet.pointer) {
                defer { av_packet_unref(packet.pointer) }
                if Int(packet.pointer.pointee.stream_index) == videoStream {
                    pending = try decoder.decode(packet.pointer)
                }
            } else {
                inputDone = true
                pending = try decoder.decode(nil)
            }
        }
        let f = pending[pendingIndex]
        pendingIndex += 1
        return f
    }

    /// See `MediaInput.truncation()`.
    func truncation() -> (needed: Int64, size: Int64)? { input.truncation() }
}
