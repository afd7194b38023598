import Foundation

/// A blocking FIFO between two pipeline stages, bounded by what its items weigh. A full queue
/// blocks the producer, so a fast decoder cannot fill memory ahead of a slow detector: memory
/// stays flat however long the video. `cancel()` wakes both sides for good (a stage failed
/// downstream).
///
/// Two bounds: at most `capacity` heavy items (decoded pictures: 3 MB each at 1080p) and at
/// most `itemLimit` items of any kind (audio packets, a few hundred bytes each, and status).
/// Counting pictures and packets alike made the pictures in flight depend on the input: about
/// 3 of 8 items were pictures with an audio track, all 8 without one.
final class BoundedQueue<Element>: @unchecked Sendable {
    /// Popped slots are set to nil at once: a popped picture must not stay referenced here until
    /// the array is compacted (that held up to 64 decoded pictures, 200 MB at 1080p). Each item
    /// keeps the weight `isHeavy` gave it when pushed, so pop does not ask again.
    private var items: [(element: Element, heavy: Bool)?] = []
    private var head = 0
    private let capacity: Int
    private let itemLimit: Int
    private let isHeavy: (Element) -> Bool
    private var heavyCount = 0
    private let condition = NSCondition()
    private var cancelled = false

    /// `capacity`: heavy items at most; `itemLimit`: items at most (at least `capacity`);
    /// `isHeavy`: which items count against `capacity` (all, by default).
    init(capacity: Int, itemLimit: Int? = nil, isHeavy: @escaping (Element) -> Bool = { _ in true }) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.itemLimit = max(capacity, itemLimit ?? capacity)
        self.isHeavy = isHeavy
    }

    private var count: Int { items.count - head }

    /// Blocks while full. Returns false (dropping `element`) once the queue is cancelled.
    @discardableResult
    func push(_ element: Element) -> Bool {
        let heavy = isHeavy(element)
        condition.lock()
        defer { condition.unlock() }
        while (count >= itemLimit || (heavy && heavyCount >= capacity)) && !cancelled { condition.wait() }
        if cancelled { return false }
        items.append((element, heavy))
        if heavy { heavyCount += 1 }
        condition.broadcast()
        return true
    }

    /// Blocks while empty. Returns nil once the queue is cancelled.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !cancelled { condition.wait() }
        if cancelled { return nil }
        guard let (element, heavy) = items[head] else { preconditionFailure("BoundedQueue: popped slot read twice") }
        items[head] = nil
        head += 1
        if heavy { heavyCount -= 1 }
        if head > 64 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return element
    }

    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
        head = 0
        heavyCount = 0
        condition.broadcast()
        condition.unlock()
    }
}
