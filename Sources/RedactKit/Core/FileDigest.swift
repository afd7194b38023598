import Crypto
import Foundation

/// SHA-256 of files of any size, read in fixed 1 MiB chunks so memory stays flat.
public enum FileDigest {
    static let chunkSize = 1 << 20

    /// Lowercase hex SHA-256 of the file's bytes. A missing or unreadable file throws `.inputNotFound`.
    public static func sha256(of url: URL) throws -> String {
        try sha256AndSize(of: url).sha256
    }

    /// Lowercase hex SHA-256 and byte count of the file, in one pass.
    public static func sha256AndSize(of url: URL) throws -> (sha256: String, size: Int) {
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw RedactError.inputNotFound(path: url.path)
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size = 0
        while true {
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: chunkSize)
            } catch {
                // Reading a directory or a file that vanished part-way.
                throw RedactError.inputNotFound(path: url.path)
            }
            guard let chunk, !chunk.isEmpty else { break }
            hasher.update(data: chunk)
            size += chunk.count
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
