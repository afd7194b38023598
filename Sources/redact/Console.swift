import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What redact writes on stdout and stderr, written with write(2) so that a reader that went away
/// cannot end a job half-way.
///
/// Foundation's `FileHandle.write(_:)` traps on any error (it is `try!` inside): with SIGPIPE
/// ignored, a job whose stderr pipe was closed (`| tee` killed, a log collector restarted) or
/// whose terminal hung up (EIO after an SSH session dropped, the job `disown`ed) died in the
/// middle of its work with SIGILL, leaving its temporary output and lock for the next run.
/// Here a stream that fails once is given up: later lines to it are dropped and the work goes
/// on. The job's outcome is never only on the console: receipts and the journal hold it.
enum Console {
    private static let lock = NSLock()
    private static var lost: Set<Int32> = []

    /// One line (or any text) on stderr.
    static func error(_ text: String) { write(Data(text.utf8), to: STDERR_FILENO) }

    /// Bytes on stdout (JSON).
    static func output(_ data: Data) { write(data, to: STDOUT_FILENO) }

    private static func write(_ data: Data, to fd: Int32) {
        lock.lock()
        defer { lock.unlock() }
        guard !lost.contains(fd) else { return }
        let ok = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Bool in
            guard var p = raw.baseAddress else { return true }
            var left = raw.count
            while left > 0 {
                let n = Glibc.write(fd, p, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                p += n
                left -= n
            }
            return true
        }
        if !ok { lost.insert(fd) }
    }
}
