import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Who holds a job lock, as written into the lock file for humans (and for the `job_locked` event).
public struct LockHolder: Codable, Equatable, Sendable, CustomStringConvertible {
    public var pid: Int32
    public var host: String
    /// ISO-8601 UTC time the lock was taken.
    public var started: String
    public var job: String

    public var description: String { "pid \(pid) on \(host) since \(started)" }
}

/// The exclusive `flock(2)` on a lock file that its holders unlink as they release it (JobLock,
/// SidecarLock). A process that opened the old file just before that and then gets the lock finds,
/// by comparing inode numbers, that the path no longer names its file, and starts over.
enum LockFile {
    /// Opens `url` (creating it) and takes the lock, waiting for it when `waiting`; returns the
    /// descriptor. Without waiting, when another process holds it: calls `whenHeld` with the
    /// open file (to read what the holder wrote) and returns nil. `reportPath` names the file the
    /// lock is for in errors (`.output`).
    static func lock(_ url: URL, waiting: Bool, reportPath: String, whenHeld: (Int32) -> Void = { _ in }) throws -> Int32? {
        // A few rounds at most: each retry means another process released (unlinked) the file
        // between our open and our flock.
        for _ in 0..<16 {
            // The holder's details are written over what the file held (`JobLock.writeHolder`
            // truncates it): never through a link (`RegularFile.openInPlace`).
            let fd: Int32
            switch RegularFile.openInPlace(url.path, flags: O_RDWR) {
            case .opened(let opened):
                fd = opened
            case .unlinked:
                // Released (unlinked) by its holder since our open: start over, as below.
                continue
            case .symbolicLink:
                throw RedactError.output(path: reportPath, detail: "lock file \(url.lastPathComponent) is a symbolic link; redact never writes through one (remove it)")
            case .notOwn:
                throw RedactError.output(path: reportPath, detail: "lock file \(url.lastPathComponent) is not a file of its own (another kind of file, or a hard link to another name); redact does not write into it (remove it)")
            case .failed(let code):
                throw RedactError.output(path: reportPath, detail: "cannot create lock file \(url.lastPathComponent): \(AtomicFile.errnoString(code))")
            }
            var r: Int32
            repeat { r = flock(fd, waiting ? LOCK_EX : LOCK_EX | LOCK_NB) } while r != 0 && errno == EINTR
            if r != 0 {
                let code = errno
                if !waiting && code == EWOULDBLOCK {
                    whenHeld(fd)
                    close(fd)
                    return nil
                }
                close(fd)
                throw RedactError.output(path: reportPath, detail: "cannot lock \(url.lastPathComponent): \(AtomicFile.errnoString(code))")
            }
            var mine = stat(), named = stat()
            guard fstat(fd, &mine) == 0, lstat(url.path, &named) == 0,
                  mine.st_ino == named.st_ino, mine.st_dev == named.st_dev else {
                // The previous holder released (unlinked) this file after we opened it.
                close(fd)
                continue
            }
            return fd
        }
        throw RedactError.output(path: reportPath, detail: "lock file \(url.lastPathComponent) keeps being replaced")
    }
}

/// The per-output lock that keeps two `redact run` processes (say, overlapping cron runs of one
/// manifest) off the same job: `.NAME.lock` beside the output `NAME`, held with
/// `flock(2)` `LOCK_EX | LOCK_NB` for as long as the job runs (resume check, processing, journal).
///
/// The kernel drops a flock when its holder dies, even on SIGKILL, so a lock file left behind by a
/// killed process is simply taken by the next run: that is the stale-lock recovery, and no pid is
/// trusted for it. The pid, host, start time and job id written into the file are for humans.
///
/// `release()` unlinks the file while still holding the lock. A process that opened the old file
/// just before that and then gets the lock finds, by comparing inode numbers, that the path no
/// longer names its file, and starts over; so at most one process at a time holds the lock on the
/// file the path names.
public final class JobLock: @unchecked Sendable {
    public let url: URL
    /// When this process took the lock.
    public let acquired: Date
    private var fd: Int32
    private let lock = NSLock()

    public enum Attempt {
        case acquired(JobLock)
        /// Another process holds it; `holder` is what it wrote into the file (nil if unreadable yet).
        case heldByOther(holder: LockHolder?)
    }

    private init(url: URL, fd: Int32, acquired: Date) {
        self.url = url
        self.fd = fd
        self.acquired = acquired
    }

    deinit { release() }

    /// `.NAME.lock` in the output's directory.
    public static func lockURL(for output: URL) -> URL {
        output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).lock")
    }

    /// Takes the lock of `output` without waiting. Creates the output's directory if needed.
    /// Throws `.output` when the lock file cannot be created (e.g. a read-only directory).
    public static func tryAcquire(output: URL, jobID: String) throws -> Attempt {
        let url = lockURL(for: output)
        let dir = output.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw RedactError.output(path: output.path, detail: "cannot create directory \(dir.path)")
        }
        var holder: LockHolder?
        guard let fd = try LockFile.lock(url, waiting: false, reportPath: output.path, whenHeld: { holder = readHolder($0) }) else {
            return .heldByOther(holder: holder)
        }
        let now = Date()
        writeHolder(LockHolder(pid: getpid(), host: hostName(), started: Receipts.iso8601(now), job: jobID), to: fd)
        return .acquired(JobLock(url: url, fd: fd, acquired: now))
    }

    /// Removes the lock file and drops the lock. Idempotent.
    public func release() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        unlink(url.path)
        close(fd)
        fd = -1
    }

    // MARK: - Stale temporaries

    /// Deletes hidden temporaries of `output` and of its receipt (`.NAME.partial-PID-RANDOM`,
    /// `.NAME.receipt.json.partial-PID-RANDOM`) left by a process that died without cleaning up
    /// (SIGKILL, a second SIGINT, a crash). Call it only while holding the output's lock: any other
    /// `redact run` writing this output would hold it. As a guard against a standalone
    /// `redact render`/`mux`/`sign` (which take no lock) writing the same path, a file is only
    /// removed if it was last modified before `before` and its writer's pid is not a live process
    /// on this machine. Returns the names removed.
    @discardableResult
    public static func removeStalePartials(of output: URL, before: Date) -> [String] {
        let dir = output.deletingLastPathComponent()
        let name = output.lastPathComponent
        let prefixes = [".\(name).partial-", ".\(Receipts.receiptURL(for: output).lastPathComponent).partial-"]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        var removed: [String] = []
        for entry in entries {
            guard let prefix = prefixes.first(where: { entry.hasPrefix($0) }) else { continue }
            let rest = entry.dropFirst(prefix.count)
            if let pidText = rest.split(separator: "-").first, let pid = Int32(pidText) {
                if pid == getpid() { continue }
                if kill(pid, 0) == 0 || errno == EPERM { continue }
            }
            let path = dir.appendingPathComponent(entry).path
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            let modified = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            guard modified < before.timeIntervalSince1970 else { continue }
            if unlink(path) == 0 { removed.append(entry) }
        }
        return removed.sorted()
    }

    // MARK: - Internals

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(cString: buffer)
    }

    private static func writeHolder(_ holder: LockHolder, to fd: Int32) {
        guard var data = try? JSONFiles.encoder().encode(holder) else { return }
        data.append(0x0A)
        _ = ftruncate(fd, 0)
        data.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            _ = pwrite(fd, base, buffer.count, 0)
        }
    }

    private static func readHolder(_ fd: Int32) -> LockHolder? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return try? JSONDecoder().decode(LockHolder.self, from: Data(buffer[0..<n]))
    }
}
