import Foundation

/// Constant-velocity Kalman filter on a box's centre and size (cx, cy, w, h), with the noise
/// model of SORT/ByteTrack (standard deviations proportional to the box height). F, H, Q and R
/// are block-diagonal over the four coordinates, so the 8-state filter is exactly four
/// independent position/velocity filters, which is how it is computed here.
struct BoxKalman: Equatable {
    private struct Axis: Equatable {
        var x: Double
        var v = 0.0
        var p00: Double
        var p01 = 0.0
        var p11: Double

        mutating func predict(qPosition: Double, qVelocity: Double) {
            x += v
            let n00 = p00 + 2 * p01 + p11 + qPosition
            let n01 = p01 + p11
            p00 = n00
            p01 = n01
            p11 += qVelocity
        }

        mutating func update(_ z: Double, r: Double) {
            let s = p00 + r
            let k0 = p00 / s, k1 = p01 / s
            let innovation = z - x
            x += k0 * innovation
            v += k1 * innovation
            let n11 = p11 - k1 * p01
            p00 *= 1 - k0
            p01 *= 1 - k0
            p11 = n11
        }
    }

    static let positionWeight = 1.0 / 20
    static let velocityWeight = 1.0 / 160
    private var axes: [Axis]

    init(_ box: Box) {
        let h = max(box.h, 1)
        let p = 2 * Self.positionWeight * h, v = 10 * Self.velocityWeight * h
        axes = [box.centerX, box.centerY, box.w, box.h].map { Axis(x: $0, p00: p * p, p11: v * v) }
    }

    var box: Box {
        let w = max(1, axes[2].x), h = max(1, axes[3].x)
        return Box(x: axes[0].x - w / 2, y: axes[1].x - h / 2, w: w, h: h)
    }

    /// Standard deviation of the centre's position, in pixels (how unsure the filter is).
    var positionUncertainty: Double { sqrt(max(axes[0].p00, axes[1].p00)) }

    mutating func predict() {
        let h = max(axes[3].x, 1)
        let qp = pow(Self.positionWeight * h, 2), qv = pow(Self.velocityWeight * h, 2)
        for i in axes.indices { axes[i].predict(qPosition: qp, qVelocity: qv) }
    }

    /// `noise` scales the measurement noise: 1 for a detection, more for a flow estimate.
    mutating func update(_ box: Box, noise: Double = 1) {
        let h = max(axes[3].x, 1)
        let r = pow(Self.positionWeight * h * noise, 2)
        let z = [box.centerX, box.centerY, box.w, box.h]
        for i in axes.indices { axes[i].update(z[i], r: r) }
    }
}
