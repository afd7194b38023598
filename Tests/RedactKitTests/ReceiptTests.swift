import Crypto
import Foundation
import XCTest
@testable import RedactKit

final class ReceiptTests: TempDirectoryTestCase {
    // MARK: - Helpers

    func file(_ name: String, bytes count: Int, seed: UInt8 = 1) throws -> URL {
        var rng = SeededRandom(seed: UInt64(seed))
        let data = Data((0 ..< count).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        let url = dir.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    func independentSHA256(_ url: URL) throws -> String {
        SHA256.hash(data: try Data(contentsOf: url)).map { String(format: "%02x", $0) }.joined()
    }

    func flipByte(at offset: Int, of url: URL, mask: UInt8 = 0x01) throws {
        var data = try Data(contentsOf: url)
        data[offset] ^= mask
        try data.write(to: url)
    }

    func samplePredicate() -> ReceiptPredicateInput {
        var counts = StageCounts()
        counts.frames = 120
        counts.detections = 37
        var config = JobConfig()
        config.render.crf = 20
        return ReceiptPredicateInput(
            models: [.init(id: "centerface", sha256: String(repeating: "ab", count: 32))],
            config: config, counts: counts, droppedStreams: ["stream 2: subtitle mov_text"])
    }

    /// Signs a fresh 3000-byte output made from a 5000-byte input.
    func signedFixture(key: SigningKey = .generate()) throws -> (output: URL, input: URL, receipt: URL, key: SigningKey) {
        let input = try file("in.mp4", bytes: 5000, seed: 7)
        let output = try file("in.redacted.mp4", bytes: 3000, seed: 9)
        let receipt = try Receipts.sign(output: output, input: input, predicate: samplePredicate(), key: key)
        return (output, input, receipt, key)
    }

    func assertVerificationFails(_ block: () throws -> Void, reasonContains needle: String? = nil,
                                 _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        do {
            try block()
            XCTFail("verification unexpectedly succeeded \(message)", file: file, line: line)
        } catch let RedactError.verificationFailed(_, reason) {
            if let needle {
                XCTAssertTrue(reason.contains(needle), "reason \"\(reason)\" lacks \"\(needle)\" \(message)", file: file, line: line)
            }
            XCTAssertFalse(reason.contains("\n"), file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error) \(message)", file: file, line: line)
        }
    }

    @discardableResult
    func run(_ executable: String, _ args: [String], cwd: URL? = nil) throws -> (status: Int32, out: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        if let cwd { process.currentDirectoryURL = cwd }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    static var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    // MARK: - FileDigest and AtomicFile

    func testFileDigestMatchesIndependentHashAcrossChunks() throws {
        // 2.5 MiB: spans three 1 MiB reads.
        let url = try file("big.bin", bytes: (5 << 20) / 2 + 17)
        let (hex, size) = try FileDigest.sha256AndSize(of: url)
        XCTAssertEqual(hex, try independentSHA256(url))
        XCTAssertEqual(size, (5 << 20) / 2 + 17)
        XCTAssertEqual(try FileDigest.sha256(of: url), hex)
        // FIPS 180-2 test vector for "abc".
        let abc = dir.appendingPathComponent("abc")
        try Data("abc".utf8).write(to: abc)
        XCTAssertEqual(try FileDigest.sha256(of: abc), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let missing = dir.appendingPathComponent("nope")
        XCTAssertThrowsError(try FileDigest.sha256(of: missing)) {
            XCTAssertEqual($0 as? RedactError, .inputNotFound(path: missing.path))
        }
    }

    func testAtomicWriteReplacesAndLeavesNoTemporary() throws {
        let final = dir.appendingPathComponent("out.json")
        let temp = AtomicFile.temporaryURL(for: final)
        XCTAssertEqual(temp.deletingLastPathComponent().path, dir.path)
        XCTAssertTrue(temp.lastPathComponent.hasPrefix(".out.json.partial-\(getpid())-"))
        XCTAssertNotEqual(temp, AtomicFile.temporaryURL(for: final))

        try AtomicFile.write(Data("one".utf8), to: final)
        try AtomicFile.write(Data("two".utf8), to: final)
        XCTAssertEqual(try Data(contentsOf: final), Data("two".utf8))
        XCTAssertThrowsError(try AtomicFile.write(Data("three".utf8), to: final, overwrite: false)) {
            guard case RedactError.output = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(try Data(contentsOf: final), Data("two".utf8))

        // commit(temporary:to:)
        let t2 = AtomicFile.temporaryURL(for: final)
        try Data("four".utf8).write(to: t2)
        try AtomicFile.commit(temporary: t2, to: final)
        XCTAssertEqual(try Data(contentsOf: final), Data("four".utf8))

        // Failure: directory does not exist -> .output, no temp left.
        let bad = dir.appendingPathComponent("no-such-dir/x.json")
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: bad)) {
            guard case RedactError.output = $0 else { return XCTFail("\($0)") }
        }
        // Failure in rename (target is a non-empty directory) removes the temp file.
        let blocker = dir.appendingPathComponent("blocker")
        try FileManager.default.createDirectory(at: blocker.appendingPathComponent("child"), withIntermediateDirectories: true)
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: blocker))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".partial-") }
        XCTAssertEqual(leftovers, [])
    }

    // MARK: - Keys

    func testKeyWriteReloadRoundTrip() throws {
        let key = SigningKey.generate()
        let priv = dir.appendingPathComponent("redact.key")
        let pub = dir.appendingPathComponent("redact.pub")
        try key.write(privateKeyTo: priv, publicKeyTo: pub)

        let mode = try FileManager.default.attributesOfItem(atPath: priv.path)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        let text = try String(contentsOf: priv, encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        XCTAssertTrue(try String(contentsOf: pub, encoding: .utf8).hasPrefix("-----BEGIN PUBLIC KEY-----\n"))

        let reloaded = try SigningKey(contentsOf: priv)
        XCTAssertEqual(reloaded.rawRepresentation, key.rawRepresentation)
        let reloadedPub = try PublicKey(contentsOf: pub)
        XCTAssertEqual(reloadedPub, key.publicKey)
        XCTAssertEqual(reloadedPub.keyID, try independentKeyID(reloadedPub.rawRepresentation))
        XCTAssertNotEqual(SigningKey.generate().publicKey, key.publicKey)

        // A signature by the reloaded key verifies under the original public key.
        let msg = Data("hello".utf8)
        XCTAssertTrue(key.publicKey.isValidSignature(try reloaded.signature(for: msg), for: msg))
        XCTAssertFalse(key.publicKey.isValidSignature(try reloaded.signature(for: msg), for: Data("hellO".utf8)))
    }

    func independentKeyID(_ raw: Data) throws -> String {
        SHA256.hash(data: raw).map { String(format: "%02x", $0) }.joined()
    }

    func testMalformedKeysAreRejected() throws {
        let key = SigningKey.generate()
        let cases: [(String, String)] = [
            ("empty", ""),
            ("garbage", "hello\n"),
            ("public-as-private", key.publicKey.pem()),
            // X25519 (OID 1.3.101.110) private key: same shape, wrong algorithm.
            ("x25519", Ed25519PEM.encode(label: "PRIVATE KEY",
                                  der: Data([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e,
                                             0x04, 0x22, 0x04, 0x20]) + key.rawRepresentation)),
            ("truncated", Ed25519PEM.encode(label: "PRIVATE KEY", der: (Data(SigningKey.derPrefix) + key.rawRepresentation).dropLast())),
            ("bad-base64", "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"),
        ]
        for (name, text) in cases {
            let url = dir.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            XCTAssertThrowsError(try SigningKey(contentsOf: url), name) {
                guard case RedactError.key(let path, _) = $0 else { return XCTFail("\(name): \($0)") }
                XCTAssertEqual(path, url.path)
            }
        }
        let privAsPub = dir.appendingPathComponent("priv-as-pub")
        try Data(key.pem().utf8).write(to: privAsPub)
        XCTAssertThrowsError(try PublicKey(contentsOf: privAsPub)) {
            guard case RedactError.key = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try SigningKey(contentsOf: dir.appendingPathComponent("missing.key"))) {
            guard case RedactError.key = $0 else { return XCTFail("\($0)") }
        }
        // CRLF line endings are fine.
        let crlf = dir.appendingPathComponent("crlf.key")
        try Data(key.pem().replacingOccurrences(of: "\n", with: "\r\n").utf8).write(to: crlf)
        XCTAssertEqual(try SigningKey(contentsOf: crlf).rawRepresentation, key.rawRepresentation)
    }

    func testKeygenRefusesToOverwrite() throws {
        let priv = dir.appendingPathComponent("k.key")
        let pub = dir.appendingPathComponent("k.pub")
        try SigningKey.generate().write(privateKeyTo: priv, publicKeyTo: pub)
        let before = try Data(contentsOf: priv)
        let beforePub = try Data(contentsOf: pub)
        XCTAssertThrowsError(try SigningKey.generate().write(privateKeyTo: priv, publicKeyTo: pub)) {
            guard case RedactError.output(let path, _) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(path, priv.path)
        }
        // Only the public file exists: still refused, and no private key is left behind.
        let priv2 = dir.appendingPathComponent("k2.key")
        XCTAssertThrowsError(try SigningKey.generate().write(privateKeyTo: priv2, publicKeyTo: pub)) {
            guard case RedactError.output(let path, _) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(path, pub.path)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: priv2.path))
        XCTAssertEqual(try Data(contentsOf: priv), before)
        XCTAssertEqual(try Data(contentsOf: pub), beforePub)
    }

    func testOpenSSLInterop() throws {
        let openssl = "/usr/bin/openssl"
        guard FileManager.default.isExecutableFile(atPath: openssl) else { throw XCTSkip("openssl not installed") }
        let key = SigningKey.generate()
        let priv = dir.appendingPathComponent("key.pem")
        let pub = dir.appendingPathComponent("pub.pem")
        try key.write(privateKeyTo: priv, publicKeyTo: pub)

        // openssl derives the same public key PEM from our private key.
        let derived = try run(openssl, ["pkey", "-in", priv.path, "-pubout"])
        XCTAssertEqual(derived.status, 0, derived.out)
        XCTAssertEqual(derived.out, try String(contentsOf: pub, encoding: .utf8))

        // openssl verifies our signature over a real receipt's PAE, and rejects a tampered PAE.
        let fx = try signedFixture(key: key)
        let envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(contentsOf: fx.receipt))
        let paeURL = dir.appendingPathComponent("pae.bin")
        let sigURL = dir.appendingPathComponent("sig.bin")
        var pae = Receipts.pae(payloadType: envelope.payloadType, payload: Data(base64Encoded: envelope.payload)!)
        try pae.write(to: paeURL)
        try Data(base64Encoded: envelope.signatures[0].sig)!.write(to: sigURL)
        let verify = ["pkeyutl", "-verify", "-pubin", "-inkey", pub.path, "-rawin", "-in", paeURL.path, "-sigfile", sigURL.path]
        let ok = try run(openssl, verify)
        XCTAssertEqual(ok.status, 0, ok.out)
        pae[pae.count / 2] ^= 0x01
        try pae.write(to: paeURL)
        XCTAssertNotEqual(try run(openssl, verify).status, 0)

        // We read a key openssl generated, and derive the same public key it does.
        let osslKey = dir.appendingPathComponent("ossl.pem")
        let gen = try run(openssl, ["genpkey", "-algorithm", "ed25519", "-out", osslKey.path])
        XCTAssertEqual(gen.status, 0, gen.out)
        let loaded = try SigningKey(contentsOf: osslKey)
        let osslPub = try run(openssl, ["pkey", "-in", osslKey.path, "-pubout"])
        XCTAssertEqual(osslPub.out, loaded.publicKey.pem())
        XCTAssertEqual(try String(contentsOf: osslKey, encoding: .utf8), loaded.pem())
    }

    // MARK: - Receipts

    func testPAEMatchesDSSESpecExample() {
        // The example from the DSSE protocol document.
        let pae = Receipts.pae(payloadType: "http://example.com/HelloWorld", payload: Data("hello world".utf8))
        XCTAssertEqual(String(decoding: pae, as: UTF8.self), "DSSEv1 29 http://example.com/HelloWorld 11 hello world")
    }

    /// Receipt, journal and lock times are written without Foundation's formatter (it loads
    /// ICU's time zone data for the whole job): the text must be what that formatter writes.
    func testTimesAreWrittenAsISO8601DateFormatterWritesThem() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        let times: [TimeInterval] = [0, 59.999, 951_782_400 /* 2000-02-29 */, 1_798_761_599.5 /* 2026-12-31 23:59:59.5 */,
                                     1_798_761_600, 4_102_444_800 /* 2100-01-01 */, 1_765_000_003.25]
        for t in times {
            let date = Date(timeIntervalSince1970: t)
            XCTAssertEqual(Receipts.iso8601(date), formatter.string(from: date), "\(t)")
        }
        XCTAssertEqual(Receipts.iso8601(Date(timeIntervalSince1970: 951_782_400)), "2000-02-29T00:00:00Z")
    }

    /// A receipt whose output is its own input (a copy of the original signed as the redaction)
    /// fails verification whoever signed it.
    func testOutputThatIsItsInputFailsVerification() throws {
        let input = try file("in.mp4", bytes: 5000, seed: 7)
        let copy = dir.appendingPathComponent("copy.mp4")
        try FileManager.default.copyItem(at: input, to: copy)
        let key = SigningKey.generate()
        try Receipts.sign(output: copy, input: input, predicate: samplePredicate(), key: key)
        assertVerificationFails({ _ = try Receipts.verify(output: copy, trustedKey: key.publicKey) }, reasonContains: "the input itself")
        // The verifier without redact says the same, where it can run.
        guard (try? run("/usr/bin/env", ["python3", "-c", "import cryptography"]).status) == 0 else { return }
        let script = Self.repoRoot.appendingPathComponent("scripts/verify_receipt.py")
        let py = try run("/usr/bin/env", ["python3", script.path, copy.path])
        XCTAssertEqual(py.status, 1, py.out)
        XCTAssertTrue(py.out.contains("the input itself"), py.out)
    }

    func testSignThenVerify() throws {
        let fx = try signedFixture()
        XCTAssertEqual(fx.receipt.lastPathComponent, "in.redacted.mp4.receipt.json")
        let verified = try Receipts.verify(output: fx.output, input: fx.input, trustedKey: fx.key.publicKey)
        XCTAssertEqual(verified.keyID, fx.key.publicKey.keyID)
        let p = verified.predicate
        XCTAssertEqual(p.output, .init(name: "in.redacted.mp4", sha256: try independentSHA256(fx.output), size: 3000))
        XCTAssertEqual(p.input, .init(name: "in.mp4", sha256: try independentSHA256(fx.input), size: 5000))
        XCTAssertEqual(p.tool.name, "redact")
        XCTAssertEqual(p.tool.version, redactVersion)
        // The build: the running executable's SHA-256 (here the test bundle's).
        XCTAssertEqual(p.tool.executableSHA256, try independentSHA256(URL(fileURLWithPath: "/proc/self/exe")))
        // The default engine, the version its library reports and the precision it used here.
        let engine = InferenceEngine.openvino
        XCTAssertEqual(p.tool.inferenceEngine, "openvino \(engine.version) \(engine.precisionName(.auto))")
        XCTAssertTrue(p.tool.inferenceEngine?.hasPrefix("openvino 2026.4.1") == true, "\(p.tool.inferenceEngine ?? "nil")")
        // Plates always run in float32, and the description says so when faces did not.
        var plates = DetectorConfig()
        plates.classes = [.face, .plate]
        let faces = engine.precisionName(.auto)
        XCTAssertEqual(plates.inferenceDescription, "openvino \(engine.version) \(faces)" + (faces == "f32" ? "" : ", plate f32"))
        plates.classes = [.plate]
        XCTAssertEqual(plates.inferenceDescription, "openvino \(engine.version) f32")
        XCTAssertEqual(p.counts.detections, 37)
        XCTAssertEqual(p.config.render.crf, 20)
        XCTAssertEqual(p.droppedStreams, ["stream 2: subtitle mov_text"])
        XCTAssertEqual(p.signer.publicKey, fx.key.publicKey.rawRepresentation.base64EncodedString())
        XCTAssertEqual(verified.statement.subject, [.init(name: "in.redacted.mp4", digest: ["sha256": p.output.sha256])])
        XCTAssertNotNil(ISO8601DateFormatter().date(from: p.created))
        XCTAssertTrue(p.created.hasSuffix("Z"))

        // The file's shape: pretty, sorted, one trailing newline, snake_case predicate keys.
        let bytes = try Data(contentsOf: fx.receipt)
        XCTAssertEqual(bytes.last, 0x0a)
        XCTAssertNotEqual(bytes.dropLast().last, 0x0a)
        let json = try JSONSerialization.jsonObject(with: bytes) as! [String: Any]
        XCTAssertEqual(json["payloadType"] as? String, "application/vnd.in-toto+json")
        let payload = Data(base64Encoded: json["payload"] as! String)!
        let statement = try JSONSerialization.jsonObject(with: payload) as! [String: Any]
        XCTAssertEqual(statement["_type"] as? String, "https://in-toto.io/Statement/v1")
        XCTAssertEqual(statement["predicateType"] as? String, "https://redact.dev/receipt/v1")
        let predicate = statement["predicate"] as! [String: Any]
        XCTAssertEqual(Set(predicate.keys), ["tool", "input", "output", "models", "config", "counts", "dropped_streams", "signer", "created"])
        XCTAssertNotNil((predicate["signer"] as! [String: Any])["key_id"])
        // Signing twice at the same instant gives identical bytes.
        var fixed = samplePredicate()
        fixed.created = Date(timeIntervalSince1970: 1_700_000_000)
        let r1 = try Data(contentsOf: Receipts.sign(output: fx.output, input: fx.input, predicate: fixed, key: fx.key))
        let r2 = try Data(contentsOf: Receipts.sign(output: fx.output, input: fx.input, predicate: fixed, key: fx.key))
        XCTAssertEqual(r1, r2)
    }

    func testFlippedOutputByteFailsOnHash() throws {
        let fx = try signedFixture()
        let size = try Data(contentsOf: fx.output).count
        for offset in [0, size / 2, size - 1] {
            try flipByte(at: offset, of: fx.output)
            assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "SHA-256 hash", "offset \(offset)")
            try flipByte(at: offset, of: fx.output)
            XCTAssertNoThrow(try Receipts.verify(output: fx.output), "restored offset \(offset)")
        }
        // Appending a byte changes the hash too.
        let handle = try FileHandle(forWritingTo: fx.output)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "hash")
    }

    func testEveryFlippedReceiptByteFails() throws {
        let fx = try signedFixture()
        let original = try Data(contentsOf: fx.receipt)
        XCTAssertNoThrow(try Receipts.verify(output: fx.output))
        // 0x01 turns ' ' into '!', '\n' into VT, letters into neighbours; 0x20 swaps base64 case; 0x80 breaks UTF-8.
        for mask: UInt8 in [0x01, 0x20, 0x80] {
            for offset in 0 ..< original.count {
                var tampered = original
                tampered[offset] ^= mask
                try tampered.write(to: fx.receipt)
                assertVerificationFails({ try Receipts.verify(output: fx.output) }, "mask \(mask) offset \(offset)")
            }
        }
        try original.write(to: fx.receipt)
        XCTAssertNoThrow(try Receipts.verify(output: fx.output))
    }

    func testReceiptMissingOrTruncatedFails() throws {
        let fx = try signedFixture()
        let original = try Data(contentsOf: fx.receipt)
        try original.dropLast().write(to: fx.receipt)
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "canonical")
        try (original + Data("\n".utf8)).write(to: fx.receipt)
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "canonical")
        try Data("{".utf8).write(to: fx.receipt)
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "JSON")
        try FileManager.default.removeItem(at: fx.receipt)
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "receipt not found")
    }

    /// Re-encodes a modified envelope canonically so each check, not the canonical-bytes check, is what fails.
    func rewrite(_ receipt: URL, _ change: (inout DSSEEnvelope) throws -> Void) throws {
        var envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: Data(contentsOf: receipt))
        try change(&envelope)
        try Receipts.canonicalBytes(of: envelope).write(to: receipt)
    }

    func testEnvelopeChecksGivePreciseReasons() throws {
        let fx = try signedFixture()
        let original = try Data(contentsOf: fx.receipt)
        let restore = { try original.write(to: fx.receipt) }

        try rewrite(fx.receipt) { $0.payloadType = "application/json" }
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "payloadType")
        try restore()

        try rewrite(fx.receipt) { $0.signatures[0].keyid = String(repeating: "0", count: 64) }
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "keyid")
        try restore()

        try rewrite(fx.receipt) {
            var sig = Data(base64Encoded: $0.signatures[0].sig)!
            sig[10] ^= 0x04
            $0.signatures[0].sig = sig.base64EncodedString()
        }
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "signature is invalid")
        try restore()

        // Change the statement (claim another hash) without re-signing.
        try rewrite(fx.receipt) {
            var statement = try JSONDecoder().decode(ReceiptStatement.self, from: Data(base64Encoded: $0.payload)!)
            statement.predicate.counts.detections += 1
            $0.payload = try Receipts.statementEncoder().encode(statement).base64EncodedString()
        }
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "signature is invalid")
        try restore()

        try rewrite(fx.receipt) { $0.signatures.append($0.signatures[0]) }
        assertVerificationFails({ try Receipts.verify(output: fx.output) }, reasonContains: "exactly one signature")
        try restore()
        XCTAssertNoThrow(try Receipts.verify(output: fx.output))
    }

    func testWrongTrustedKeyFails() throws {
        let fx = try signedFixture()
        let other = SigningKey.generate()
        assertVerificationFails({ try Receipts.verify(output: fx.output, trustedKey: other.publicKey) }, reasonContains: "trusted key")
        XCTAssertNoThrow(try Receipts.verify(output: fx.output, trustedKey: fx.key.publicKey))
        // Someone re-signs with their own key: self-consistent, so only pinning catches it.
        try Receipts.sign(output: fx.output, input: fx.input, predicate: samplePredicate(), key: other)
        XCTAssertNoThrow(try Receipts.verify(output: fx.output))
        assertVerificationFails({ try Receipts.verify(output: fx.output, trustedKey: fx.key.publicKey) }, reasonContains: "trusted key")
    }

    func testInputHashMismatchFails() throws {
        let fx = try signedFixture()
        XCTAssertNoThrow(try Receipts.verify(output: fx.output, input: fx.input))
        try flipByte(at: 4999, of: fx.input)
        assertVerificationFails({ try Receipts.verify(output: fx.output, input: fx.input) }, reasonContains: "input SHA-256 hash")
        // Without --input the output still verifies.
        XCTAssertNoThrow(try Receipts.verify(output: fx.output))
    }

    func testReceiptForAnotherFileNameFails() throws {
        let fx = try signedFixture()
        let copy = dir.appendingPathComponent("renamed.mp4")
        try FileManager.default.copyItem(at: fx.output, to: copy)
        assertVerificationFails({ try Receipts.verify(output: copy, receipt: fx.receipt) }, reasonContains: "receipt is for")
    }

    func testPythonVerifierScript() throws {
        let python = "/usr/bin/env"
        guard (try? run(python, ["python3", "-c", "import cryptography"]).status) == 0 else {
            throw XCTSkip("python3 with the cryptography package is not available")
        }
        let script = Self.repoRoot.appendingPathComponent("scripts/verify_receipt.py")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: script.path), script.path)
        let fx = try signedFixture()
        let pub = dir.appendingPathComponent("pub.pem")
        try Data(fx.key.publicKey.pem().utf8).write(to: pub)
        let otherPub = dir.appendingPathComponent("other.pem")
        try Data(SigningKey.generate().publicKey.pem().utf8).write(to: otherPub)

        let ok = try run(python, ["python3", script.path, fx.output.path])
        XCTAssertEqual(ok.status, 0, ok.out)
        XCTAssertTrue(ok.out.hasPrefix("OK"), ok.out)
        let pinned = try run(python, ["python3", script.path, fx.output.path, "--receipt", fx.receipt.path, "--public-key", pub.path])
        XCTAssertEqual(pinned.status, 0, pinned.out)
        let wrongKey = try run(python, ["python3", script.path, fx.output.path, "--public-key", otherPub.path])
        XCTAssertEqual(wrongKey.status, 1, wrongKey.out)

        try flipByte(at: 1500, of: fx.output)
        let bad = try run(python, ["python3", script.path, fx.output.path])
        XCTAssertEqual(bad.status, 1, bad.out)
        XCTAssertTrue(bad.out.contains("hash"), bad.out)
        XCTAssertEqual(bad.out.split(separator: "\n").count, 1, bad.out)
        try flipByte(at: 1500, of: fx.output)

        // A signature byte flipped in the receipt.
        try rewrite(fx.receipt) {
            var sig = Data(base64Encoded: $0.signatures[0].sig)!
            sig[0] ^= 0x01
            $0.signatures[0].sig = sig.base64EncodedString()
        }
        let badSig = try run(python, ["python3", script.path, fx.output.path])
        XCTAssertEqual(badSig.status, 1, badSig.out)
        XCTAssertTrue(badSig.out.contains("signature"), badSig.out)
    }
}
