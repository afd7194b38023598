import Foundation

/// Runs the detectors on the frames the schedule picks (`DetectionSchedule`: every other frame
/// by default, every frame while a face moves fast; some runs only in windows around faces: the
/// fast ones on a dense stretch's extra frames, those seen last on a calm stretch's every other
/// regular run); audio and status pass untouched. Every frame is scaled once into a shared detector image.
final class DetectStage {
    private let detectors: [ObjectDetector]
    /// The face detector when it is the only one and `windows` is on: then some runs may look
    /// only at windows around faces (`DetectionSchedule.plan`).
    private let windowDetector: CenterFaceDetector?
    private let image: DetectorImage
    /// The face detector's input on the whole-frame runs between full-size ones
    /// (`DetectorConfig.coarseInputSize`); nil when every run is at the full size: off, the
    /// frame is not larger than the coarse size, or the full-size input is already the frame
    /// scaled down (1080p on the default 1280: see `coarseInputSize`).
    private let coarseImage: DetectorImage?
    private let fullInputEvery: Int
    /// The frame of the latest full-size whole-frame run.
    private var lastFullSizeRun: Int?
    private let path: String

    private let makeFlowImages: Bool
    private var schedule: DetectionSchedule

    init(model: VerifiedModel, config: DetectorConfig, tracker: TrackerConfig, geometry: FrameGeometry, path: String) throws {
        OpenCVThreads.set(config.threads)
        var built: [ObjectDetector] = []
        // Window runs need the face detector to be the only one (a window holds no plates).
        let windowed = config.windows && Set(config.classes) == [.face]
        if config.classes.contains(.face) {
            built.append(try CenterFaceDetector(model: model, engine: config.engine, precision: config.precision, threads: config.threads, minimumScore: min(config.threshold, tracker.lowScore),
                                                secondLook: SecondLook(config), windowed: windowed, inputPath: path))
        }
        if config.classes.contains(.plate) {
            // The plate model sits in the same registry as the face model; verified (SHA-256) before use.
            let registry = try ModelRegistry(directory: model.url.deletingLastPathComponent())
            let plateModel = try registry.model(TextPlateDetector.modelID)
            // Float32 whatever `precision` says: in bfloat16 the text detector's probability map
            // lost plates (dev07 plate recall 0.845 -> 0.803, dev10 0.553 -> 0.544).
            built.append(try TextPlateDetector(model: plateModel, engine: config.engine, precision: .f32, threads: config.threads, threshold: config.plateThreshold, inputPath: path))
        }
        detectors = built
        windowDetector = windowed ? built[0] as? CenterFaceDetector : nil
        image = DetectorImage(geometry: geometry, longSide: config.inputSize, path: path)
        let fullLongSide = max(image.scaledWidth, image.scaledHeight)
        coarseImage = config.classes.contains(.face) && image.isFullResolution && config.coarseInputSize > 0 && config.coarseInputSize < fullLongSide
            ? DetectorImage(geometry: geometry, longSide: config.coarseInputSize, path: path, sharingFullResolutionWith: image) : nil
        fullInputEvery = max(1, config.fullInputEvery)
        self.path = path
        makeFlowImages = tracker.flow
        schedule = DetectionSchedule(every: config.every, minimumScore: config.threshold, windowed: windowDetector != nil,
                                      sureScore: windowDetector?.sureScore ?? DetectionSchedule.defaultSureScore)
    }

    func run(from input: BoundedQueue<MediaItem>, into output: BoundedQueue<MediaItem>) {
        while let item = input.pop() {
            switch item {
            case .video(let work):
                do {
                    let run = schedule.plan(for: work.frame.number)
                    if run != .skip || makeFlowImages { try image.load(work.frame) }
                    switch run {
                    case .skip:
                        break
                    case .whole:
                        let faceImage = try wholeFrameFaceImage(for: work.frame)
                        work.coarseInput = faceImage !== image
                        var found: [Detection] = []
                        // Plates always at the full size: the coarse input is for faces.
                        for d in detectors { found += try d.detect(d is CenterFaceDetector ? faceImage : image, frame: work.frame.number) }
                        work.detections = found
                        schedule.record(run, frame: work.frame.number, detections: found, coarse: work.coarseInput)
                    case .calmWindows(let watched), .denseWindows(let watched):
                        guard let windowDetector else { preconditionFailure("windows planned without a face detector") }
                        let found = try windowDetector.detect(near: watched, in: image, frame: work.frame.number)
                        work.detections = found
                        work.windows = watched.map(\.box)
                        schedule.record(run, frame: work.frame.number, detections: found)
                    }
                    if makeFlowImages {
                        work.gray = try GrayImage.fromDetectorImage(image, path: path, frame: work.frame.number)
                    }
                } catch let e as RedactError {
                    output.push(.failure(e))
                    input.cancel()
                    return
                } catch {
                    output.push(.failure(.detector(path: path, frame: work.frame.number, detail: "\(error)")))
                    input.cancel()
                    return
                }
                guard output.push(item) else { input.cancel(); return }
            case .audio:
                guard output.push(item) else { input.cancel(); return }
            case .end, .failure:
                output.push(item)
                return
            }
        }
    }

    /// The face detector's input for a whole-frame run on `frame` (after `image` loaded it): the
    /// full-size image when no full-size run was in the last `fullInputEvery` frames (or there
    /// is no coarse image), else the coarse image, loaded from the same decoded frame.
    private func wholeFrameFaceImage(for frame: VideoFrame) throws -> DetectorImage {
        guard let coarseImage else { return image }
        if let last = lastFullSizeRun, frame.number - last < fullInputEvery {
            try coarseImage.load(frame)
            return coarseImage
        }
        lastFullSizeRun = frame.number
        return image
    }
}
