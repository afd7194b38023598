import Foundation

/// A blocking FIFO of fixed capacity between two pipeline stages. A full queue blocks the
/// producer, so a fast decoder cannot fill memory ahead of a slow detector: memory stays flat
/// however long the video. `cancel()` wakes both sides for good (a stage failed downstream).
final class BoundedQueue<Element>: @unchecked Sendable {
    private var items: [Element] = []
    private var head = 0
    private let capacity: Int
    private let condition = NSCondition()
    private var cancelled = false

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    private var count: Int { items.count - head }

    /// Blocks while full. Returns false (dropping `element`) once the queue is cancelled.
    @discardableResult
    func push(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count >= capacity && !cancelled { condition.wait() }
        if cancelled { return false }
        items.append(element)
        condition.broadcast()
        return true
    }

    /// Blocks while empty. Returns nil once the queue is cancelled.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !cancelled { condition.wait() }
        if cancelled { return nil }
        let element = items[head]
        head += 1
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
        condition.broadcast()
        condition.unlock()
    }
}
