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

    /// What `openInPlace` found at a path.
    enum InPlace {
        /// A regular file with this one name, open.
        case opened(Int32)
        /// A symbolic link: not opened.
        case symbolicLink
        /// Another kind of file, or a regular file with other names (a hard link): not kept open.
        case notOwn
        /// Removed by another process between the open and the check: not kept open.
        case unlinked
        /// open(2) failed with this errno.
        case failed(Int32)
    }

    /// Opens `path`, creating it (0644), for writing into in place (`flags`: the access mode and
    /// O_APPEND): a job's lock, whose holder's details are written over what it held, and the
    /// journal. Never through a symbolic link (O_NOFOLLOW), and only a regular file with one
    /// name: a link planted at a lock's name (`ln -s ../evidence/original.mp4 .OUT.mp4.lock`)
    /// made the lock truncate the original, and a journal linked to a receipt appended to it.
    static func openInPlace(_ path: String, flags: Int32) -> InPlace {
        let fd = open(path, flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            return code == ELOOP ? .symbolicLink : .failed(code)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_nlink <= 1 else {
            close(fd)
            return .notOwn
        }
        if st.st_nlink == 0 {
            close(fd)
            return .unlinked
        }
        return .opened(fd)
    }
}
