import Crypto
import Foundation

/// An Ed25519 private key that signs receipts.
///
/// On disk it is standard PEM that openssl reads and writes: PKCS#8 `-----BEGIN PRIVATE KEY-----`
/// whose DER is exactly `302e020100300506032b657004220420` followed by the 32-byte seed
/// (what `openssl genpkey -algorithm ed25519` produces). Nothing else is accepted.
public struct SigningKey {
    let privateKey: Curve25519.Signing.PrivateKey

    static let pemLabel = "PRIVATE KEY"
    /// PKCS#8 v1 header for an Ed25519 key (OID 1.3.101.112) wrapping a 32-byte OCTET STRING.
    static let derPrefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70,
                                     0x04, 0x22, 0x04, 0x20]

    init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
    }

    /// A new random key.
    public static func generate() -> SigningKey {
        SigningKey(privateKey: Curve25519.Signing.PrivateKey())
    }

    /// A key from its 32-byte seed.
    public init(rawRepresentation: Data) throws {
        do {
            privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation)
        } catch {
            throw RedactError.key(path: "<memory>", detail: "an Ed25519 private key is 32 bytes, got \(rawRepresentation.count)")
        }
    }

    /// Reads a PKCS#8 PEM private key file. Missing or malformed: `.key`.
    public init(contentsOf url: URL) throws {
        let raw = try Ed25519PEM.readKey(at: url, label: Self.pemLabel, derPrefix: Self.derPrefix, kind: "Ed25519 private key")
        privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: raw)
    }

    /// The 32-byte seed.
    public var rawRepresentation: Data { privateKey.rawRepresentation }

    public var publicKey: PublicKey { PublicKey(key: privateKey.publicKey) }

    /// The private key as PKCS#8 PEM, ending in a newline.
    public func pem() -> String {
        Ed25519PEM.encode(label: Self.pemLabel, der: Data(Self.derPrefix) + privateKey.rawRepresentation)
    }

    /// Writes the private key (mode 0600) and the public key (mode 0644), each atomically.
    /// Refuses (`.output`) if either file already exists; nothing is overwritten.
    public func write(privateKeyTo privateURL: URL, publicKeyTo publicURL: URL) throws {
        let privatePath = privateURL.standardizedFileURL.path
        let publicPath = publicURL.standardizedFileURL.path
        guard privatePath != publicPath else {
            throw RedactError.output(path: privateURL.path, detail: "private and public key must be different files")
        }
        for url in [privateURL, publicURL] where FileManager.default.fileExists(atPath: url.path) {
            throw RedactError.output(path: url.path, detail: "file already exists; refusing to overwrite a key")
        }
        // A missing directory is made, as for any output (`keygen -o ~/keys/disclosure.key` on a
        // fresh account), readable by its owner only: it holds a private key.
        let dir = privateURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.path) {
            do {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw RedactError.output(path: privateURL.path, detail: "cannot create directory \(dir.path)")
            }
        }
        try AtomicFile.write(Data(pem().utf8), to: privateURL, permissions: 0o600, overwrite: false)
        do {
            try AtomicFile.write(Data(publicKey.pem().utf8), to: publicURL, permissions: 0o644, overwrite: false)
        } catch {
            // Do not leave half a key pair behind.
            try? FileManager.default.removeItem(at: privateURL)
            throw error
        }
    }

    /// Ed25519 signature (64 bytes) over `message`.
    public func signature(for message: Data) throws -> Data {
        try privateKey.signature(for: message)
    }
}

/// An Ed25519 public key: the receipt's signer, or the key a verifier trusts.
///
/// On disk: SPKI PEM `-----BEGIN PUBLIC KEY-----` whose DER is exactly
/// `302a300506032b6570032100` followed by the 32 raw bytes (what `openssl pkey -pubout` writes).
public struct PublicKey: Equatable {
    let key: Curve25519.Signing.PublicKey

    static let pemLabel = "PUBLIC KEY"
    static let derPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

    init(key: Curve25519.Signing.PublicKey) {
        self.key = key
    }

    /// A key from its 32 raw bytes. Wrong length: `.key`.
    public init(rawRepresentation: Data) throws {
        do {
            key = try Curve25519.Signing.PublicKey(rawRepresentation: rawRepresentation)
        } catch {
            throw RedactError.key(path: "<memory>", detail: "an Ed25519 public key is 32 bytes, got \(rawRepresentation.count)")
        }
    }

    /// Reads an SPKI PEM public key file. Missing or malformed: `.key`.
    public init(contentsOf url: URL) throws {
        let raw = try Ed25519PEM.readKey(at: url, label: Self.pemLabel, derPrefix: Self.derPrefix, kind: "Ed25519 public key")
        key = try Curve25519.Signing.PublicKey(rawRepresentation: raw)
    }

    /// The 32 raw bytes.
    public var rawRepresentation: Data { key.rawRepresentation }

    /// Lowercase hex SHA-256 of the 32 raw bytes; the DSSE `keyid`.
    public var keyID: String { FileDigest.sha256(of: rawRepresentation) }

    /// The key as SPKI PEM, ending in a newline.
    public func pem() -> String {
        Ed25519PEM.encode(label: Self.pemLabel, der: Data(Self.derPrefix) + rawRepresentation)
    }

    public func isValidSignature(_ signature: Data, for message: Data) -> Bool {
        key.isValidSignature(signature, for: message)
    }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool {
        lhs.rawRepresentation == rhs.rawRepresentation
    }
}

/// Minimal PEM for the two fixed DER forms above.
enum Ed25519PEM {
    static func encode(label: String, der: Data) -> String {
        let body = der.base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(label)-----\n\(body)\n-----END \(label)-----\n"
    }

    /// Returns the 32 key bytes after `derPrefix`; anything else throws `.key` naming the file.
    static func readKey(at url: URL, label: String, derPrefix: [UInt8], kind: String) throws -> Data {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RedactError.key(path: path, detail: "no such file or not readable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RedactError.key(path: path, detail: "not a PEM file (not text)")
        }
        let lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        let begin = "-----BEGIN \(label)-----"
        let end = "-----END \(label)-----"
        guard lines.count >= 3, lines.first == begin, lines.last == end else {
            let found = lines.first.map { "starts with \"\($0.prefix(40))\"" } ?? "is empty"
            throw RedactError.key(path: path, detail: "expected a PEM \"\(begin)\" block (\(kind)); file \(found)")
        }
        let body = lines[1 ..< lines.count - 1].joined()
        guard let der = Data(base64Encoded: body) else {
            throw RedactError.key(path: path, detail: "PEM body is not valid base64")
        }
        guard der.count == derPrefix.count + 32, der.prefix(derPrefix.count).elementsEqual(derPrefix) else {
            throw RedactError.key(path: path, detail: "not an \(kind) in the expected DER form (\(der.count) bytes)")
        }
        return Data(der.suffix(32))
    }
}
