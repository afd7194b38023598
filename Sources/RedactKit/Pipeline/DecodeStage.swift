import CFFmpeg
import Foundation

/// What the decoder learned about the input before the first frame.
struct InputLayout {
    let videoStream: Int
    /// Whether `videoStream` was asked for (`DetectorConfig.videoStream`) or is libavformat's choice.
    let videoStreamRequested: Bool
    /// The input's other video streams (cover pictures aside), dropped: a file holding two
    /// cameras is redacted one camera per job.
    let otherVideoStreams: [Int]
    /// Input stream index -> output stream index for audio copied packet for packet.
    let audioMap: [Int: Int]
    let geometry: FrameGeometry
    let timeBase: AVRational
    /// Streams not carried to the output, described for the receipt.
    let droppedStreams: [String]
    /// Keys of the input's metadata not carried to the output (`OutputMuxer.droppedMetadata`).
    let droppedMetadata: [String]
    /// Best guess of the frame count, for progress only.
    let expectedFrames: Int?

    /// A warning for the user when the input holds other video streams, which the output does not
    /// carry (an in-car system's front and back-seat cameras in one file), and none was asked
    /// for; nil when it holds one, or the stream was asked for (the receipt's `dropped_streams`
    /// lists the others either way).
    var otherVideoNote: String? {
        guard !otherVideoStreams.isEmpty, !videoStreamRequested else { return nil }
        let others = otherVideoStreams.map { "stream \($0)" }.joined(separator: ", ")
        return "the input has \(otherVideoStreams.count + 1) video streams: redacted stream \(videoStream) (libavformat's choice); not in the output: \(others) (redact each in a job of its own: detector.video_stream, or --video-stream)"
    }
}

/// Demuxes the input, decodes the video stream and forwards audio packets untouched.
final class DecodeStage {
    let input: MediaInput
    let layout: InputLayout
    private let decoder: VideoDecoder
    /// Video packets sent to the decoder so far; read once `run` has returned.
    private(set) var videoPackets = 0
    /// Frames the decoder marked as made up in part (`VideoDecoder.damagedFrames`); read once
    /// `run` has returned.
    var damagedFrames: FrameRanges { decoder.damagedFrames }

    /// `threads`: the video decoder's (0: FFmpeg's choice; `CodecThreads`). `videoStream`: the
    /// stream to decode (`DetectorConfig.videoStream`); nil: libavformat's best. `container`: the
    /// output's, which must store the kept audio unchanged.
    /// `source`: where to read the input from when not `path` (`PinnedInput.readPath`).
    init(path: String, source: String? = nil, keepAudio: Bool, threads: Int = 0, videoStream: Int? = nil, container: OutputContainer = .mp4) throws {
        input = try MediaInput(path: path, source: source)
        let video = try input.videoStreamIndex(requested: videoStream)
        let vs = input.stream(video)
        decoder = try VideoDecoder(stream: vs, path: path, threads: threads)
        var audioMap: [Int: Int] = [:]
        var dropped: [String] = []
        var nextOutput = 1  // output stream 0 is the video
        for i in 0..<input.streamCount where i != video {
            let s = input.stream(i)
            let type = s.pointee.codecpar.pointee.codec_type
            if type == AVMEDIA_TYPE_AUDIO && keepAudio {
                if let problem = OutputMuxer.copyProblem(s, container: container) {
                    throw RedactError.badMedia(path: path, detail: "stream \(i): audio cannot be copied: \(problem)")
                }
                audioMap[i] = nextOutput
                nextOutput += 1
            } else {
                dropped.append(Probe.describe(s, index: i).droppedDescription)
                // Not reading dropped streams' packets saves work and memory.
                s.pointee.discard = AVDISCARD_ALL
            }
        }
        let par = vs.pointee.codecpar.pointee
        let nb = Int(vs.pointee.nb_frames)
        var expected: Int? = nb > 0 ? nb : nil
        if expected == nil, let fps = Rational(vs.pointee.avg_frame_rate).value, input.context.pointee.duration > 0 {
            expected = Int(Double(input.context.pointee.duration) / Double(AV_TIME_BASE) * fps)
        }
        layout = InputLayout(
            videoStream: video, videoStreamRequested: videoStream != nil, otherVideoStreams: input.videoStreamIndices.filter { $0 != video },
            audioMap: audioMap,
            geometry: FrameGeometry(storedWidth: Int(par.width), storedHeight: Int(par.height), quarterTurns: displayRotationQuarterTurns(vs)),
            timeBase: vs.pointee.time_base, droppedStreams: dropped,
            droppedMetadata: OutputMuxer.droppedMetadata(of: input, keptStreams: Set(audioMap.keys).union([video]), videoStream: video),
            expectedFrames: expected)
    }

    /// Runs to the end of the input, pushing items into `queue`; always ends with .end or .failure.
    func run(into queue: BoundedQueue<MediaItem>) {
        do {
            let packet = Packet()
            var decodedAny = false
            while try input.read(into: packet.pointer) {
                let idx = Int(packet.pointer.pointee.stream_index)
                if idx == layout.videoStream {
                    videoPackets += 1
                    let frames = try decoder.decode(packet.pointer)
                    av_packet_unref(packet.pointer)
                    for f in frames {
                        decodedAny = true
                        guard queue.push(.video(FrameWork(frame: f))) else { return }
                    }
                } else if let out = layout.audioMap[idx] {
                    guard queue.push(.audio(Packet(moving: packet.pointer), outputStream: out)) else { return }
                } else {
                    av_packet_unref(packet.pointer)
                }
            }
            // The end of the packets must be the end of the input, not the end of a truncated copy.
            if let cut = input.truncation() {
                throw RedactError.badMedia(path: input.path, detail: "truncated: the file has \(cut.size) bytes but its index refers to data up to byte \(cut.needed)")
            }
            let last = try decoder.decode(nil)
            // Closed before the last pictures go downstream: the decoder keeps its reference
            // pictures until closed, and the render stage would copy each such picture before
            // painting it (av_frame_make_writable): a few full-size pictures more at the very end
            // of the job, where its memory peaked.
            decoder.close()
            for f in last {
                decodedAny = true
                guard queue.push(.video(FrameWork(frame: f))) else { return }
            }
            if !decodedAny {
                throw RedactError.badMedia(path: input.path, detail: "no video frame could be decoded")
            }
            queue.push(.end)
        } catch let e as RedactError {
            queue.push(.failure(e))
        } catch {
            queue.push(.failure(.decode(path: input.path, frame: nil, detail: "\(error)")))
        }
    }
}
