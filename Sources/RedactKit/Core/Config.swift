import Foundation

/// How a redacted box is painted. `fill` is the default because it is irreversible;
/// `pixelate` and `blur` keep some low-frequency information and are documented as weaker.
public enum RedactionStyle: String, Codable, CaseIterable, Sendable {
    case fill
    case pixelate
    case blur
}

/// The outline painted over a face. Plates are always painted as boxes.
public enum RedactionShape: String, Codable, CaseIterable, Sendable {
    /// The ellipse inscribed in the padded box: a face is roughly elliptical, so the corners of
    /// its box (background, hair) stay visible and less of the picture is lost.
    case ellipse
    /// The whole padded box.
    case box
}

/// What runs the detectors' neural networks.
public enum InferenceEngine: String, Codable, CaseIterable, Sendable {
    /// OpenVINO's CPU plugin (from its PyPI wheel, scripts/setup-openvino.sh): on CenterFace on
    /// the benchmark machine about twice OpenCV 4.6's speed in float32 and four times in
    /// bfloat16 (docs/performance.md, "Inference engine").
    case openvino
    /// OpenCV 4.6's DNN module (Debian's libopencv-dnn): slower; for builds without OpenVINO.
    case opencv
}

/// The floating-point precision the networks compute in.
public enum InferencePrecision: String, Codable, CaseIterable, Sendable {
    /// The engine's fastest on this CPU: OpenVINO computes in bfloat16 where the CPU does so
    /// natively (AVX512-BF16, AMX), about twice float32's speed, else in float32. On the dev
    /// benchmark face recall and leaks were the same as float32 (docs/performance.md,
    /// "Inference engine"); scores differ by up to a few hundredths, so a re-run on another CPU
    /// may draw a box a frame earlier or later. The receipt names the precision used.
    case auto
    /// Float32 on every CPU: the same scores everywhere up to float rounding.
    case f32
}

/// Detector settings.
public struct DetectorConfig: Codable, Equatable, Sendable {
    /// Model id of the face detector from the registry in models/ (only "centerface" today).
    public var model: String = "centerface"
    /// Classes to find and redact. "plate" runs the text detector of `plateModel` as well
    /// (docs/models.md, "Licence plates"). The default is faces only: on the dev benchmark the
    /// plate detector misses small, dark and motion-blurred plates and costs ~0.12 s per 720p
    /// detector run on OpenVINO (float32), a second full-frame network.
    public var classes: [ObjectClass] = [.face]
    /// Minimum mean text probability of a plate box (the DB detector's box threshold).
    public var plateThreshold: Double = 0.5
    /// Minimum detector score for a detection to start a track (and be redacted on its own).
    /// Weaker detections only continue existing, confirmed tracks (see TrackerConfig.lowScore).
    public var threshold: Double = 0.2
    /// Longer side, in pixels, of the detector's input image: the displayed frame is scaled so
    /// its longer side is this (never enlarged; aspect kept, letterboxed to multiples of 32).
    /// 1280 keeps 720p at full resolution: at 640, faces under ~40 px were missed (dev benchmark:
    /// 1080p face recall 38 % at 640 against 99 % at 1280).
    public var inputSize: Int = 1280
    /// Longer side of the detector input for the whole-frame runs between full-size ones
    /// (`fullInputEvery`); 0, or a size not under the full-size input, runs every whole-frame
    /// pass at `inputSize`. Most of the detector's time is the whole-frame pass, and its cost
    /// grows with its pixels: 960x544 has 55 % of 1280x736's, and on the dev benchmark found
    /// nearly every face 1280 found (the second look, at full resolution, lifts the small ones
    /// it sees weakly). A
    /// face too small to leave a trace at this size is still found by the next full-size run,
    /// at most `fullInputEvery` frames later, and the tracker's backward extension covers the
    /// frames before it (docs/models.md, "Coarse and full-size passes"). Only for frames the
    /// full-size input holds at full resolution (720p on the default 1280): a larger frame is
    /// already scaled down there (a 1080p frame to two thirds; 960 would be half), and the
    /// coarse shape's compiled network (55-77 MB) took 1080p past 600 MB resident.
    public var coarseInputSize: Int = 960
    /// A whole-frame run is at the full size (`inputSize`) when none was in the last this many
    /// frames; the others at `coarseInputSize`. 8, under the tracker's `extendFrames` (10), so
    /// a face first found by a full-size run is covered back to where it appeared.
    public var fullInputEvery: Int = 8
    /// What runs the networks. Both give the same detections up to float rounding (scores
    /// within 0.01 on the test faces, DetectorEngineTests).
    public var engine: InferenceEngine = .openvino
    /// See `InferencePrecision`. Face detector only: the plate (text) detector computes in
    /// float32 (in bfloat16 it lost plates on the dev benchmark), as OpenCV always does.
    public var precision: InferencePrecision = .auto
    /// Inference threads: OpenVINO's per network; OpenCV's (process-wide, also its optical flow
    /// and image helpers) either way. 0: the engine's default, one per core.
    public var threads: Int = 0
    /// Run the detector on every n-th frame (1: every frame), and on every frame for a while
    /// after it saw a face move fast (`DetectionSchedule`). Frames in between are covered by
    /// the tracker (optical flow, interpolation between detections, extension), whose rules for
    /// weak tracks count detector runs, not frames. 2 halves the detector's cost on clips whose
    /// faces move slowly with the same face recall on the dev benchmark (1.0 on all ten clips,
    /// docs/quality.md, fifth round). With faces only, the extra frames of a dense stretch look
    /// only at windows around the fast faces (`DetectionSchedule.plan`), and so does every
    /// other regular run of a calm stretch (see `windows`).
    public var every: Int = 2
    /// With faces only, let the detector look at windows of the frame instead of the whole frame
    /// where that suffices (`DetectionSchedule.plan`): on the extra frames of a dense stretch,
    /// around the fast faces and those the run before lost (with none, the frame is skipped);
    /// and on every other regular run while the whole-frame run before it found at most 4
    /// detections (weak ones included), around those, where their motion puts them. New faces
    /// are then found by whole-frame runs, `2 * every` frames apart in a calm stretch. On the
    /// dev benchmark: 11 % less time over the ten clips, the same face recall
    /// (1.0, no leak frame; docs/performance.md). `false`: every detector run looks at the whole
    /// frame.
    public var windows: Bool = true
    /// Look again, closer, at every face detection scoring under `secondLookBelow` that the
    /// first look saw under 96 pixels tall: a window around it is cut from the full-resolution
    /// frame, scaled so the face is 96 pixels tall (a face seen under 48 px is first looked at
    /// 48 px tall, and at 96 only if that look leaves it near the threshold), and run through
    /// the detector again. The detection's score becomes the geometric mean of the first look
    /// and the closer ones (their mean, for two). A small face (scaled down to a few pixels on
    /// the detector input) scores higher close up; textures and objects that look like a face
    /// from afar score lower. This is the "second scale where needed" for small faces
    /// (docs/models.md, "Second look"; `SecondLook` has the numbers behind the sizes).
    public var secondLook: Bool = true
    /// See `secondLook`. Detections at or above this keep their first score; and a window run
    /// (`windows`) watches a face last seen at or above it in the small window only, one under
    /// it also closer unless the small window settles it (`DetectionSchedule.Watch`).
    public var secondLookBelow: Double = 0.5
    /// At most this many second looks per frame, most confident detections first; the rest keep
    /// their first score. Bounds the cost (a few ms each) on frames full of weak candidates.
    public var secondLookMax: Int = 8
    /// The input's video stream to detect, and so to redact: its index among all the file's
    /// streams, as `redact probe` numbers them. Nil (the default): libavformat's best video
    /// stream, never a cover picture. An output carries one video stream and the others are
    /// dropped (the receipt's `dropped_streams`), so a file holding two cameras (an in-car
    /// system's front and back seat) is redacted in one job per camera. Recorded with the
    /// detector's settings in detections.json and tracks.json, so `track`, `render` and
    /// `review` read the same stream.
    public var videoStream: Int?

    public init() {}
    enum CodingKeys: String, CodingKey {
        case model, classes, threshold
        case plateThreshold = "plate_threshold"
        case inputSize = "input_size"
        case coarseInputSize = "coarse_input_size"
        case fullInputEvery = "full_input_every"
        case engine, precision, threads, every, windows
        case secondLook = "second_look"
        case secondLookBelow = "second_look_below"
        case secondLookMax = "second_look_max"
        case videoStream = "video_stream"
    }

    /// Files written before plates existed (no `classes`, `plate_threshold`) read as faces only,
    /// those written before the second look (no `second_look`) as without it, and those written
    /// before `engine` as OpenCV (float32).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DetectorConfig()
        model = try c.decode(String.self, forKey: .model)
        classes = try c.decodeIfPresent([ObjectClass].self, forKey: .classes) ?? d.classes
        threshold = try c.decode(Double.self, forKey: .threshold)
        plateThreshold = try c.decodeIfPresent(Double.self, forKey: .plateThreshold) ?? d.plateThreshold
        inputSize = try c.decode(Int.self, forKey: .inputSize)
        // Files written before coarse passes existed ran every whole-frame pass at `inputSize`.
        coarseInputSize = try c.decodeIfPresent(Int.self, forKey: .coarseInputSize) ?? 0
        fullInputEvery = try c.decodeIfPresent(Int.self, forKey: .fullInputEvery) ?? d.fullInputEvery
        // Files written before OpenVINO existed ran on OpenCV.
        engine = try c.decodeIfPresent(InferenceEngine.self, forKey: .engine) ?? .opencv
        precision = try c.decodeIfPresent(InferencePrecision.self, forKey: .precision) ?? .f32
        threads = try c.decode(Int.self, forKey: .threads)
        every = try c.decode(Int.self, forKey: .every)
        // Files written before this key existed: their runs may have used the dense stretches'
        // windows but not the calm ones; read as without, so they are not taken for today's.
        windows = try c.decodeIfPresent(Bool.self, forKey: .windows) ?? false
        // Files written before the second look existed ran without it.
        secondLook = try c.decodeIfPresent(Bool.self, forKey: .secondLook) ?? false
        secondLookBelow = try c.decodeIfPresent(Double.self, forKey: .secondLookBelow) ?? d.secondLookBelow
        secondLookMax = try c.decodeIfPresent(Int.self, forKey: .secondLookMax) ?? d.secondLookMax
        // Absent (written only when set): libavformat's choice, as before this key existed.
        videoStream = try c.decodeIfPresent(Int.self, forKey: .videoStream)
    }
}

/// Tracker settings.
public struct TrackerConfig: Codable, Equatable, Sendable {
    /// Minimum IoU between a track's predicted box and a confident detection to continue it.
    public var iouThreshold: Double = 0.2
    /// A track survives this many frames without a detection (followed by optical flow while
    /// it can be); gaps up to this long between detections are filled. At most 60: frames are
    /// held back this long, so it bounds memory.
    public var maxGap: Int = 15
    /// Frames a track is extended before its first and after its last observation. Fast faces
    /// entering at night were first detected up to 10 frames late on the dev benchmark. Backwards,
    /// a confirmed track reaches further while optical flow follows it: over every frame still
    /// held (`reachBack`; `OnlineTracker`).
    public var extendFrames: Int = 10
    /// How far back (frames) a confirmed track, or one first detected surely, reaches while
    /// optical flow follows it: frames are held this long (or `maxGap`, or `extendFrames`, if
    /// longer) before they are painted, so it bounds memory like them. A blurred face entering
    /// fast at night was first detected surely 15 frames after it appeared on dev03, and 20
    /// frames after on dev03 played backwards (scripts/bench_variants.py); 20 covers both, for
    /// 5 frames more held than `maxGap` alone (about 15 MB at 1080p).
    public var reachBack: Int = 20
    /// Detections scoring at least this (but under the detector threshold) may continue an
    /// existing confirmed track, never start one (ByteTrack's second association pass).
    public var lowScore: Double = 0.1
    /// Detections a track needs before optical flow follows it through missed frames; a track
    /// with fewer is still redacted where detected and extended, but not followed.
    public var minHits: Int = 2
    /// Follow tracks through frames without a detection with Lucas-Kanade optical flow.
    public var flow: Bool = true
    /// A track is confirmed once it has `minHits` detections and either one of them scores at
    /// least `confirmScore` or `confirmHits` of them reach the detector threshold. Only confirmed tracks are
    /// followed by flow and extended by `extendFrames`; an unconfirmed track is still redacted
    /// wherever it is detected and two frames around, so nothing the detector reports is left
    /// visible. On the dev benchmark flow and extension of weak, sparse tracks (textures, an
    /// animal) were most of the over-redaction; real faces either scored high or, small at
    /// 1080p (scores 0.45-0.65), were detected in most frames.
    public var confirmScore: Double = 0.5
    /// See `confirmScore`.
    public var confirmHits: Int = 8
    /// Only detections scoring at least this (and the detector threshold) count towards
    /// `confirmHits`. Textures and objects that CenterFace mistakes for small faces score just
    /// above the threshold in frame after frame (dev benchmark: a parked car at 0.2-0.38 in 89
    /// frames); the small real faces that `confirmHits` is for reach 0.3 in most frames.
    public var confirmHitsScore: Double = 0.3
    /// A detection at least this tall, as a fraction of the frame's longer side (80 px on a
    /// 1280-wide frame, as big as it is on the default detector input), counts as large. Large
    /// detections confirm a track only with `confirmLargeScore`, and do not count towards
    /// `confirmHits`: CenterFace scores a clear face that big higher (on the dev benchmark the
    /// best large detection of every real face track that had one reached 0.69, or the track was
    /// confirmed by its smaller detections), and its steady low-score large boxes were an
    /// animal's face (at most 0.56), carried through every missed frame. Such a track is still
    /// redacted wherever it is detected and two frames around.
    public var largeFraction: Double = 0.0625
    /// See `largeFraction`.
    public var confirmLargeScore: Double = 0.6

    public init() {}
    enum CodingKeys: String, CodingKey {
        case iouThreshold = "iou_threshold"
        case maxGap = "max_gap"
        case extendFrames = "extend_frames"
        case reachBack = "reach_back"
        case lowScore = "low_score"
        case minHits = "min_hits"
        case flow
        case confirmScore = "confirm_score"
        case confirmHits = "confirm_hits"
        case confirmHitsScore = "confirm_hits_score"
        case largeFraction = "large_fraction"
        case confirmLargeScore = "confirm_large_score"
    }

    /// Files written before `confirm_score` existed still read (as if every track that reached
    /// `min_hits` was confirmed, which is what that version did).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iouThreshold = try c.decode(Double.self, forKey: .iouThreshold)
        maxGap = try c.decode(Int.self, forKey: .maxGap)
        extendFrames = try c.decode(Int.self, forKey: .extendFrames)
        lowScore = try c.decode(Double.self, forKey: .lowScore)
        minHits = try c.decode(Int.self, forKey: .minHits)
        flow = try c.decode(Bool.self, forKey: .flow)
        confirmScore = try c.decodeIfPresent(Double.self, forKey: .confirmScore) ?? 0
        confirmHits = try c.decodeIfPresent(Int.self, forKey: .confirmHits) ?? 1
        confirmHitsScore = try c.decodeIfPresent(Double.self, forKey: .confirmHitsScore) ?? 0
        // Files written before these existed: no size rule (a fraction no box reaches).
        largeFraction = try c.decodeIfPresent(Double.self, forKey: .largeFraction) ?? 1_000_000
        confirmLargeScore = try c.decodeIfPresent(Double.self, forKey: .confirmLargeScore) ?? 0
        // Files written before it existed held and reached back over max(max_gap, extend_frames).
        reachBack = try c.decodeIfPresent(Int.self, forKey: .reachBack) ?? 0
    }
}

/// Redaction and encoding settings.
public struct RenderConfig: Codable, Equatable, Sendable {
    public var style: RedactionStyle = .fill
    /// Each face box grows by this fraction of its size on every side before painting.
    /// CenterFace's boxes are already about 20 % taller than brow-to-chin (dev benchmark,
    /// 1,415 detections: height 1.20x, width 0.94x the ground truth), so an ellipse in the box
    /// grown by 10 % covers the whole central face with room to spare; 0.2 changed no recall
    /// on the dev clips and painted 30-60 % more of the picture.
    public var padding: Double = 0.1
    /// Outline of face redactions.
    public var shape: RedactionShape = .ellipse
    /// The same for plate boxes. The plate detector boxes the text, not the plate, so plates
    /// get more room.
    public var platePadding: Double = 0.35
    /// libx264 constant rate factor (0-51; lower is better quality). 18 is visually near-lossless.
    public var crf: Int = 18
    /// libx264 preset.
    public var preset: String = "veryfast"
    /// Copy audio streams (false: drop all audio).
    public var keepAudio: Bool = true

    public init() {}
    enum CodingKeys: String, CodingKey {
        case style, padding, shape
        case platePadding = "plate_padding"
        case crf, preset
        case keepAudio = "keep_audio"
    }

    /// Files written before plates existed (no `plate_padding`) still read.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        style = try c.decode(RedactionStyle.self, forKey: .style)
        padding = try c.decode(Double.self, forKey: .padding)
        // Files written before `shape` existed were painted as boxes.
        shape = try c.decodeIfPresent(RedactionShape.self, forKey: .shape) ?? .box
        platePadding = try c.decodeIfPresent(Double.self, forKey: .platePadding) ?? RenderConfig().platePadding
        crf = try c.decode(Int.self, forKey: .crf)
        preset = try c.decode(String.self, forKey: .preset)
        keepAudio = try c.decode(Bool.self, forKey: .keepAudio)
    }

    /// Padding per side for a box of this class.
    public func padding(for objectClass: ObjectClass) -> Double {
        objectClass == .plate ? platePadding : padding
    }
}

/// The complete effective configuration of one job; recorded verbatim in the receipt.
public struct JobConfig: Codable, Equatable, Sendable {
    public var detector = DetectorConfig()
    public var tracker = TrackerConfig()
    public var render = RenderConfig()
    public init() {}
}
