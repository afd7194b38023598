import Foundation

/// Something that happened in a batch; printed as a progress bar or as one JSON line each.
public enum BatchEvent: Sendable {
    /// The job is being processed; `redo` says why an existing output is replaced (nil: there was none).
    case jobStarted(id: String, input: String, redo: String?)
    case progress(JobProgress)
    case jobDone(JobResult)
    /// Up to date: output and receipt verify and match this run's input, configuration and tool.
    case jobSkipped(JobSkip)
    /// Another process holds the job's lock and is processing it (or checking it).
    case jobLocked(id: String, output: String, lock: String, holder: LockHolder?)
    case jobFailed(id: String, error: RedactError)
    /// A journal line could not be written (the job's own outcome is unaffected).
    case journalFailed(RedactError)
    case batchDone(done: Int, failed: Int, skipped: Int, locked: Int)
}

/// How a batch treats existing outputs and what it records.
public struct BatchOptions: Sendable {
    /// Where each job's outcome is appended (nil: not recorded).
    public var journal: Journal?
    /// Redo every job, even one whose output is up to date.
    public var force: Bool
    /// Run only these job ids (`--retry-failed`); nil: every job.
    public var onlyJobs: Set<String>?

    public init(journal: Journal? = nil, force: Bool = false, onlyJobs: Set<String>? = nil) {
        self.journal = journal
        self.force = force
        self.onlyJobs = onlyJobs
    }
}

/// What a batch did, job by job.
public struct BatchOutcome: Sendable {
    /// Processed by this run, in manifest order.
    public var done: [JobResult]
    /// Already up to date, in manifest order.
    public var skipped: [JobSkip]
    /// Left to another process that held their lock.
    public var locked: [String]
    public var failed: [String: RedactError]
    /// Journal lines that could not be written.
    public var journalErrors: [RedactError]
}

/// Runs a manifest's jobs, `parallelJobs` at a time. A failed job is reported and the rest of
/// the batch goes on; each job's own failure never leaves a file at its output path.
///
/// Each job runs under its output's lock (`JobLock`), after the resume check (`ResumeCheck`),
/// and its outcome is appended to the journal (`Journal`). See docs/batch.md.
public final class BatchRunner: @unchecked Sendable {
    let manifest: Manifest
    let runner: JobRunner
    let parallelJobs: Int
    let options: BatchOptions
    let registry: ModelRegistry
    let publicKey: PublicKey

    public init(manifest: Manifest, registry: ModelRegistry, signingKey: SigningKey, parallelJobs: Int,
                options: BatchOptions = BatchOptions()) {
        self.manifest = manifest
        self.runner = JobRunner(registry: registry, signingKey: signingKey, parallelJobs: parallelJobs)
        self.parallelJobs = max(1, parallelJobs)
        self.options = options
        self.registry = registry
        self.publicKey = signingKey.publicKey
    }

    /// Runs every job (or those of `options.onlyJobs`); `events` is called from one thread at a time.
    public func run(events: @escaping @Sendable (BatchEvent) -> Void) -> BatchOutcome {
        let eventLock = NSLock()
        let emit: @Sendable (BatchEvent) -> Void = { e in
            eventLock.lock()
            events(e)
            eventLock.unlock()
        }
        let slots = DispatchSemaphore(value: parallelJobs)
        let group = DispatchGroup()
        let results = BatchResults()
        let jobs = manifest.jobs.filter { options.onlyJobs?.contains($0.id) ?? true }
        for job in jobs {
            slots.wait()
            if Cancellation.shared.isCancelled {
                slots.signal()
                break
            }
            group.enter()
            DispatchQueue.global().async { [self] in
                defer {
                    slots.signal()
                    group.leave()
                }
                process(job, emit: emit, results: results)
            }
        }
        group.wait()
        var outcome = results.snapshot()
        emit(.batchDone(done: outcome.done.count, failed: outcome.failed.count, skipped: outcome.skipped.count, locked: outcome.locked.count))
        let order = Dictionary(uniqueKeysWithValues: manifest.jobs.enumerated().map { ($1.id, $0) })
        outcome.done.sort { order[$0.id]! < order[$1.id]! }
        outcome.skipped.sort { order[$0.id]! < order[$1.id]! }
        outcome.locked.sort { order[$0]! < order[$1]! }
        return outcome
    }

    /// One job: lock, resume check, run, journal, unlock.
    private func process(_ job: ManifestJob, emit: @escaping @Sendable (BatchEvent) -> Void, results: BatchResults) {
        let journal: @Sendable (JournalEntry) -> Void = { [options] entry in
            guard let j = options.journal else { return }
            do {
                try j.append(entry)
            } catch {
                let e = (error as? RedactError) ?? .output(path: j.url.path, detail: "\(error)")
                results.journalFailed(e)
                emit(.journalFailed(e))
            }
        }
        let skip: (JobSkip) -> Void = { s in
            journal(JournalEntry(job: job.id, status: .skipped, output: s.output, inputSHA256: s.inputSHA256,
                                 configSHA256: s.configSHA256, reason: "up to date: receipt of \(s.receiptCreated) verifies and matches"))
            results.skip(s)
            emit(.jobSkipped(s))
        }
        let fail: (Error) -> Void = { error in
            let e = (error as? RedactError) ?? .encode(path: job.output.path, frame: nil, detail: "\(error)")
            var sha: String?
            if case .inputHashMismatch(_, _, let actual) = e { sha = actual }
            journal(JournalEntry(job: job.id, status: .failed, output: job.output.path, inputSHA256: sha,
                                 error: e.description, exitCode: e.exitCode))
            results.fail(job.id, e)
            emit(.jobFailed(id: job.id, error: e))
        }

        do {
            try EvidencePolicy.check(job)
        } catch {
            fail(error)
            return
        }
        let lock: JobLock
        do {
            switch try JobLock.tryAcquire(output: job.output, jobID: job.id) {
            case .acquired(let l):
                lock = l
            case .heldByOther(let holder):
                let lockPath = JobLock.lockURL(for: job.output).path
                journal(JournalEntry(job: job.id, status: .locked, output: job.output.path,
                                     reason: "lock \(lockPath) held by " + (holder?.description ?? "another process")))
                results.lockedByOther(job.id)
                emit(.jobLocked(id: job.id, output: job.output.path, lock: lockPath, holder: holder))
                return
            }
        } catch {
            // No lock can be made here (a read-only output directory, say): an output that is
            // already up to date is still recognised; anything else fails with the lock error.
            if !options.force, case .upToDate(let s) = ResumeCheck.evaluate(job: job, publicKey: publicKey, registry: registry) {
                skip(s)
            } else {
                fail(error)
            }
            return
        }
        defer { lock.release() }
        // Holding the lock: no other run is writing this output, so its temporaries are stale.
        JobLock.removeStalePartials(of: job.output, before: lock.acquired)
        if Cancellation.shared.isCancelled {
            fail(RedactError.interrupted)
            return
        }
        // Checked only now, under the lock: another run may have just finished this job.
        var redo: String?
        if options.force {
            redo = "--force"
        } else {
            switch ResumeCheck.evaluate(job: job, publicKey: publicKey, registry: registry) {
            case .upToDate(let s):
                skip(s)
                return
            case .missing:
                redo = nil
            case .redo(let reason):
                redo = reason
            }
        }
        emit(.jobStarted(id: job.id, input: job.input.path, redo: redo))
        do {
            let result = try runner.run(job) { emit(.progress($0)) }
            journal(JournalEntry(job: job.id, status: .done, output: result.output, inputSHA256: result.inputSHA256,
                                 configSHA256: ResumeCheck.configSHA256(job.config)))
            results.add(result)
            emit(.jobDone(result))
        } catch {
            fail(error)
        }
    }
}

/// Results gathered from concurrently running jobs.
private final class BatchResults: @unchecked Sendable {
    private let lock = NSLock()
    private var outcome = BatchOutcome(done: [], skipped: [], locked: [], failed: [:], journalErrors: [])

    private func with(_ body: (inout BatchOutcome) -> Void) {
        lock.lock()
        body(&outcome)
        lock.unlock()
    }

    func add(_ r: JobResult) { with { $0.done.append(r) } }
    func skip(_ s: JobSkip) { with { $0.skipped.append(s) } }
    func lockedByOther(_ id: String) { with { $0.locked.append(id) } }
    func fail(_ id: String, _ e: RedactError) { with { $0.failed[id] = e } }
    func journalFailed(_ e: RedactError) { with { $0.journalErrors.append(e) } }

    func snapshot() -> BatchOutcome {
        lock.lock()
        defer { lock.unlock() }
        return outcome
    }
}
