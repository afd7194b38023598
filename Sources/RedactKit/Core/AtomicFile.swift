import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash-safe file replacement: the final name either does not exist, holds the old bytes,
/// or holds the complete new bytes, never a partial file.
///
/// Temporary files live in the final file's directory (so rename(2) is atomic) and are named
/// `.NAME.partial-<pid>-<random>`: hidden, and never mistaken for an output.
public enum AtomicFile {
    /// A fresh temporary path beside `final`.
    public static func temporaryURL(for final: URL) -> URL {
        let random = String(UInt64.random(in: .min ... .max), radix: 16)
        let name = ".\(final.lastPathComponent).partial-\(getpid())-\(random)"
        return final.deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Writes `data` to a temporary file created with `permissions` (less the umask), fsyncs it,
    /// renames it over `final` and fsyncs the directory. With `overwrite: false` an existing
    /// `final` is left untouched and `.output` is thrown (atomically: link(2), not a check-then-write).
    public static func write(_ data: Data, to final: URL, permissions: mode_t = 0o644, overwrite: Bool = true) throws {
        let temp = temporaryURL(for: final)
        let fd = open(temp.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else {
            throw RedactError.output(path: final.path, detail: "cannot create temporary file \(temp.lastPathComponent): \(errnoString())")
        }
        do {
            try writeAll(fd: fd, data: data, final: final)
            guard fsync(fd) == 0 else {
                throw RedactError.output(path: final.path, detail: "fsync failed: \(errnoString())")
            }
        } catch {
            close(fd)
            unlink(temp.path)
            throw error
        }
        guard close(fd) == 0 else {
            let reason = errnoString()
            unlink(temp.path)
            throw RedactError.output(path: final.path, detail: "close failed: \(reason)")
        }
        try install(temporary: temp, final: final, overwrite: overwrite)
    }

    /// Makes an already-written temporary file (e.g. from `temporaryURL(for:)`) durable and moves it
    /// over `final`: fsync the file, rename(2), fsync the directory. On failure the temporary file is removed.
    public static func commit(temporary: URL, to final: URL, overwrite: Bool = true) throws {
        let fd = open(temporary.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errnoString()
            unlink(temporary.path)
            throw RedactError.output(path: final.path, detail: "cannot open temporary file \(temporary.lastPathComponent): \(reason)")
        }
        let synced = fsync(fd) == 0
        let reason = synced ? "" : errnoString()
        close(fd)
        guard synced else {
            unlink(temporary.path)
            throw RedactError.output(path: final.path, detail: "fsync failed: \(reason)")
        }
        try install(temporary: temporary, final: final, overwrite: overwrite)
    }

    // MARK: - Internals

    private static func install(temporary: URL, final: URL, overwrite: Bool) throws {
        if overwrite {
            guard rename(temporary.path, final.path) == 0 else {
                let reason = errnoString()
                unlink(temporary.path)
                throw RedactError.output(path: final.path, detail: "rename failed: \(reason)")
            }
        } else {
            // link(2) fails with EEXIST instead of replacing: an atomic "create if absent".
            guard link(temporary.path, final.path) == 0 else {
                let code = errno
                let reason = code == EEXIST ? "file already exists; refusing to overwrite it" : "link failed: \(errnoString(code))"
                unlink(temporary.path)
                throw RedactError.output(path: final.path, detail: reason)
            }
            unlink(temporary.path)
        }
        try syncDirectory(of: final)
    }

    /// Removes `final` (if present) durably: unlink(2), then fsync the directory.
    public static func remove(_ final: URL) throws {
        guard unlink(final.path) == 0 || errno == ENOENT else {
            throw RedactError.output(path: final.path, detail: "cannot remove the previous file: \(errnoString())")
        }
        try syncDirectory(of: final)
    }

    private static func syncDirectory(of final: URL) throws {
        let dir = final.deletingLastPathComponent().path
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw RedactError.output(path: final.path, detail: "cannot open directory to fsync: \(errnoString())")
        }
        defer { close(fd) }
        // Some filesystems cannot fsync a directory (EINVAL); the rename itself has happened.
        if fsync(fd) != 0 && errno != EINVAL {
            throw RedactError.output(path: final.path, detail: "fsync of directory failed: \(errnoString())")
        }
    }

    private static func writeAll(fd: Int32, data: Data, final: URL) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let n = sysWrite(fd, base + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RedactError.output(path: final.path, detail: "write failed: \(errnoString())")
                }
                offset += n
            }
        }
    }

    private static func sysWrite(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) -> Int {
        #if canImport(Glibc)
        return Glibc.write(fd, buf, count)
        #else
        return Darwin.write(fd, buf, count)
        #endif
    }

    static func errnoString(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }
}
