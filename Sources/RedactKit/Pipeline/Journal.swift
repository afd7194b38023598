import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What happened to a job in one `redact run`, as recorded in the journal.
public enum JournalStatus: String, Codable, Sendable {
    /// Processed and signed by this run.
    case done
    /// Already up to date (output and receipt verify and match); not redone.
    case skipped
    /// Failed; `error` and `exit_code` say why.
    case failed
    /// Another process held the job's lock; that process records the outcome.
    case locked
}

/// One line of the journal (JSON, sorted keys).
public struct JournalEntry: Codable, Equatable, Sendable {
    /// ISO-8601 UTC.
    public var time: String
    public var job: String
    public var status: JournalStatus
    public var output: String?
    /// The input's SHA-256 when this run knows it (always for done and skipped).
    public var inputSHA256: String?
    /// done and skipped: SHA-256 of the canonical JSON of the job's effective configuration.
    public var configSHA256: String?
    /// failed: the one-line error.
    public var error: String?
    /// failed: the exit code that error alone would have had.
    public var exitCode: Int32?
    /// skipped: why nothing was redone; locked: who holds the lock.
    public var reason: String?
    /// The process that wrote the line.
    public var pid: Int32

    public init(time: Date = Date(), job: String, status: JournalStatus, output: String? = nil, inputSHA256: String? = nil,
                configSHA256: String? = nil, error: String? = nil, exitCode: Int32? = nil, reason: String? = nil, pid: Int32 = getpid()) {
        self.time = Receipts.iso8601(time)
        self.job = job
        self.status = status
        self.output = output
        self.inputSHA256 = inputSHA256
        self.configSHA256 = configSHA256
        self.error = error
        self.exitCode = exitCode
        self.reason = reason
        self.pid = pid
    }

    enum CodingKeys: String, CodingKey {
        case time, job, status, output
        case inputSHA256 = "input_sha256"
        case configSHA256 = "config_sha256"
        case error
        case exitCode = "exit_code"
        case reason, pid
    }
}

/// The append-only JSON-lines journal of a manifest: one line per job outcome, from every run.
///
/// Each line is written with a single `write(2)` on a descriptor opened with `O_APPEND` and is
/// followed by `fsync(2)`, so lines from concurrent runs do not interleave and a line that was
/// reported is on disk. A line torn by a crash is skipped when the journal is read, and the next
/// run starts on a fresh line. See docs/batch.md.
public final class Journal: @unchecked Sendable {
    public let url: URL
    private var fd: Int32
    private let lock = NSLock()

    /// `MANIFEST.json` -> `MANIFEST.json.journal.jsonl` beside it.
    public static func defaultURL(forManifest manifest: URL) -> URL {
        manifest.deletingLastPathComponent().appendingPathComponent(manifest.lastPathComponent + ".journal.jsonl")
    }

    /// Refuses a journal path that would append to a file the batch reads or writes, or write
    /// inside an evidence directory: `--journal clip.mp4` appended its lines to the original video
    /// before the job hashed it. It must end in `.jsonl` (no input, output, tracks file or
    /// manifest does) and be none of the jobs' files nor the signing key (also as a link).
    public static func checkPath(_ url: URL, manifest: Manifest, signingKey: URL) throws {
        guard url.pathExtension.lowercased() == "jsonl" else {
            throw RedactError.usage("--journal: \(url.path) must end in .jsonl (it is appended to, so it is never a video, manifest or tracks file)")
        }
        // First: the journal's directory is created only once the checks pass (last).
        if let dir = manifest.evidenceDirectories.first(where: { EvidencePolicy.isInside(url, $0, resolvingLinks: true) }) {
            throw RedactError.output(path: url.path, detail: "the journal is inside evidence directory \(dir.path); nothing is written there (give another with --journal)")
        }
        var others = [("the manifest", manifest.sourceURL), ("the signing key", signingKey)]
        for job in manifest.jobs {
            others += [("job \(job.id)'s input", job.input), ("job \(job.id)'s output", job.output),
                       ("job \(job.id)'s receipt", Receipts.receiptURL(for: job.output))]
            if let tracks = job.tracks { others.append(("job \(job.id)'s tracks file", tracks)) }
        }
        for (what, other) in others where OutputPolicy.sameFile(other, url) != nil {
            throw RedactError.output(path: url.path, detail: "is \(what) (\(other.path)); the journal is appended to, so give it a file of its own")
        }
        try OutputPolicy.createDirectory(of: url)
    }

    /// Opens (creating if needed) the journal for appending. Throws `.output` if it cannot.
    public init(url: URL) throws {
        self.url = url
        let existed = FileManager.default.fileExists(atPath: url.path)
        // Not through a link, and a file of its own (`RegularFile.openInPlace`): a journal linked
        // to a receipt of another batch appended a line to it, which then no longer verified (an
        // adversarial review's second pass); `checkPath` can only compare against this batch's files.
        switch RegularFile.openInPlace(url.path, flags: O_WRONLY | O_APPEND) {
        case .opened(let opened):
            fd = opened
        case .symbolicLink:
            throw RedactError.output(path: url.path, detail: "the journal is a symbolic link; redact appends only to a journal file of its own (give its real path)")
        case .notOwn, .unlinked:
            throw RedactError.output(path: url.path, detail: "the journal is not a file of its own (another kind of file, or a hard link to another name); redact does not append to it")
        case .failed(let code):
            throw RedactError.output(path: url.path, detail: "cannot open journal: \(AtomicFile.errnoString(code))")
        }
        if !existed {
            // Make the new directory entry durable too.
            let dfd = open(url.deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dfd >= 0 {
                _ = fsync(dfd)
                close(dfd)
            }
        } else if let last = Self.lastByte(of: url), last != 0x0A {
            // The previous writer died mid-line: start ours on a line of its own.
            try writeLine(Data([0x0A]))
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Appends one entry and fsyncs. Throws `.output` if the line cannot be written or synced.
    public func append(_ entry: JournalEntry) throws {
        var data: Data
        do {
            data = try JSONFiles.encoder().encode(entry)
        } catch {
            throw RedactError.output(path: url.path, detail: "cannot encode journal entry: \(error)")
        }
        data.append(0x0A)
        lock.lock()
        defer { lock.unlock() }
        try writeLine(data)
    }

    private func writeLine(_ data: Data) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                #if canImport(Glibc)
                let n = Glibc.write(fd, base + offset, buffer.count - offset)
                #else
                let n = Darwin.write(fd, base + offset, buffer.count - offset)
                #endif
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RedactError.output(path: url.path, detail: "cannot write journal: \(AtomicFile.errnoString())")
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else {
            throw RedactError.output(path: url.path, detail: "cannot fsync journal: \(AtomicFile.errnoString())")
        }
    }

    private static func lastByte(of url: URL) -> UInt8? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        guard let end = try? handle.seekToEnd(), end > 0 else { return nil }
        try? handle.seek(toOffset: end - 1)
        return (try? handle.read(upToCount: 1))?.first
    }

    // MARK: - Reading

    /// Every entry that parses, in file order; torn or foreign lines are skipped.
    /// A missing journal throws `.inputNotFound`.
    public static func read(_ url: URL) throws -> [JournalEntry] {
        guard FileManager.default.isReadableFile(atPath: url.path),
              let data = try? Data(contentsOf: url) else { throw RedactError.inputNotFound(path: url.path) }
        let decoder = JSONDecoder()
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(JournalEntry.self, from: Data($0)) }
    }

    /// The jobs, among `jobIDs` and in that order, whose latest outcome in the journal is `failed`.
    /// `locked` entries are not outcomes (the lock holder records the outcome) and are ignored.
    public static func failedJobs(in entries: [JournalEntry], among jobIDs: [String]) -> [String] {
        var latest: [String: JournalStatus] = [:]
        for e in entries where e.status != .locked { latest[e.job] = e.status }
        return jobIDs.filter { latest[$0] == .failed }
    }
}
