import Foundation

/// Runs the face detector on every frame passing through; audio and status pass untouched.
final class DetectStage {
    private let detector: CenterFaceDetector
    private let geometry: FrameGeometry
    private let path: String

    private let makeFlowImages: Bool
    private let every: Int

    init(model: VerifiedModel, config: DetectorConfig, tracker: TrackerConfig, geometry: FrameGeometry, path: String) throws {
        OpenCVThreads.set(config.threads)
        detector = try CenterFaceDetector(model: model, config: config, minimumScore: min(config.threshold, tracker.lowScore), inputPath: path)
        self.geometry = geometry
        self.path = path
        makeFlowImages = tracker.flow
        every = max(1, config.every)
    }

    func run(from input: BoundedQueue<MediaItem>, into output: BoundedQueue<MediaItem>) {
        while let item = input.pop() {
            switch item {
            case .video(let work):
                do {
                    // Frame 1 is always detected; then every `every`-th frame.
                    if (work.frame.number - 1) % every == 0 {
                        work.detections = try detector.detect(work.frame, geometry: geometry)
                    } else if makeFlowImages {
                        try detector.prepare(work.frame, geometry: geometry)
                    }
                    if makeFlowImages, let image = detector.lastImage {
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
}
