import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A job's input, opened once and read through that one open file for the whole job: hashed
/// through the descriptor, decoded through `/proc/self/fd/N` (which opens the same file again,
/// whatever the path names by then), hashed again at the end, and checked unchanged.
///
/// The receipt names the input by the SHA-256 of its bytes, so the pictures redacted must be
/// those bytes. Hashing the path, then opening the path again to decode it, left a window: a
/// file moved over the input between the two (and moved back before the hash at the end) was
/// decoded, redacted and signed as the input it was not; a job waiting for a tracks file's lock
/// between the two made the window seconds long, and the tracks file it then sealed carried the
/// other video's boxes to later jobs on the real input (found by an adversarial review here).
final class PinnedInput {
    /// The input as named (errors, receipts).
    let path: String
    /// What libavformat opens: this process's descriptor of the file.
    let readPath: String
    private let fd: Int32
    private let opened: stat

    init(path: String) throws {
        self.path = path
        let fd = try RegularFile.openForReading(path)
        guard fd >= 0 else { throw RedactError.inputNotFound(path: path) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw RedactError.inputNotFound(path: path)
        }
        self.fd = fd
        opened = st
        readPath = "/proc/self/fd/\(fd)"
    }

    deinit { close(fd) }

    /// SHA-256 and size of the open file (`FileDigest`).
    func sha256AndSize(cancellable: Bool = false) throws -> (sha256: String, size: Int) {
        try FileDigest.sha256AndSize(fd: fd, path: path, cancellable: cancellable)
    }

    /// Fails (`.badMedia`) unless the input is still what was hashed at `start`: the same bytes,
    /// not written to since it was opened (its change time, which no one but the kernel sets,
    /// catches bytes written and put back), and still the file the path names.
    func checkUnchanged(since start: (sha256: String, size: Int)) throws {
        let end = try sha256AndSize()
        var now = stat(), named = stat()
        let same = end == start && fstat(fd, &now) == 0
            && now.st_size == opened.st_size
            && now.st_mtim.tv_sec == opened.st_mtim.tv_sec && now.st_mtim.tv_nsec == opened.st_mtim.tv_nsec
            && now.st_ctim.tv_sec == opened.st_ctim.tv_sec && now.st_ctim.tv_nsec == opened.st_ctim.tv_nsec
        guard same else {
            throw RedactError.badMedia(path: path, detail: "changed while it was being redacted (SHA-256 \(start.sha256), \(start.size) bytes at the start; \(end.sha256), \(end.size) bytes at the end, or written to and put back): still being written? Nothing was output; run it again once it is complete")
        }
        guard stat(path, &named) == 0, named.st_dev == opened.st_dev, named.st_ino == opened.st_ino else {
            throw RedactError.badMedia(path: path, detail: "was replaced by another file while it was being redacted (moved, copied over or deleted): the output, made from the file opened at the start, is not written; run it again")
        }
    }
}
