import Foundation

/// What a box marks.
public enum ObjectClass: String, Codable, CaseIterable, Sendable {
    case face
    case plate
}

/// An axis-aligned box in display pixels (after the display matrix's rotation), top-left origin.
public struct Box: Codable, Equatable, Sendable {
    public var x: Double
    public var y: Double
    public var w: Double
    public var h: Double

    public init(x: Double, y: Double, w: Double, h: Double) {
        self.x = x
        self.y = y
        self.w = w
        self.h = h
    }

    public var maxX: Double { x + w }
    public var maxY: Double { y + h }
    public var area: Double { max(0, w) * max(0, h) }
    public var centerX: Double { x + w / 2 }
    public var centerY: Double { y + h / 2 }

    /// Area of the overlap of the two boxes (0 when they do not overlap).
    public func intersectionArea(_ other: Box) -> Double {
        let ix = max(0, min(maxX, other.maxX) - max(x, other.x))
        let iy = max(0, min(maxY, other.maxY) - max(y, other.y))
        return ix * iy
    }

    public func intersectionOverUnion(_ other: Box) -> Double {
        let inter = intersectionArea(other)
        let union = area + other.area - inter
        return union > 0 ? inter / union : 0
    }

    /// Grown by `fraction` of its width and height on every side.
    public func padded(by fraction: Double) -> Box {
        Box(x: x - w * fraction, y: y - h * fraction, w: w * (1 + 2 * fraction), h: h * (1 + 2 * fraction))
    }

    /// The smallest box holding both.
    public func enclosing(_ other: Box) -> Box {
        let x0 = min(x, other.x), y0 = min(y, other.y)
        return Box(x: x0, y: y0, w: max(maxX, other.maxX) - x0, h: max(maxY, other.maxY) - y0)
    }

    /// Linear interpolation between two boxes (t = 0: self, t = 1: other).
    public func interpolated(to other: Box, t: Double) -> Box {
        Box(x: x + (other.x - x) * t, y: y + (other.y - y) * t, w: w + (other.w - w) * t, h: h + (other.h - h) * t)
    }
}

/// Stored picture size and the rotation a player applies; converts display boxes to stored pixels.
public struct FrameGeometry: Codable, Equatable, Sendable {
    public var storedWidth: Int
    public var storedHeight: Int
    /// Clockwise quarter turns from stored to displayed picture (0...3).
    public var quarterTurns: Int

    public init(storedWidth: Int, storedHeight: Int, quarterTurns: Int) {
        self.storedWidth = storedWidth
        self.storedHeight = storedHeight
        self.quarterTurns = ((quarterTurns % 4) + 4) % 4
    }

    public var displayWidth: Int { quarterTurns % 2 == 1 ? storedHeight : storedWidth }
    public var displayHeight: Int { quarterTurns % 2 == 1 ? storedWidth : storedHeight }

    /// The same region in stored-picture coordinates (what the encoder's planes are in).
    public func storedBox(fromDisplay b: Box) -> Box {
        let W = Double(storedWidth), H = Double(storedHeight)
        switch quarterTurns {
        case 1:  // displayed = stored turned 90° clockwise: display x runs along stored -y.
            return Box(x: b.y, y: H - b.maxX, w: b.h, h: b.w)
        case 2:
            return Box(x: W - b.maxX, y: H - b.maxY, w: b.w, h: b.h)
        case 3:
            return Box(x: W - b.maxY, y: b.x, w: b.h, h: b.w)
        default:
            return b
        }
    }

    enum CodingKeys: String, CodingKey {
        case storedWidth = "stored_width"
        case storedHeight = "stored_height"
        case quarterTurns = "quarter_turns"
    }
}
