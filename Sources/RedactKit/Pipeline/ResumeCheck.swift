import Foundation

/// A job `redact run` did not redo because its output is up to date.
public struct JobSkip: Sendable {
    public var id: String
    public var output: String
    public var receipt: String
    public var inputSHA256: String
    /// SHA-256 of the canonical JSON of the job's effective configuration (`ResumeCheck.configSHA256`).
    public var configSHA256: String
    /// When the existing receipt was made (its `created`).
    public var receiptCreated: String
}

/// Whether a job of a batch must be (re)done.
public enum ResumeDecision: Sendable {
    /// The output and its receipt verify and record this input, configuration, models, tool
    /// version and signing key: nothing to do.
    case upToDate(JobSkip)
    /// There is no output yet.
    case missing
    /// An output exists but is not what this run would sign; why, in one line.
    case redo(reason: String)
}

/// The rule that makes `redact run` resumable and idempotent: a job is skipped only when its
/// output and receipt already exist and prove that they are exactly what this run would sign.
/// Anything else, including a receipt that cannot be read, means the job is redone and its output
/// replaced atomically. See docs/batch.md.
public enum ResumeCheck {
    /// SHA-256 of the configuration's canonical JSON (sorted keys, no whitespace): equal
    /// configurations give equal digests, whatever the key order in the manifest.
    public static func configSHA256(_ config: JobConfig) -> String {
        // Encoding a plain struct of numbers, strings and booleans does not fail.
        let data = (try? JSONFiles.encoder().encode(config)) ?? Data()
        return FileDigest.sha256(of: data)
    }

    /// The models a job uses and records in its receipt (the same list as `JobRunner.run`).
    static func modelIDs(for config: JobConfig) -> [String] {
        var ids = [config.detector.model]
        if config.detector.classes.contains(.plate) { ids.append(TextPlateDetector.modelID) }
        return ids
    }

    /// Checks, cheapest first: output and receipt exist; the receipt verifies against the output
    /// with `publicKey` (signature, output SHA-256 and size); it was made by this tool version,
    /// with this configuration and the registry's models; and the input's SHA-256 (hashed now)
    /// and size are the ones it records (and the manifest's `input_sha256`, when given).
    public static func evaluate(job: ManifestJob, publicKey: PublicKey, registry: ModelRegistry?) -> ResumeDecision {
        let fm = FileManager.default
        let receiptURL = Receipts.receiptURL(for: job.output)
        guard fm.fileExists(atPath: job.output.path) else { return .missing }
        guard fm.fileExists(atPath: receiptURL.path) else { return .redo(reason: "output has no receipt") }
        let verified: VerifiedReceipt
        do {
            verified = try Receipts.verify(output: job.output, receipt: receiptURL, trustedKey: publicKey)
        } catch {
            return .redo(reason: "existing output does not verify: \(error)")
        }
        let p = verified.predicate
        guard p.tool.name == "redact", p.tool.version == redactVersion else {
            return .redo(reason: "receipt was made by \(p.tool.name) \(p.tool.version), this is redact \(redactVersion)")
        }
        let configDigest = configSHA256(job.config)
        let recordedConfig = configSHA256(p.config)
        guard configDigest == recordedConfig else {
            return .redo(reason: "configuration changed (sha256 \(configDigest), receipt records \(recordedConfig))")
        }
        let recordedMute = p.audioMute?.ranges ?? []
        guard recordedMute == job.mute else {
            return .redo(reason: "mute ranges changed (\(job.mute.count) in the manifest, \(recordedMute.count) in the receipt, or different)")
        }
        // Kept tracks, manual boxes and excluded regions, with their reasons, as the receipt records them.
        let decisions = AnalystRecord.Decisions(job)
        // No section: no decisions. A section that cannot be read back (nil) never matches.
        let recorded: AnalystRecord.Decisions? = p.analyst == nil ? AnalystRecord.Decisions(keep: [], boxes: [], excludeRegions: []) : p.analyst?.decisions
        guard recorded == decisions else {
            return .redo(reason: "analyst decisions changed (keep, boxes or exclude_regions differ from the receipt's)")
        }
        if let registry {
            let expected = modelIDs(for: job.config).map { id in
                ReceiptPredicate.Model(id: id, sha256: registry.entry(id)?.sha256 ?? "unknown")
            }
            guard expected == p.models else {
                let names = { (m: [ReceiptPredicate.Model]) in m.map { "\($0.id) \($0.sha256.prefix(12))" }.joined(separator: ", ") }
                return .redo(reason: "models changed (registry: \(names(expected)); receipt: \(names(p.models)))")
            }
        }
        let input: (sha256: String, size: Int)
        do {
            input = try FileDigest.sha256AndSize(of: job.input)
        } catch {
            return .redo(reason: "input cannot be read")
        }
        if let expected = job.expectedInputSHA256, expected.lowercased() != input.sha256 {
            return .redo(reason: "input SHA-256 is \(input.sha256), manifest expects \(expected)")
        }
        guard input.sha256 == p.input.sha256, input.size == p.input.size else {
            return .redo(reason: "input changed (sha256 \(input.sha256), receipt records \(p.input.sha256))")
        }
        // A job that keeps its tracks.json is complete only with it, made from this input.
        if let tracks = job.tracks {
            guard let (file, tracksSHA256) = try? JSONFiles.readHashing(TracksFile.self, from: tracks) else {
                return .redo(reason: "tracks file \(tracks.path) is missing or unreadable")
            }
            guard file.input.sha256 == input.sha256, file.tracker == job.config.tracker, file.detector == job.config.detector else {
                return .redo(reason: "tracks file \(tracks.path) was made from another input or configuration")
            }
            // Kept ids belong to the reviewed file: the output must have been painted from it,
            // and it must still be the file beside the output.
            if let reviewed = job.reviewedTracks {
                guard p.tracksFile?.sha256 == reviewed.sha256, tracksSHA256 == reviewed.sha256 else {
                    return .redo(reason: "the tracks file or the output's tracks are not the reviewed ones (tracks_sha256 \(reviewed.sha256))")
                }
            }
        }
        return .upToDate(JobSkip(id: job.id, output: job.output.path, receipt: receiptURL.path, inputSHA256: input.sha256,
                                 configSHA256: configDigest, receiptCreated: p.created))
    }
}
