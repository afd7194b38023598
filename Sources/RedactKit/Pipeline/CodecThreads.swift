import Foundation

/// Threads for the video decoder and the libx264 encoder of one job. Chosen, not left to
/// FFmpeg (which gives each about one thread per core, and x264 one and a half): when the
/// detector runs, it is the slowest stage and wants the cores, so the codecs get what it leaves.
///
/// On two cores (dev benchmark, 1080p, dev04; docs/performance.md "Memory"), an encoder on one
/// thread and a decoder on one thread kept up with the detector in the same time, for the same
/// CPU: x264's frame threads and the decoder's each hold frames of their own, and peak memory
/// fell from 677-680 to 583-586 MB (720p: 465 -> 421). An encoder on one thread is not slower
/// per frame in CPU either (the ffmpeg floor on dev04: 8.26 user s on one thread, 8.28 on auto)
/// and encodes 1080p at about 35 fps, twice what the detector delivers there.
///
/// Painting boxes already known (`redact render`, a reused tracks file) has no detector: the
/// encoder is the slowest stage and gets FFmpeg's choice (0).
struct CodecThreads: Equatable {
    var decoder: Int
    var encoder: Int

    /// The processors one of `parallelJobs` jobs running at once may count on (at least one):
    /// the one place the machine's core count is read for the codecs.
    static func cores(perJobOf parallelJobs: Int = 1) -> Int {
        max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, parallelJobs))
    }

    /// `detecting`: the detector runs in the same pipeline; `cores`: processors this job may count
    /// on (the process's share under `--jobs N`, `JobRunner.cores`).
    init(detecting: Bool, cores: Int) {
        guard detecting else {
            decoder = 0
            encoder = 0
            return
        }
        // Half the cores for the encoder (the other half for the detector); decoding costs a
        // fraction of encoding (ffmpeg floor: 1.3 of 5.1 user s on dev08), a quarter of them.
        encoder = max(1, cores / 2)
        decoder = max(1, cores / 4)
    }
}
