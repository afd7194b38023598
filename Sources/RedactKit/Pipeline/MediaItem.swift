import CFFmpeg

/// What travels between stages, in input order: pictures, audio packets to copy, and the end
/// of the stream or the error that ended it (status travels with the data, as in GStreamer).
enum MediaItem {
    case video(FrameWork)
    case audio(Packet, outputStream: Int)
    case end
    case failure(RedactError)
}

/// A decoded frame plus what the stages learn about it on the way.
final class FrameWork {
    let frame: VideoFrame
    /// nil: the detector did not run on this frame.
    var detections: [Detection]?
    /// Non-nil: the detector looked only at windows around these boxes (display pixels), so a
    /// face missing from `detections` elsewhere is no evidence it left.
    var windows: [Box]?
    /// The whole-frame run looked at the coarse input (`DetectorConfig.coarseInputSize`).
    var coarseInput = false
    /// Small grey copy for optical flow (when the tracker uses it).
    var gray: GrayImage?

    init(frame: VideoFrame) { self.frame = frame }
}

extension BoundedQueue where Element == MediaItem {
    /// A queue between two stages of one job: at most `JobRunner.framesInFlight` pictures, and
    /// up to `JobRunner.itemsInFlight` items in all, so audio packets, interleaved with the
    /// pictures in chunks, never take a picture's place.
    static func stage() -> BoundedQueue<MediaItem> {
        BoundedQueue(capacity: JobRunner.framesInFlight, itemLimit: JobRunner.itemsInFlight) {
            if case .video = $0 { return true }
            return false
        }
    }
}
