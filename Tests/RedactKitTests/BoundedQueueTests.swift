import Foundation
import XCTest

@testable import RedactKit

/// The queue between two stages: what it bounds, and that it lets go of what it hands out.
final class BoundedQueueTests: XCTestCase {
    private final class Picture {}
    /// Written by one thread before it signals, read by the test after waiting.
    private final class Outcome: @unchecked Sendable { var value: Bool? }

    /// A popped item is no longer referenced by the queue: a stage that drops a decoded picture
    /// frees it (the queue used to keep up to 64 popped items, 200 MB of pictures at 1080p).
    func testPoppedItemIsReleasedAtOnce() {
        let queue = BoundedQueue<Picture>(capacity: 4)
        weak var released: Picture?
        do {
            let picture = Picture()
            released = picture
            XCTAssertTrue(queue.push(picture))
            XCTAssertTrue(queue.push(Picture()))
        }
        XCTAssertNotNil(released, "a queued picture is kept until popped")
        do {
            let popped = queue.pop()
            XCTAssertNotNil(popped)
        }
        XCTAssertNil(released, "the queue still references a picture it handed out")
    }

    /// Heavy items (pictures) are bounded by `capacity`; light ones (audio packets) only by
    /// `itemLimit`, so they never take a picture's place, and a full queue of pictures still
    /// takes them.
    func testPicturesAreBoundedByCapacityAndEverythingByItemLimit() {
        let queue = BoundedQueue<Int>(capacity: 2, itemLimit: 5) { $0 > 0 }  // > 0: a picture
        XCTAssertTrue(queue.push(1))
        XCTAssertTrue(queue.push(2))
        XCTAssertTrue(queue.push(-1), "an audio packet goes in beside two pictures")
        XCTAssertTrue(queue.push(-2))

        let thirdPicturePushed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            queue.push(3)
            thirdPicturePushed.signal()
        }
        XCTAssertEqual(thirdPicturePushed.wait(timeout: .now() + 0.3), .timedOut, "a third picture must wait")
        XCTAssertEqual(queue.pop(), 1)
        XCTAssertEqual(thirdPicturePushed.wait(timeout: .now() + 30), .success, "popping a picture makes room for one")

        // Now 2, -1, -2, 3: the fifth item reaches the item limit; a sixth, even light, waits.
        XCTAssertTrue(queue.push(-3))
        let sixthPushed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            queue.push(-4)
            sixthPushed.signal()
        }
        XCTAssertEqual(sixthPushed.wait(timeout: .now() + 0.3), .timedOut, "the item limit bounds light items too")
        XCTAssertEqual(queue.pop(), 2)
        XCTAssertEqual(sixthPushed.wait(timeout: .now() + 30), .success)
        XCTAssertEqual([queue.pop(), queue.pop(), queue.pop(), queue.pop(), queue.pop()], [-1, -2, 3, -3, -4], "order is kept")
    }

    /// An item weighs what `isHeavy` said when it was pushed: asked again at pop, an answer that
    /// changed in between (a picture released to a reused buffer, say) would leave the picture
    /// count wrong, and the queue would block for good or hold more pictures than its bound.
    func testAnItemIsWeighedOnceWhenPushed() {
        final class Item { var heavy = true }
        var asked = 0
        let queue = BoundedQueue<Item>(capacity: 1, itemLimit: 4) { item in
            asked += 1
            return item.heavy
        }
        let first = Item()
        XCTAssertTrue(queue.push(first))
        first.heavy = false
        XCTAssertTrue(queue.pop() === first)
        XCTAssertEqual(asked, 1, "weighed at push only")
        let pushed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            queue.push(Item())
            pushed.signal()
        }
        XCTAssertEqual(pushed.wait(timeout: .now() + 30), .success, "the popped picture freed its place")
    }

    /// Cancelling wakes a producer blocked on a full queue, and nothing is delivered after.
    func testCancelWakesABlockedProducer() {
        let queue = BoundedQueue<Int>(capacity: 1)
        XCTAssertTrue(queue.push(1))
        let result = DispatchSemaphore(value: 0)
        let accepted = Outcome()
        DispatchQueue.global().async {
            accepted.value = queue.push(2)
            result.signal()
        }
        XCTAssertEqual(result.wait(timeout: .now() + 0.3), .timedOut)
        queue.cancel()
        XCTAssertEqual(result.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(accepted.value, false)
        XCTAssertNil(queue.pop())
    }
}
