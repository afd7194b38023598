import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Inputs are regular files. A FIFO or a device named as an input (`/dev/zero`, a named pipe a
/// recorder writes into) was hashed without end, or blocked opening until a writer came, and a
/// signal could not stop either: the batch hung holding its lock.
enum RegularFile {
    /// What `st_mode` is when it is not a regular file ("a directory", "a FIFO", ...); nil for a
    /// regular file.
    static func otherKind(mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a file"
        }
    }

    /// Throws `.notAFile` if `path` (links followed) exists and is not a regular file; a missing
    /// path is left to the caller's own error. stat(2) does not open, so a FIFO does not block here.
    static func check(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { return }
        if let kind = otherKind(mode: st.st_mode) { throw RedactError.notAFile(path: path, kind: kind) }
    }

    /// Opens `path` for reading, refusing anything but a regular file (checked on the open
    /// descriptor: no window between check and use). O_NONBLOCK keeps a FIFO from blocking the
    /// open; it changes nothing for a regular file. Returns the descriptor, or -1 with errno set.
    static func openForReading(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return -1 }
        var st = stat()
        if fstat(fd, &st) == 0, let kind = otherKind(mode: st.st_mode) {
            close(fd)
            throw RedactError.notAFile(path: path, kind: kind)
        }
        return fd
    }
}
