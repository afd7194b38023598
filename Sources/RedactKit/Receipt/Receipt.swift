import Foundation

// A receipt is a DSSE envelope (https://github.com/secure-systems-lab/dsse) around an in-toto
// Statement v1 whose subject is the redacted output and whose predicate records how it was made.
// docs/receipt.md documents every field and how to verify a receipt without redact.

/// What redact records about one job. Keys are snake_case.
public struct ReceiptPredicate: Codable, Equatable, Sendable {
    public struct Tool: Codable, Equatable, Sendable {
        public var name: String
        public var version: String
        /// What ran the detectors' networks, its version and the precision it computed in, e.g.
        /// "openvino 2026.4.1-22982-... bf16";
        /// nil in receipts made before the engine was recorded.
        public var inferenceEngine: String?
        /// SHA-256 of the executable that made the receipt (`redactExecutableSHA256`): the
        /// build, where `version` is the release; nil in receipts made before it was recorded.
        public var executableSHA256: String?
        /// Which command made the receipt: `run` (it made the output) or `sign` (it signed an
        /// output made otherwise, and attests only what it checked: docs/receipt.md); nil in
        /// receipts made before it was recorded.
        public var command: String?
        public init(name: String = "redact", version: String = redactVersion, inferenceEngine: String? = nil,
                    executableSHA256: String? = redactExecutableSHA256, command: String? = nil) {
            self.name = name
            self.version = version
            self.inferenceEngine = inferenceEngine
            self.executableSHA256 = executableSHA256
            self.command = command
        }
        enum CodingKeys: String, CodingKey {
            case name, version, command
            case inferenceEngine = "inference_engine"
            case executableSHA256 = "executable_sha256"
        }
    }

    /// A file by name (last path component), SHA-256 and size in bytes.
    public struct FileInfo: Codable, Equatable, Sendable {
        public var name: String
        public var sha256: String
        public var size: Int
        public init(name: String, sha256: String, size: Int) {
            self.name = name
            self.sha256 = sha256
            self.size = size
        }
    }

    public struct Model: Codable, Equatable, Sendable {
        public var id: String
        public var sha256: String
        public init(id: String, sha256: String) {
            self.id = id
            self.sha256 = sha256
        }
    }

    public struct Signer: Codable, Equatable, Sendable {
        /// Lowercase hex SHA-256 of the raw 32-byte public key.
        public var keyID: String
        /// Standard base64 of the raw 32-byte Ed25519 public key.
        public var publicKey: String
        public init(keyID: String, publicKey: String) {
            self.keyID = keyID
            self.publicKey = publicKey
        }
        enum CodingKeys: String, CodingKey {
            case keyID = "key_id"
            case publicKey = "public_key"
        }
    }

    public var tool: Tool
    public var input: FileInfo
    public var output: FileInfo
    public var models: [Model]
    public var config: JobConfig
    public var counts: StageCounts
    /// Input streams not carried to the output, e.g. "stream 2: subtitle mov_text".
    public var droppedStreams: [String]
    /// Keys (never values) of the input's metadata not carried to the output, e.g.
    /// "format:location", "stream 0:title", "chapter 0:title", "stream 0:frame side data:User Data
    /// Unregistered". Nil in receipts made before this field existed and by standalone `redact sign`,
    /// which does not know; the key is then absent from the JSON.
    public var droppedMetadata: [String]?
    /// The job's `mute` ranges and how they were applied; nil (absent) for a job without them.
    public var audioMute: AudioMuteRecord?
    /// The analyst's decisions (kept tracks, manual boxes, excluded regions) with their reasons
    /// and what each did; nil (absent) for a job without any.
    public var analyst: AnalystRecord?
    /// The tracks.json the boxes were painted from (written or reused by this job); nil (absent)
    /// for a job without one.
    public var tracksFile: TracksFileRecord?
    public var signer: Signer
    /// ISO-8601 UTC, e.g. "2025-01-31T12:00:00Z".
    public var created: String

    public init(tool: Tool, input: FileInfo, output: FileInfo, models: [Model], config: JobConfig,
                counts: StageCounts, droppedStreams: [String], droppedMetadata: [String]? = nil, audioMute: AudioMuteRecord? = nil,
                analyst: AnalystRecord? = nil, tracksFile: TracksFileRecord? = nil, signer: Signer, created: String) {
        self.tool = tool
        self.input = input
        self.output = output
        self.models = models
        self.config = config
        self.counts = counts
        self.droppedStreams = droppedStreams
        self.droppedMetadata = droppedMetadata
        self.audioMute = audioMute
        self.analyst = analyst
        self.tracksFile = tracksFile
        self.signer = signer
        self.created = created
    }

    enum CodingKeys: String, CodingKey {
        case tool, input, output, models, config, counts
        case droppedStreams = "dropped_streams"
        case droppedMetadata = "dropped_metadata"
        case audioMute = "audio_mute"
        case analyst
        case tracksFile = "tracks_file"
        case signer, created
    }
}

/// The tracks.json a job painted from: its file name and SHA-256 when the receipt was made.
public struct TracksFileRecord: Codable, Equatable, Sendable {
    public var name: String
    public var sha256: String
    /// True: an earlier run's file, reused; false: written by this job.
    public var reused: Bool

    public init(name: String, sha256: String, reused: Bool) {
        self.name = name
        self.sha256 = sha256
        self.reused = reused
    }
}

/// Audio replaced by a tone over the job's `mute` ranges (docs/receipt.md).
public struct AudioMuteRecord: Codable, Equatable, Sendable {
    /// The ranges as the manifest gave them (seconds of presentation time, `end` excluded).
    public var ranges: [MuteRange]
    public var toneHz: Double
    /// Peak level of the tone, dBFS.
    public var toneDBFS: Double
    /// The audio streams decoded, toned and re-encoded as AAC, e.g. "stream 1: aac 48000 Hz 1 ch
    /// -> aac 96 kb/s". Their packets are new; the other audio streams are copied bit-exactly.
    public var reencodedStreams: [String]

    public init(ranges: [MuteRange], toneHz: Double, toneDBFS: Double, reencodedStreams: [String]) {
        self.ranges = ranges
        self.toneHz = toneHz
        self.toneDBFS = toneDBFS
        self.reencodedStreams = reencodedStreams
    }

    enum CodingKeys: String, CodingKey {
        case ranges
        case toneHz = "tone_hz"
        case toneDBFS = "tone_dbfs"
        case reencodedStreams = "reencoded_streams"
    }
}

/// What the caller of `Receipts.sign` knows; hashes, sizes, signer and time are filled in by `sign`.
public struct ReceiptPredicateInput: Sendable {
    public var toolVersion: String
    public var models: [ReceiptPredicate.Model]
    public var config: JobConfig
    public var counts: StageCounts
    public var droppedStreams: [String]
    /// Nil: not known (the receipt then has no `dropped_metadata`).
    public var droppedMetadata: [String]?
    /// Nil: the job had no mute ranges.
    public var audioMute: AudioMuteRecord?
    /// Nil: the job had no analyst decisions.
    public var analyst: AnalystRecord?
    /// Nil: the job kept no tracks file.
    public var tracksFile: TracksFileRecord?
    /// When the receipt is made; nil: now.
    public var created: Date?
    /// `ReceiptPredicate.Tool.command`: `run`, or `sign` for the standalone command.
    public var command = "run"

    public init(toolVersion: String = redactVersion, models: [ReceiptPredicate.Model] = [], config: JobConfig = JobConfig(),
                counts: StageCounts = StageCounts(), droppedStreams: [String] = [], droppedMetadata: [String]? = nil,
                audioMute: AudioMuteRecord? = nil, analyst: AnalystRecord? = nil, tracksFile: TracksFileRecord? = nil,
                created: Date? = nil) {
        self.toolVersion = toolVersion
        self.models = models
        self.config = config
        self.counts = counts
        self.droppedStreams = droppedStreams
        self.droppedMetadata = droppedMetadata
        self.audioMute = audioMute
        self.analyst = analyst
        self.tracksFile = tracksFile
        self.created = created
    }
}

/// in-toto Statement v1.
public struct ReceiptStatement: Codable, Equatable, Sendable {
    public struct Subject: Codable, Equatable, Sendable {
        public var name: String
        public var digest: [String: String]
        public init(name: String, digest: [String: String]) {
            self.name = name
            self.digest = digest
        }
    }

    public var type: String
    public var subject: [Subject]
    public var predicateType: String
    public var predicate: ReceiptPredicate

    public init(subject: [Subject], predicate: ReceiptPredicate) {
        type = Receipts.statementType
        self.subject = subject
        predicateType = Receipts.predicateType
        self.predicate = predicate
    }

    enum CodingKeys: String, CodingKey {
        case type = "_type"
        case subject, predicateType, predicate
    }
}

/// DSSE envelope as written to `OUT.receipt.json`.
struct DSSEEnvelope: Codable, Equatable {
    struct Signature: Codable, Equatable {
        var keyid: String
        var sig: String
    }
    var payloadType: String
    var payload: String
    var signatures: [Signature]
}

/// A receipt that checked out.
public struct VerifiedReceipt: Sendable {
    public var receiptURL: URL
    public var statement: ReceiptStatement
    public var predicate: ReceiptPredicate { statement.predicate }
    /// Hex SHA-256 of the signer's raw public key.
    public var keyID: String
}

public enum Receipts {
    public static let payloadType = "application/vnd.in-toto+json"
    public static let statementType = "https://in-toto.io/Statement/v1"
    public static let predicateType = "https://redact.dev/receipt/v1"

    /// `OUT.mp4` -> `OUT.mp4.receipt.json` in the same directory.
    public static func receiptURL(for output: URL) -> URL {
        output.deletingLastPathComponent().appendingPathComponent(output.lastPathComponent + ".receipt.json")
    }

    /// `redact sign` signs an output this process did not make: it refuses one whose video
    /// packets are the input's (the input itself, or its video stream copied: not re-encoded, so
    /// not redacted). A signed copy of the original used to verify OK. Every video stream of the
    /// input counts: a file holding two cameras has two to copy.
    ///
    /// Compared slice by slice (`Probe.videoSliceDigests`), not as one hash of each stream: that
    /// refused only an exact copy, and the original's video remuxed into MPEG-TS, cut by a frame
    /// or stripped of its SEI was signed (found by an adversarial review here). One slice of the
    /// input's in the output is enough to refuse it: a redacted output is re-encoded throughout.
    public static func checkStandaloneOutput(_ output: URL, input: URL) throws {
        let sharedByStream = try Probe.videoSlicesShared(by: input.path, with: output.path)
        for (stream, shared) in sharedByStream.sorted(by: { $0.key < $1.key }) where shared > 0 {
            throw RedactError.badMedia(path: output.path, detail: "not a redacted output, so not signed: \(shared) of its coded pictures' slices are bytes of \(input.path)'s video stream \(stream) (the input, or its video copied, remuxed or cut, not re-encoded)")
        }
    }

    /// Hashes `output` and `input`, builds and signs the statement, writes the receipt atomically
    /// beside the output (replacing an older one) and returns its URL. `inputDigest`: the input's
    /// SHA-256 and size when the caller already hashed it (the input is not read again).
    /// `outputContents`: where the output's bytes are now, when they are not yet at `output`
    /// (a temporary file renamed into place after signing); the receipt names `output`.
    @discardableResult
    public static func sign(output: URL, input: URL, inputDigest: (sha256: String, size: Int)? = nil,
                            outputContents: URL? = nil,
                            predicate partial: ReceiptPredicateInput, key: SigningKey) throws -> URL {
        let out = try FileDigest.sha256AndSize(of: outputContents ?? output)
        let inp = try inputDigest ?? FileDigest.sha256AndSize(of: input)
        let publicKey = key.publicKey
        let predicate = ReceiptPredicate(
            // `sign` ran no network: no engine to name.
            tool: .init(name: "redact", version: partial.toolVersion,
                        inferenceEngine: partial.command == "sign" ? nil : partial.config.detector.inferenceDescription,
                        command: partial.command),
            input: .init(name: input.lastPathComponent, sha256: inp.sha256, size: inp.size),
            output: .init(name: output.lastPathComponent, sha256: out.sha256, size: out.size),
            models: partial.models,
            config: partial.config,
            counts: partial.counts,
            droppedStreams: partial.droppedStreams,
            droppedMetadata: partial.droppedMetadata,
            audioMute: partial.audioMute,
            analyst: partial.analyst,
            tracksFile: partial.tracksFile,
            signer: .init(keyID: publicKey.keyID, publicKey: publicKey.rawRepresentation.base64EncodedString()),
            created: iso8601(partial.created ?? Date())
        )
        let statement = ReceiptStatement(
            subject: [.init(name: output.lastPathComponent, digest: ["sha256": out.sha256])],
            predicate: predicate
        )
        let receiptURL = receiptURL(for: output)
        let payload: Data
        do {
            payload = try statementEncoder().encode(statement)
        } catch {
            throw RedactError.output(path: receiptURL.path, detail: "cannot encode statement: \(error)")
        }
        let signature: Data
        do {
            signature = try key.signature(for: pae(payloadType: payloadType, payload: payload))
        } catch {
            throw RedactError.output(path: receiptURL.path, detail: "signing failed: \(error)")
        }
        let envelope = DSSEEnvelope(
            payloadType: payloadType,
            payload: payload.base64EncodedString(),
            signatures: [.init(keyid: publicKey.keyID, sig: signature.base64EncodedString())]
        )
        let bytes: Data
        do {
            bytes = try canonicalBytes(of: envelope)
        } catch {
            throw RedactError.output(path: receiptURL.path, detail: "cannot encode receipt: \(error)")
        }
        try AtomicFile.write(bytes, to: receiptURL)
        return receiptURL
    }

    /// Checks a receipt against the output (and optionally the input and a trusted key).
    /// Any mismatch throws `.verificationFailed(path:reason:)` naming the receipt or the file at fault.
    /// A missing output or input file throws `.inputNotFound`.
    @discardableResult
    public static func verify(output: URL, receipt: URL? = nil, input: URL? = nil, trustedKey: PublicKey? = nil) throws -> VerifiedReceipt {
        let receiptURL = receipt ?? receiptURL(for: output)
        let rpath = receiptURL.path
        func fail(_ reason: String, path: String? = nil) -> RedactError {
            .verificationFailed(path: path ?? rpath, reason: reason)
        }

        // 1. The receipt exists and is exactly the bytes this tool writes.
        guard FileManager.default.fileExists(atPath: rpath) else {
            throw fail("receipt not found")
        }
        guard let bytes = FileManager.default.contents(atPath: rpath) else {
            throw fail("receipt is not readable")
        }
        let envelope: DSSEEnvelope
        do {
            envelope = try JSONDecoder().decode(DSSEEnvelope.self, from: bytes)
        } catch {
            throw fail("receipt is not a valid DSSE envelope JSON: \(oneLine(error))")
        }
        guard let canonical = try? canonicalBytes(of: envelope) else {
            throw fail("receipt cannot be re-serialized")
        }
        guard canonical == bytes else {
            let offset = zip(canonical, bytes).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset
                ?? min(canonical.count, bytes.count)
            throw fail("receipt is not in canonical form (first difference at byte \(offset)); it was altered")
        }

        // 2. Envelope fields.
        guard envelope.payloadType == payloadType else {
            throw fail("payloadType is \"\(envelope.payloadType)\", expected \"\(payloadType)\"")
        }
        guard envelope.signatures.count == 1, let sigEntry = envelope.signatures.first else {
            throw fail("expected exactly one signature, found \(envelope.signatures.count)")
        }
        guard let payload = strictBase64(envelope.payload) else {
            throw fail("payload is not valid base64")
        }
        guard let signature = strictBase64(sigEntry.sig), signature.count == 64 else {
            throw fail("signature is not a base64 64-byte Ed25519 signature")
        }
        let statement: ReceiptStatement
        do {
            statement = try JSONDecoder().decode(ReceiptStatement.self, from: payload)
        } catch {
            throw fail("payload is not a valid receipt statement: \(oneLine(error))")
        }
        guard statement.type == statementType else {
            throw fail("statement _type is \"\(statement.type)\", expected \"\(statementType)\"")
        }
        guard statement.predicateType == predicateType else {
            throw fail("predicateType is \"\(statement.predicateType)\", expected \"\(predicateType)\"")
        }

        // 3. Key and signature.
        let predicate = statement.predicate
        guard let rawKey = strictBase64(predicate.signer.publicKey), rawKey.count == 32,
              let signer = try? PublicKey(rawRepresentation: rawKey) else {
            throw fail("signer.public_key is not a base64 32-byte Ed25519 key")
        }
        guard sigEntry.keyid == signer.keyID else {
            throw fail("signature keyid \(sigEntry.keyid) does not match the embedded public key (key id \(signer.keyID))")
        }
        guard predicate.signer.keyID == signer.keyID else {
            throw fail("signer.key_id \(predicate.signer.keyID) does not match the embedded public key (key id \(signer.keyID))")
        }
        guard signer.isValidSignature(signature, for: pae(payloadType: envelope.payloadType, payload: payload)) else {
            throw fail("Ed25519 signature is invalid for key \(signer.keyID)")
        }
        if let trustedKey, trustedKey != signer {
            throw fail("signed by key \(signer.keyID), not the trusted key \(trustedKey.keyID)")
        }

        // 4. The subject is this output file.
        guard statement.subject.count == 1, let subject = statement.subject.first else {
            throw fail("expected exactly one subject, found \(statement.subject.count)")
        }
        guard let subjectHash = subject.digest["sha256"] else {
            throw fail("subject has no sha256 digest")
        }
        guard predicate.output.name == subject.name, predicate.output.sha256 == subjectHash else {
            throw fail("predicate.output does not agree with the statement subject")
        }
        let opath = output.path
        guard subject.name == output.lastPathComponent else {
            throw fail("receipt is for \"\(subject.name)\", not \"\(output.lastPathComponent)\"", path: opath)
        }
        guard FileManager.default.fileExists(atPath: opath) else {
            throw RedactError.inputNotFound(path: opath)
        }
        let actual = try FileDigest.sha256AndSize(of: output)
        guard actual.sha256 == subjectHash else {
            throw fail("output SHA-256 hash is \(actual.sha256), receipt records \(subjectHash)", path: opath)
        }
        // Whoever signed it, an output that is its own input was not redacted.
        guard predicate.input.sha256 != subjectHash else {
            throw fail("the output is the input itself (the same SHA-256): not redacted", path: opath)
        }
        guard actual.size == predicate.output.size else {
            throw fail("output size is \(actual.size) bytes, receipt records \(predicate.output.size)", path: opath)
        }

        // 5. Optionally, the input.
        if let input {
            guard FileManager.default.fileExists(atPath: input.path) else {
                throw RedactError.inputNotFound(path: input.path)
            }
            let inp = try FileDigest.sha256AndSize(of: input)
            guard inp.sha256 == predicate.input.sha256 else {
                throw fail("input SHA-256 hash is \(inp.sha256), receipt records \(predicate.input.sha256)", path: input.path)
            }
            guard inp.size == predicate.input.size else {
                throw fail("input size is \(inp.size) bytes, receipt records \(predicate.input.size)", path: input.path)
            }
        }

        return VerifiedReceipt(receiptURL: receiptURL, statement: statement, keyID: signer.keyID)
    }

    // MARK: - Encoding

    /// DSSE pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload.
    public static func pae(payloadType: String, payload: Data) -> Data {
        let type = Data(payloadType.utf8)
        var out = Data("DSSEv1 \(type.count) ".utf8)
        out.append(type)
        out.append(Data(" \(payload.count) ".utf8))
        out.append(payload)
        return out
    }

    static func statementEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The exact bytes of a receipt file: sorted keys, pretty-printed, one trailing newline.
    static func canonicalBytes(of envelope: DSSEEnvelope) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        var data = try encoder.encode(envelope)
        data.append(0x0a)
        return data
    }

    /// Base64 that decodes and re-encodes to the same text (no stray padding bits or whitespace).
    static func strictBase64(_ text: String) -> Data? {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
        return data
    }

    /// `date` in UTC to the second, as `2026-12-06T07:40:03Z` (what ISO8601DateFormatter's
    /// internet date-time format writes). Made here from `gmtime_r`: Foundation's formatter
    /// loads ICU's time zone data, about 6 MB that then stay resident for the whole job (a lock
    /// holder's start time is written first thing).
    static func iso8601(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var utc = tm()
        gmtime_r(&seconds, &utc)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(digits(utc.tm_year + 1900, 4))-\(digits(utc.tm_mon + 1, 2))-\(digits(utc.tm_mday, 2))"
            + "T\(digits(utc.tm_hour, 2)):\(digits(utc.tm_min, 2)):\(digits(utc.tm_sec, 2))Z"
    }

    private static func oneLine(_ error: Error) -> String {
        let text: String
        if let decoding = error as? DecodingError {
            switch decoding {
            case .dataCorrupted(let c), .keyNotFound(_, let c), .typeMismatch(_, let c), .valueNotFound(_, let c):
                let path = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                text = "$\(path): \(c.debugDescription)"
            @unknown default:
                text = "\(error)"
            }
        } else {
            text = "\(error)"
        }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}

extension Receipts {
    /// `redact sign --tracks`: the receipt then records the tracks file's counts and settings as
    /// what the output holds, so the file must be of this input (its SHA-256) and every box in
    /// it must be painted over in the output, tested on the decoded pictures as `redact eval`
    /// tests ground truth (`PixelScorer`: a box whose pixels are still the input's is a leak;
    /// one too plain to tell is not counted). Without this check a plain re-encode of the
    /// original, signed with the tracks of a real run, got a receipt claiming every face redacted
    /// (found by an adversarial review here).
    public static func checkTracksPainted(output: URL, input: URL, tracks summary: TracksSummary, named tracks: URL, inputSHA256: String) throws {
        let file = summary.file
        guard file.input.sha256 == inputSHA256 else {
            throw RedactError.badJSON(path: tracks.path, jsonPath: "$.input.sha256",
                                      detail: "tracks were made from another file (\(file.input.sha256)); \(input.path) is \(inputSHA256)")
        }
        let rows = file.tracks.flatMap { t in
            t.boxes.filter { $0.w > 0 && $0.h > 0 }.map {
                GroundTruthRow(frame: $0.frame, id: t.id, box: Box(x: $0.x, y: $0.y, w: $0.w, h: $0.h),
                               objectClass: t.objectClass.rawValue, visibleFraction: 1)
            }
        }
        var options = PixelEvalOptions()
        options.overRedactionStride = 0
        options.originalVideoStream = file.detector?.videoStream
        let report = try Evaluation.evaluate(original: input, redacted: output, truth: GroundTruth(rows: rows), named: tracks.path, options: options)
        guard report.frames.match else {
            throw RedactError.badMedia(path: output.path, detail: "not signed: it has \(report.frames.redacted) frames, \(input.path) has \(report.frames.original)")
        }
        if report.all.leakFrames > 0 {
            throw RedactError.badMedia(path: output.path, detail: "not signed: \(report.all.objectFrames - report.all.redacted) of the \(report.all.objectFrames) boxes of \(tracks.lastPathComponent) tested are not painted over, in \(report.all.leakFrames) frames from frame \(report.all.firstLeakFrame.map(String.init) ?? "?"): this output was not rendered from these tracks")
        }
    }
}
