import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A signature over a tracks.json, made by `redact run` with the key that signs its receipts.
public struct TracksSeal: Codable, Equatable, Sendable {
    /// Lowercase hex SHA-256 of the signer's raw Ed25519 public key.
    public var keyID: String
    /// Base64 Ed25519 signature over the file's canonical JSON without `seal`
    /// (`JSONFiles.encoder()`: sorted keys, no whitespace).
    public var sig: String

    enum CodingKeys: String, CodingKey {
        case keyID = "key_id"
        case sig
    }
}

/// Whether `redact run` may paint a job from the tracks.json it kept on an earlier run instead
/// of decoding for and running the detector and tracker again (docs/manifest.md, "Reusing the
/// tracks"). Fail closed: a file that cannot be shown to be exactly what this run would detect
/// (same input, models, detector and tracker settings, tool version, unchanged since a run with
/// this signing key wrote it) is never used; the job detects again.
enum TracksReuse {
    enum Decision {
        /// The file, and the SHA-256 of the bytes it was read from.
        case reuse(TracksFile, sha256: String)
        /// There is no file: nothing to reuse, and nothing a new detection would replace.
        case absent
        /// Why the file that is there cannot be used (one line, for the log).
        case detect(String)
    }

    /// Why a job with a tracks file detects when there is none yet (for the log).
    static let absentReason = "no tracks file yet"

    /// The canonical bytes the seal signs.
    static func sealedBytes(_ file: TracksFile) throws -> Data {
        var unsealed = file
        unsealed.seal = nil
        return try JSONFiles.encoder().encode(unsealed)
    }

    static func seal(_ file: inout TracksFile, key: SigningKey) throws {
        file.seal = nil
        let signature = try key.signature(for: sealedBytes(file))
        file.seal = TracksSeal(keyID: key.publicKey.keyID, sig: signature.base64EncodedString())
    }

    static func check(_ url: URL, inputSHA256: String, models: [VerifiedModel], config: JobConfig, key: PublicKey) -> Decision {
        guard FileManager.default.fileExists(atPath: url.path) else { return .absent }
        guard let (file, sha256) = try? JSONFiles.readHashing(TracksFile.self, from: url) else {
            return .detect("tracks file cannot be read (not a complete tracks.json)")
        }
        guard let seal = file.seal else {
            return .detect("tracks file was not made by redact run (no seal)")
        }
        guard seal.keyID == key.keyID, let sig = Data(base64Encoded: seal.sig),
              let bytes = try? sealedBytes(file), key.isValidSignature(sig, for: bytes) else {
            return .detect("tracks file's seal does not verify with this signing key (made with another key, or changed since)")
        }
        guard file.toolVersion == redactVersion else {
            return .detect("tracks file was made by redact \(file.toolVersion ?? "unknown"), this is redact \(redactVersion)")
        }
        // Not compared: the build (`executableSHA256`). Another build of this version may
        // detect differently, but its tracks are a complete redaction by a method of this
        // version, and detecting again would renumber the tracks an analyst's `keep` names.
        guard file.input.sha256 == inputSHA256 else {
            return .detect("tracks file was made from another input (sha256 \(file.input.sha256))")
        }
        let expected = models.map { ModelReference(id: $0.id, sha256: $0.sha256) }
        guard file.models == expected else {
            return .detect("tracks file was made with other models")
        }
        guard file.detector == config.detector else { return .detect("detector settings changed") }
        guard file.tracker == config.tracker else { return .detect("tracker settings changed") }
        // A sealed file passed the checks above; these guard against a bug, not an editor.
        guard file.frameCount > 0,
              Set(file.tracks.map(\.id)).count == file.tracks.count,
              file.tracks.allSatisfy({ t in t.boxes.allSatisfy { (1...file.frameCount).contains($0.frame) && [$0.x, $0.y, $0.w, $0.h].allSatisfy(\.isFinite) } })
        else {
            return .detect("tracks file is inconsistent")
        }
        return .reuse(file, sha256: sha256)
    }
}

/// The reused tracks do not fit the decoded input (a check after the seal; should not happen).
struct TracksMismatch: Error, CustomStringConvertible {
    var description: String
}

/// Serialises the jobs that share one tracks file (a court and a public copy of one video): the
/// first to take the lock detects and writes the file, the others wait and then reuse it. A
/// blocking `flock(2)` on `.NAME.lock` beside the file, held from the reuse check until the file
/// is written; other processes running the same manifest wait on it too.
final class SidecarLock {
    private var fd: Int32
    private let url: URL

    private init(fd: Int32, url: URL) {
        self.fd = fd
        self.url = url
    }

    deinit { release() }

    static func lockURL(for tracks: URL) -> URL {
        tracks.deletingLastPathComponent().appendingPathComponent(".\(tracks.lastPathComponent).lock")
    }

    /// Waits for the lock. Creates the directory if needed.
    static func acquire(for tracks: URL) throws -> SidecarLock {
        let url = lockURL(for: tracks)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw RedactError.output(path: tracks.path, detail: "cannot create directory \(url.deletingLastPathComponent().path)")
        }
        // Waiting, a lock is always returned (nil only when not waiting and held by another).
        guard let fd = try LockFile.lock(url, waiting: true, reportPath: tracks.path) else {
            throw RedactError.output(path: tracks.path, detail: "cannot lock \(url.lastPathComponent)")
        }
        return SidecarLock(fd: fd, url: url)
    }

    /// Idempotent. Unlinks the lock file while still holding it.
    func release() {
        guard fd >= 0 else { return }
        unlink(url.path)
        close(fd)
        fd = -1
    }
}
