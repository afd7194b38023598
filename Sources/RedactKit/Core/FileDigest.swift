import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SHA-256 of files of any size, read in fixed 1 MiB chunks so memory stays flat.
public enum FileDigest {
    static let chunkSize = 1 << 20

    /// Lowercase hex SHA-256 of the file's bytes. A missing or unreadable file throws `.inputNotFound`.
    public static func sha256(of url: URL) throws -> String {
        try sha256AndSize(of: url).sha256
    }

    /// Lowercase hex SHA-256 and byte count of the file, in one pass. A path that is not a
    /// regular file throws `.notAFile` (`RegularFile`). `cancellable`: stop with `.interrupted`
    /// between chunks once the running work is cancelled (a job's input, hashed before any work:
    /// a long recording takes seconds, and a signal should not wait for it); off where a job
    /// that has started committing must finish (its output, hashed for the receipt).
    public static func sha256AndSize(of url: URL, cancellable: Bool = false) throws -> (sha256: String, size: Int) {
        let fd = try RegularFile.openForReading(url.path)
        guard fd >= 0 else { throw RedactError.inputNotFound(path: url.path) }
        defer { close(fd) }
        return try sha256AndSize(fd: fd, path: url.path, cancellable: cancellable)
    }

    /// The same, of the file open at `fd`, read from its start with pread(2) (the descriptor's
    /// offset is left alone, so one descriptor can be hashed again). `path` names it in errors.
    static func sha256AndSize(fd: Int32, path: String, cancellable: Bool = false) throws -> (sha256: String, size: Int) {
        var hasher = SHA256()
        var size = 0
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        while true {
            if cancellable, Cancellation.shared.isCancelled { throw RedactError.interrupted }
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, chunkSize, off_t(size)) }
            if n < 0 {
                if errno == EINTR { continue }
                // A read error of the disk, or a file on a network share that went away.
                throw RedactError.inputNotFound(path: path)
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            size += n
        }
        return (hex(hasher.finalize()), size)
    }

    /// Lowercase hex SHA-256 of bytes in memory.
    public static func sha256(of data: Data) -> String {
        hex(SHA256.hash(data: data))
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
