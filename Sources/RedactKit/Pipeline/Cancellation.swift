import Foundation

/// Stops running work from outside (SIGINT, SIGTERM, SIGHUP): once cancelled, batches start no new job
/// and every registered queue is cancelled, which unwinds each stage; the job then fails with
/// `.interrupted` and removes its temporary output like any failed job.
public final class Cancellation: @unchecked Sendable {
    public static let shared = Cancellation()
    private let lock = NSLock()
    private var cancelled = false
    private var queues: [ObjectIdentifier: () -> Void] = [:]

    public init() {}

    public var isCancelled: Bool {
        lock.lock()
        defer { lock.unlock() }
        return cancelled
    }

    public func cancel() {
        lock.lock()
        cancelled = true
        let actions = Array(queues.values)
        queues.removeAll()
        lock.unlock()
        actions.forEach { $0() }
    }

    /// Registers a queue to cancel; if already cancelled, cancels it at once.
    func register<T>(_ queue: BoundedQueue<T>) {
        lock.lock()
        if cancelled {
            lock.unlock()
            queue.cancel()
            return
        }
        queues[ObjectIdentifier(queue)] = { [weak queue] in queue?.cancel() }
        lock.unlock()
    }

    func unregister<T>(_ queue: BoundedQueue<T>) {
        lock.lock()
        queues.removeValue(forKey: ObjectIdentifier(queue))
        lock.unlock()
    }
}
