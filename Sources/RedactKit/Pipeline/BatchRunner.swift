import Foundation

/// Something that happened in a batch; printed as a progress bar or as one JSON line each.
public enum BatchEvent: Sendable {
    case jobStarted(id: String, input: String)
    case progress(JobProgress)
    case jobDone(JobResult)
    case jobFailed(id: String, error: RedactError)
    case batchDone(done: Int, failed: Int)
}

/// Runs a manifest's jobs, `parallelJobs` at a time. A failed job is reported and the rest of
/// the batch goes on; each job's own failure never leaves a file at its output path.
public final class BatchRunner: @unchecked Sendable {
    let manifest: Manifest
    let runner: JobRunner
    let parallelJobs: Int

    public init(manifest: Manifest, registry: ModelRegistry, signingKey: SigningKey, parallelJobs: Int) {
        self.manifest = manifest
        self.runner = JobRunner(registry: registry, signingKey: signingKey)
        self.parallelJobs = max(1, parallelJobs)
    }

    /// Runs every job; `events` is called from one thread at a time.
    public func run(events: @escaping @Sendable (BatchEvent) -> Void) -> (done: [JobResult], failed: [String: RedactError]) {
        let eventLock = NSLock()
        let emit: @Sendable (BatchEvent) -> Void = { e in
            eventLock.lock()
            events(e)
            eventLock.unlock()
        }
        let slots = DispatchSemaphore(value: parallelJobs)
        let group = DispatchGroup()
        let results = BatchResults()
        for job in manifest.jobs {
            slots.wait()
            if Cancellation.shared.isCancelled {
                slots.signal()
                break
            }
            group.enter()
            DispatchQueue.global().async { [runner] in
                defer {
                    slots.signal()
                    group.leave()
                }
                emit(.jobStarted(id: job.id, input: job.input.path))
                do {
                    let result = try runner.run(job) { emit(.progress($0)) }
                    results.add(result)
                    emit(.jobDone(result))
                } catch {
                    let e = (error as? RedactError) ?? .encode(path: job.output.path, frame: nil, detail: "\(error)")
                    results.fail(job.id, e)
                    emit(.jobFailed(id: job.id, error: e))
                }
            }
        }
        group.wait()
        let (done, failed) = results.snapshot()
        emit(.batchDone(done: done.count, failed: failed.count))
        let order = Dictionary(uniqueKeysWithValues: manifest.jobs.enumerated().map { ($1.id, $0) })
        return (done.sorted { order[$0.id]! < order[$1.id]! }, failed)
    }
}

/// Results gathered from concurrently running jobs.
private final class BatchResults: @unchecked Sendable {
    private let lock = NSLock()
    private var done: [JobResult] = []
    private var failed: [String: RedactError] = [:]

    func add(_ r: JobResult) {
        lock.lock()
        done.append(r)
        lock.unlock()
    }

    func fail(_ id: String, _ e: RedactError) {
        lock.lock()
        failed[id] = e
        lock.unlock()
    }

    func snapshot() -> ([JobResult], [String: RedactError]) {
        lock.lock()
        defer { lock.unlock() }
        return (done, failed)
    }
}
