import Foundation

/// A detector over the shared detector image (display orientation, scaled, RGB, letterboxed
/// to multiples of 32). Returns boxes in display pixels.
protocol ObjectDetector: AnyObject {
    func detect(_ image: DetectorImage, frame: Int) throws -> [Detection]
}
