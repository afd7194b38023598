import Foundation

/// A batch manifest (format version 1) as read by `redact run MANIFEST.json`. See docs/manifest.md.
public struct Manifest: Equatable, Sendable {
    public var version: Int
    /// The receipt signing key, resolved against the manifest's directory; nil when not given.
    public var signingKey: URL?
    /// At least one job; ids and outputs are unique.
    public var jobs: [ManifestJob]
    /// The manifest file (absolute, standardized).
    public var sourceURL: URL
    /// Directories holding originals: nothing is ever written inside them.
    public var evidenceDirectories: [URL] = []

    public init(version: Int, signingKey: URL?, jobs: [ManifestJob], sourceURL: URL) {
        self.version = version
        self.signingKey = signingKey
        self.jobs = jobs
        self.sourceURL = sourceURL
    }
}

/// One job of a manifest: paths are absolute and standardized; `config` is the fully merged
/// configuration (built-in defaults, then the manifest's `defaults`, then the job's own sections).
public struct ManifestJob: Equatable, Sendable {
    public var id: String
    public var input: URL
    public var output: URL
    /// 64 lowercase hexadecimal characters when given.
    public var expectedInputSHA256: String?
    /// Where the job keeps its tracks.json (every box painted, with its track id and source);
    /// nil: not kept.
    public var tracks: URL?
    /// The manifest's evidence directories: this job writes nothing inside them.
    public var evidenceDirectories: [URL] = []
    public var config: JobConfig
    /// Spans whose audio is replaced by a tone (`mute`, Audio/MuteRange.swift); empty: none.
    public var mute: [MuteRange] = []
    /// Tracks left visible (`keep`, Analyst/AnalystDecisions.swift); empty: none.
    public var keep: [KeepDecision] = []
    /// The tracks file the `keep` ids were read from (`tracks_sha256`); required with `keep`.
    public var reviewedTracks: ReviewedTracks?
    /// Regions painted whatever the detector found (`boxes`); empty: none.
    public var manualBoxes: [ManualBox] = []
    /// Regions detections are never painted over (`exclude_regions`); empty: none.
    public var excludeRegions: [ExcludeRegion] = []
    /// The manifest as the user named it, for errors about the job's keys found when it runs.
    public var manifestPath: String = "manifest"

    public init(id: String, input: URL, output: URL, expectedInputSHA256: String?, tracks: URL? = nil, config: JobConfig) {
        self.id = id
        self.input = input
        self.output = output
        self.expectedInputSHA256 = expectedInputSHA256
        self.tracks = tracks
        self.config = config
    }
}

/// Strict loader for manifests and config-override documents. Every problem is reported as
/// `RedactError.badJSON(path:jsonPath:detail:)` naming the exact key; a missing manifest file is
/// `RedactError.inputNotFound(path:)`.
public enum ManifestLoader {
    /// The only manifest format version this build reads.
    public static let supportedVersion = 1
    /// Larger files are rejected before being read (a video passed by mistake, for instance).
    public static let maxManifestBytes = 16 * 1024 * 1024

    static let x264Presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
    static let supportedModels = ["centerface"]

    static let topLevelKeys = ["version", "defaults", "signing_key", "evidence_dirs", "jobs"]
    static let sectionKeys = ["detector", "tracker", "render"]
    static let jobKeys = ["id", "input", "output", "input_sha256", "tracks", "tracks_sha256", "detector", "tracker", "render", "mute",
                          "keep", "boxes", "exclude_regions"]
    static let detectorKeys = ["model", "classes", "threshold", "plate_threshold", "input_size", "coarse_input_size", "full_input_every", "engine", "precision", "threads", "every", "windows", "second_look", "second_look_below", "second_look_max", "video_stream"]
    static let trackerKeys = ["iou_threshold", "max_gap", "extend_frames", "reach_back", "low_score", "min_hits", "flow", "confirm_score", "confirm_hits", "confirm_hits_score", "large_fraction", "confirm_large_score"]
    static let renderKeys = ["style", "shape", "padding", "plate_padding", "crf", "preset", "keep_audio"]

    // MARK: Public API

    /// Reads and validates the manifest at `url`. Relative paths inside resolve against the
    /// manifest's directory. Errors name the manifest as given (`url`'s path relative to the
    /// current directory when it was given that way).
    public static func load(contentsOf url: URL) throws -> Manifest {
        let display = displayPath(of: url)
        let fileURL = URL(fileURLWithPath: url.absoluteURL.path, isDirectory: false).standardized
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: fileURL.path, isDirectory: &isDirectory),
              !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: fileURL.path)
        else {
            throw RedactError.inputNotFound(path: display)
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: fileURL.path),
           (attributes[.type] as? FileAttributeType) == .typeRegular,
           let size = (attributes[.size] as? NSNumber)?.int64Value,
           size > Int64(maxManifestBytes) {
            throw RedactError.badJSON(path: display, jsonPath: "$",
                                      detail: "file is \(size) bytes; a manifest is at most \(maxManifestBytes) bytes (is this really a manifest?)")
        }
        let data: Data
        do {
            data = try Data(contentsOf: fileURL)
        } catch {
            throw RedactError.inputNotFound(path: display)
        }
        var manifest = try parse(data, path: display, baseDirectory: fileURL.deletingLastPathComponent())
        manifest.sourceURL = fileURL
        return manifest
    }

    /// Validates manifest JSON. `path` is used in errors and, resolved against the current
    /// directory, as `sourceURL`; relative paths inside resolve against `baseDirectory`.
    public static func parse(_ data: Data, path: String, baseDirectory: URL) throws -> Manifest {
        let v = ManifestValidator(path: path)
        let root = try v.parseJSON(data)
        let base = URL(fileURLWithPath: baseDirectory.absoluteURL.path, isDirectory: true).standardized
        let members = try v.members(root, at: "$", what: "a manifest object")

        // The version decides the schema, so it is checked before anything else.
        let index = v.lookup(members)
        guard let versionValue = index["version"] else {
            throw v.fail("$.version", "missing required key (expected integer \(supportedVersion))")
        }
        guard case .number(let n) = versionValue, let version = n.intValue else {
            throw v.fail("$.version", "expected integer \(supportedVersion), found \(versionValue.foundDescription)")
        }
        guard version == supportedVersion else {
            throw v.fail("$.version", "unsupported manifest version \(version); this redact reads version \(supportedVersion)")
        }
        try v.rejectUnknownKeys(members, at: "$", allowed: topLevelKeys)

        var defaults = JobConfig()
        if let d = index["defaults"] {
            let p = ManifestValidator.child("$", "defaults")
            let sections = try v.members(d, at: p, what: "an object with detector, tracker and render sections")
            try v.rejectUnknownKeys(sections, at: p, allowed: sectionKeys)
            try v.applySections(sections, at: p, to: &defaults)
        }

        var signingKey: URL?
        if let k = index["signing_key"] {
            let p = ManifestValidator.child("$", "signing_key")
            signingKey = resolve(try v.pathString(k, at: p, what: "path of the signing key"), against: base)
        }

        var evidence: [URL] = []
        if let e = index["evidence_dirs"] {
            let p = ManifestValidator.child("$", "evidence_dirs")
            guard case .array(let elements) = e else {
                throw v.fail(p, "expected an array of directory paths, found \(e.foundDescription)")
            }
            for (i, element) in elements.enumerated() {
                evidence.append(resolve(try v.pathString(element, at: "\(p)[\(i)]", what: "path of an evidence directory"), against: base))
            }
        }

        guard let jobsValue = index["jobs"] else {
            throw v.fail("$.jobs", "missing required key (expected a non-empty array of jobs)")
        }
        guard case .array(let jobElements) = jobsValue, !jobElements.isEmpty else {
            throw v.fail("$.jobs", "expected a non-empty array of jobs, found \(jobsValue.foundDescription)")
        }

        let source = URL(fileURLWithPath: URL(fileURLWithPath: path).absoluteURL.path, isDirectory: false).standardized
        // Files the run reads besides the jobs' inputs: a job writing over one would destroy the
        // batch's own definition or its key (a `tracks` path naming the manifest replaced it).
        var ownFiles = [source.path: "this manifest"]
        if let signingKey { ownFiles[signingKey.path] = "the signing key ($.signing_key)" }
        var jobs: [ManifestJob] = []
        var idOwner: [String: Int] = [:]
        var outputOwner: [String: Int] = [:]
        var inputOwners: [String: Int] = [:]
        var tracksOwner: [String: Int] = [:]
        for (k, element) in jobElements.enumerated() {
            let jp = "$.jobs[\(k)]"
            var job = try parseJob(element, at: jp, defaults: defaults, base: base, v: v)
            job.evidenceDirectories = evidence
            // The files a job writes: never inside an evidence directory, never over the manifest or the key.
            for (key, url) in [("output", job.output), ("tracks", job.tracks)] {
                guard let url else { continue }
                if let i = evidence.firstIndex(where: { EvidencePolicy.isInside(url, $0) }) {
                    throw v.fail(jp + "." + key, "\(StrictJSON.quoted(url.path)) is inside evidence directory \(StrictJSON.quoted(evidence[i].path)) ($.evidence_dirs[\(i)]); nothing is written there")
                }
                if let what = ownFiles[url.path] {
                    throw v.fail(jp + "." + key, "\(StrictJSON.quoted(url.path)) is \(what); nothing is written over it")
                }
            }
            let input = job.input.path
            let output = job.output.path
            if let first = idOwner[job.id] {
                throw v.fail(jp + ".id", "duplicate id \(StrictJSON.quoted(job.id)) (already used by $.jobs[\(first)])")
            }
            if output == input {
                throw v.fail(jp + ".output", "output is the same file as the input (\(StrictJSON.quoted(output)))")
            }
            if let first = outputOwner[output] {
                throw v.fail(jp + ".output", "duplicate output \(StrictJSON.quoted(output)) (already the output of $.jobs[\(first)])")
            }
            if let other = inputOwners[output] {
                throw v.fail(jp + ".output", "output \(StrictJSON.quoted(output)) is the input of $.jobs[\(other)]")
            }
            if let other = outputOwner[input] {
                throw v.fail(jp + ".input", "input \(StrictJSON.quoted(input)) is the output of $.jobs[\(other)]")
            }
            if let other = tracksOwner[output] ?? tracksOwner[input] {
                throw v.fail(jp + (tracksOwner[output] != nil ? ".output" : ".input"), "is the tracks file of $.jobs[\(other)]")
            }
            if let tracks = job.tracks?.path {
                // Two jobs may share a tracks file (a court copy and a public copy of one reviewed
                // video): only when it means the same thing to both, the boxes of the same input
                // found with the same detector and tracker. The first to run writes it, the other
                // reuses it (JobRunner, under the file's lock).
                if let other = tracksOwner[tracks] {
                    let first = jobs[other]
                    guard first.input == job.input, first.config.detector == job.config.detector, first.config.tracker == job.config.tracker else {
                        let what = first.input != job.input ? "another input" : "another detector or tracker configuration"
                        throw v.fail(jp + ".tracks", "duplicate tracks file \(StrictJSON.quoted(tracks)) (already used by $.jobs[\(other)] with \(what); jobs may share a tracks file only with the same input, detector and tracker)")
                    }
                    // One file has one SHA-256, and a job that does not name it could detect
                    // again and replace the file the other's kept ids were read from.
                    if job.reviewedTracks?.sha256 != first.reviewedTracks?.sha256 {
                        let mine = job.reviewedTracks?.jsonPath ?? jp + ".tracks_sha256"
                        let theirs = first.reviewedTracks.map { "\($0.jsonPath) (\($0.sha256))" } ?? "$.jobs[\(other)] (none)"
                        throw v.fail(mine, "differs from \(theirs), which names the same tracks file: jobs sharing a tracks file give the same tracks_sha256, or none")
                    }
                }
                if let other = outputOwner[tracks] ?? inputOwners[tracks] {
                    throw v.fail(jp + ".tracks", "is the \(outputOwner[tracks] != nil ? "output" : "input") of $.jobs[\(other)]")
                }
                if tracksOwner[tracks] == nil { tracksOwner[tracks] = k }
            }
            idOwner[job.id] = k
            outputOwner[output] = k
            if inputOwners[input] == nil { inputOwners[input] = k }
            jobs.append(job)
        }

        var manifest = Manifest(version: version, signingKey: signingKey, jobs: jobs, sourceURL: source)
        manifest.evidenceDirectories = evidence
        return manifest
    }

    /// Applies a JSON object of config overrides (`{"detector":{...},"tracker":{...},"render":{...}}`,
    /// every section and key optional) to `config`, with the same rules as a manifest's `defaults`.
    /// On error `config` is left unchanged.
    public static func applyOverrides(_ data: Data, path: String, to config: inout JobConfig) throws {
        let v = ManifestValidator(path: path)
        let root = try v.parseJSON(data)
        let members = try v.members(root, at: "$", what: "an object with detector, tracker and render sections")
        try v.rejectUnknownKeys(members, at: "$", allowed: sectionKeys)
        var updated = config
        try v.applySections(members, at: "$", to: &updated)
        config = updated
    }

    // MARK: Jobs

    static func parseJob(_ value: StrictJSONValue, at jp: String, defaults: JobConfig, base: URL, v: ManifestValidator) throws -> ManifestJob {
        let members = try v.members(value, at: jp, what: "a job object")
        try v.rejectUnknownKeys(members, at: jp, allowed: jobKeys)
        var id: String?
        var input: URL?
        var output: URL?
        var sha: String?
        var tracks: URL?
        var mute: [MuteRange] = []
        var keep: [KeepDecision] = []
        var reviewed: ReviewedTracks?
        var manual: [ManualBox] = []
        var exclude: [ExcludeRegion] = []
        var config = defaults
        for m in members {
            let p = ManifestValidator.child(jp, m.key)
            switch m.key {
            case "id":
                let s = try v.string(m.value, at: p, expected: "job id string")
                guard isValidJobID(s) else {
                    throw v.fail(p, "expected job id of 1-128 characters from A-Z a-z 0-9 . _ - starting with a letter or digit, found \(m.value.foundDescription)")
                }
                id = s
            case "input":
                input = resolve(try v.pathString(m.value, at: p, what: "path of the input video"), against: base)
            case "output":
                let s = try v.pathString(m.value, at: p, what: "path of the output .mp4")
                let url = resolve(s, against: base)
                // The name picks the container (`OutputContainer`): .mov keeps PCM audio unchanged.
                guard url.lastPathComponent.count > 4, OutputContainer.named(url.path) != nil, !s.hasSuffix("/") else {
                    throw v.fail(p, "expected a path ending in .mp4 (or .mov, for audio MP4 cannot store), found \(m.value.foundDescription)")
                }
                output = url
            case "input_sha256":
                sha = try v.sha256(m.value, at: p)
            case "tracks_sha256":
                reviewed = ReviewedTracks(sha256: try v.sha256(m.value, at: p), jsonPath: p)
            case "mute":
                mute = try v.muteRanges(m.value, at: p)
            case "keep":
                keep = try v.keepDecisions(m.value, at: p)
            case "boxes":
                manual = try v.manualBoxes(m.value, at: p)
            case "exclude_regions":
                exclude = try v.excludeRegions(m.value, at: p)
            case "tracks":
                let s = try v.pathString(m.value, at: p, what: "path of the job's tracks.json")
                guard s.lowercased().hasSuffix(".json") else {
                    throw v.fail(p, "expected a path ending in .json, found \(m.value.foundDescription)")
                }
                tracks = resolve(s, against: base)
            default:
                // detector / tracker / render (rejectUnknownKeys allowed nothing else).
                try v.applySections([m], at: jp, to: &config)
            }
        }
        guard let id else { throw v.fail(jp + ".id", "missing required key (expected job id string)") }
        guard let input else { throw v.fail(jp + ".input", "missing required key (expected path of the input video)") }
        guard let output else { throw v.fail(jp + ".output", "missing required key (expected path of the output .mp4)") }
        if let tracks, tracks == input || tracks == output {
            throw v.fail(jp + ".tracks", "is the job's \(tracks == input ? "input" : "output")")
        }
        // Kept ids name tracks of one particular file: the job must name the file, by path and by
        // its SHA-256, so that no other detection's tracks are ever painted with them.
        if let reviewed, tracks == nil {
            throw v.fail(reviewed.jsonPath, "needs tracks (the path of the tracks file this is the SHA-256 of)")
        }
        if !keep.isEmpty && reviewed == nil {
            throw v.fail(jp + ".keep", "needs \(tracks == nil ? "tracks and " : "")tracks_sha256: the tracks file the kept track ids were read from, and its SHA-256 (redact review shows it)")
        }
        var job = ManifestJob(id: id, input: input, output: output, expectedInputSHA256: sha, tracks: tracks, config: config)
        job.mute = mute
        job.keep = keep
        job.reviewedTracks = reviewed
        job.manualBoxes = manual
        job.excludeRegions = exclude
        job.manifestPath = v.path
        return job
    }

    /// `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`
    static func isValidJobID(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...128).contains(u.count) else { return false }
        func alnum(_ b: UInt8) -> Bool {
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
        }
        guard alnum(u[0]) else { return false }
        return u.dropFirst().allSatisfy { alnum($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    // MARK: Paths

    /// Absolute paths stay; relative ones are appended to `base`. The result is standardized
    /// (`.` and `..` removed lexically; symbolic links are not resolved, `~` is not expanded).
    static func resolve(_ path: String, against base: URL) -> URL {
        let full: String
        if path.hasPrefix("/") {
            full = path
        } else {
            let b = base.path
            full = b.hasSuffix("/") ? b + path : b + "/" + path
        }
        return URL(fileURLWithPath: full, isDirectory: false).standardized
    }

    /// The path a user gave: relative to the current directory when the URL was made that way.
    static func displayPath(of url: URL) -> String {
        guard url.isFileURL else { return url.absoluteString }
        if let base = url.baseURL {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true)
            if base.standardizedFileURL.path == cwd.standardizedFileURL.path {
                return url.relativePath
            }
            return url.path
        }
        return url.path
    }
}

// MARK: - Validation helpers

struct ManifestValidator {
    let path: String

    func fail(_ jsonPath: String, _ detail: String) -> RedactError {
        .badJSON(path: path, jsonPath: jsonPath, detail: detail)
    }

    func parseJSON(_ data: Data) throws -> StrictJSONValue {
        do {
            return try StrictJSON.parse(data)
        } catch let e as StrictJSONSyntaxError {
            throw fail("$", e.description)
        }
    }

    /// `$.a.b` for identifier-like keys, `$.a["odd key"]` otherwise.
    static func child(_ parent: String, _ key: String) -> String {
        let u = Array(key.utf8)
        let simple = !u.isEmpty && u.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F
        } && !(u[0] >= 0x30 && u[0] <= 0x39)
        return simple ? parent + "." + key : parent + "[" + StrictJSON.quoted(key, limit: 64) + "]"
    }

    /// The members of an object, after checking that `value` is an object without duplicate keys.
    func members(_ value: StrictJSONValue, at jp: String, what: String) throws -> [StrictJSONMember] {
        guard case .object(let members) = value else {
            throw fail(jp, "expected \(what), found \(value.foundDescription)")
        }
        var seen = Set<String>()
        for m in members where !seen.insert(m.key).inserted {
            throw fail(ManifestValidator.child(jp, m.key), "duplicate key (each key may appear only once)")
        }
        return members
    }

    func lookup(_ members: [StrictJSONMember]) -> [String: StrictJSONValue] {
        var d: [String: StrictJSONValue] = [:]
        for m in members { d[m.key] = m.value }
        return d
    }

    func rejectUnknownKeys(_ members: [StrictJSONMember], at jp: String, allowed: [String]) throws {
        for m in members where !allowed.contains(m.key) {
            throw fail(ManifestValidator.child(jp, m.key), "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    // MARK: Typed values

    func string(_ value: StrictJSONValue, at jp: String, expected: String) throws -> String {
        guard case .string(let s) = value else {
            throw fail(jp, "expected \(expected), found \(value.foundDescription)")
        }
        return s
    }

    /// A SHA-256 as `sha256sum` prints it: 64 lowercase hexadecimal characters.
    func sha256(_ value: StrictJSONValue, at jp: String) throws -> String {
        let s = try string(value, at: jp, expected: "64 lowercase hexadecimal characters (SHA-256)")
        guard s.utf8.count == 64, s.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw fail(jp, "expected 64 lowercase hexadecimal characters (SHA-256), found \(value.foundDescription)")
        }
        return s
    }

    /// A non-empty path string without control characters.
    func pathString(_ value: StrictJSONValue, at jp: String, what: String) throws -> String {
        let s = try string(value, at: jp, expected: "non-empty string (\(what))")
        guard !s.isEmpty else {
            throw fail(jp, "expected non-empty string (\(what)), found empty string")
        }
        guard !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw fail(jp, "path must not contain control characters, found \(value.foundDescription)")
        }
        return s
    }

    func integer(_ value: StrictJSONValue, at jp: String, in range: ClosedRange<Int>, multipleOf step: Int = 1) throws -> Int {
        let expected = step == 1
            ? "expected integer from \(range.lowerBound) to \(range.upperBound)"
            : "expected integer multiple of \(step) from \(range.lowerBound) to \(range.upperBound)"
        guard case .number(let n) = value else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        guard n.isIntegerLiteral else {
            throw fail(jp, "\(expected), found \(value.foundDescription) (not an integer)")
        }
        guard let i = n.intValue, range.contains(i), i % step == 0 else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        return i
    }

    /// `detector.coarse_input_size`: 0 (off) or an input size like `input_size`'s.
    func coarseInputSize(_ value: StrictJSONValue, at jp: String) throws -> Int {
        if case .number(let n) = value, n.isIntegerLiteral, n.intValue == 0 { return 0 }
        do {
            return try integer(value, at: jp, in: 128...4096, multipleOf: 32)
        } catch {
            throw fail(jp, "expected 0 (off) or an integer multiple of 32 from 128 to 4096, found \(value.foundDescription)")
        }
    }

    /// A JSON number (integer or decimal) in `lower...upper`, or `lower<..upper` when `lowerExclusive`.
    func number(_ value: StrictJSONValue, at jp: String, lower: Double, upper: Double, lowerExclusive: Bool) throws -> Double {
        let expected = lowerExclusive
            ? "expected number greater than \(ManifestValidator.format(lower)) and at most \(ManifestValidator.format(upper))"
            : "expected number from \(ManifestValidator.format(lower)) to \(ManifestValidator.format(upper))"
        guard case .number(let n) = value else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        let d = n.doubleValue
        let aboveLower = lowerExclusive ? d > lower : d >= lower
        guard d.isFinite, aboveLower, d <= upper else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        return d
    }

    func bool(_ value: StrictJSONValue, at jp: String) throws -> Bool {
        guard case .bool(let b) = value else {
            throw fail(jp, "expected boolean true or false, found \(value.foundDescription)")
        }
        return b
    }

    func oneOf(_ value: StrictJSONValue, at jp: String, _ choices: [String]) throws -> String {
        let quoted = choices.map { "\"\($0)\"" }
        let expected = quoted.count == 1
            ? "expected \(quoted[0])"
            : "expected " + quoted.dropLast().joined(separator: ", ") + " or " + quoted.last!
        guard case .string(let s) = value else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        guard choices.contains(s) else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        return s
    }

    static func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }

    // MARK: Config sections

    /// Applies `detector` / `tracker` / `render` members (already checked against the allowed
    /// keys of their parent) in document order.
    func applySections(_ members: [StrictJSONMember], at jp: String, to config: inout JobConfig) throws {
        for m in members {
            let p = ManifestValidator.child(jp, m.key)
            switch m.key {
            case "detector": try applyDetector(m.value, at: p, to: &config.detector)
            case "tracker": try applyTracker(m.value, at: p, to: &config.tracker)
            case "render": try applyRender(m.value, at: p, to: &config.render)
            default: throw fail(p, "unknown key (expected one of: \(ManifestLoader.sectionKeys.sorted().joined(separator: ", ")))")
            }
        }
    }

    func applyDetector(_ value: StrictJSONValue, at jp: String, to d: inout DetectorConfig) throws {
        let members = try members(value, at: jp, what: "a detector settings object")
        try rejectUnknownKeys(members, at: jp, allowed: ManifestLoader.detectorKeys)
        for m in members {
            let p = ManifestValidator.child(jp, m.key)
            switch m.key {
            case "model": d.model = try oneOf(m.value, at: p, ManifestLoader.supportedModels)
            case "classes": d.classes = try classes(m.value, at: p)
            case "threshold": d.threshold = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: true)
            case "plate_threshold": d.plateThreshold = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: true)
            case "input_size": d.inputSize = try integer(m.value, at: p, in: 128...4096, multipleOf: 32)
            case "coarse_input_size": d.coarseInputSize = try coarseInputSize(m.value, at: p)
            case "full_input_every": d.fullInputEvery = try integer(m.value, at: p, in: 1...60)
            case "engine": d.engine = InferenceEngine(rawValue: try oneOf(m.value, at: p, InferenceEngine.allCases.map(\.rawValue)))!
            case "precision": d.precision = InferencePrecision(rawValue: try oneOf(m.value, at: p, InferencePrecision.allCases.map(\.rawValue)))!
            case "threads": d.threads = try integer(m.value, at: p, in: 0...64)
            case "every": d.every = try integer(m.value, at: p, in: 1...10)
            case "windows": d.windows = try bool(m.value, at: p)
            case "second_look": d.secondLook = try bool(m.value, at: p)
            case "second_look_below": d.secondLookBelow = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: false)
            case "second_look_max": d.secondLookMax = try integer(m.value, at: p, in: 0...256)
            case "video_stream": d.videoStream = try integer(m.value, at: p, in: 0...65535)
            default: break
            }
        }
    }

    /// A non-empty array of distinct class names ("face", "plate").
    func classes(_ value: StrictJSONValue, at jp: String) throws -> [ObjectClass] {
        let names = ObjectClass.allCases.map(\.rawValue)
        let expected = "expected a non-empty array of distinct class names (" + names.map { "\"\($0)\"" }.joined(separator: ", ") + ")"
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw fail(jp, "\(expected), found \(value.foundDescription)")
        }
        var result: [ObjectClass] = []
        for (i, e) in elements.enumerated() {
            let name = try oneOf(e, at: "\(jp)[\(i)]", names)
            let c = ObjectClass(rawValue: name)!
            guard !result.contains(c) else {
                throw fail("\(jp)[\(i)]", "duplicate class \(StrictJSON.quoted(name))")
            }
            result.append(c)
        }
        return result
    }

    func applyTracker(_ value: StrictJSONValue, at jp: String, to t: inout TrackerConfig) throws {
        let members = try members(value, at: jp, what: "a tracker settings object")
        try rejectUnknownKeys(members, at: jp, allowed: ManifestLoader.trackerKeys)
        for m in members {
            let p = ManifestValidator.child(jp, m.key)
            switch m.key {
            case "iou_threshold": t.iouThreshold = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: true)
            case "max_gap": t.maxGap = try integer(m.value, at: p, in: 0...60)
            case "extend_frames": t.extendFrames = try integer(m.value, at: p, in: 0...60)
            case "reach_back": t.reachBack = try integer(m.value, at: p, in: 0...60)
            case "low_score": t.lowScore = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: true)
            case "min_hits": t.minHits = try integer(m.value, at: p, in: 1...10)
            case "flow": t.flow = try bool(m.value, at: p)
            case "confirm_score": t.confirmScore = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: false)
            case "confirm_hits": t.confirmHits = try integer(m.value, at: p, in: 1...100)
            case "confirm_hits_score": t.confirmHitsScore = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: false)
            case "large_fraction": t.largeFraction = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: true)
            case "confirm_large_score": t.confirmLargeScore = try number(m.value, at: p, lower: 0, upper: 1, lowerExclusive: false)
            default: break
            }
        }
    }

    func applyRender(_ value: StrictJSONValue, at jp: String, to r: inout RenderConfig) throws {
        let members = try members(value, at: jp, what: "a render settings object")
        try rejectUnknownKeys(members, at: jp, allowed: ManifestLoader.renderKeys)
        for m in members {
            let p = ManifestValidator.child(jp, m.key)
            switch m.key {
            case "style":
                let s = try oneOf(m.value, at: p, RedactionStyle.allCases.map(\.rawValue))
                r.style = RedactionStyle(rawValue: s)!
            case "shape":
                let s = try oneOf(m.value, at: p, RedactionShape.allCases.map(\.rawValue))
                r.shape = RedactionShape(rawValue: s)!
            case "padding": r.padding = try number(m.value, at: p, lower: 0, upper: 2, lowerExclusive: false)
            case "plate_padding": r.platePadding = try number(m.value, at: p, lower: 0, upper: 2, lowerExclusive: false)
            case "crf": r.crf = try integer(m.value, at: p, in: 0...51)
            case "preset": r.preset = try oneOf(m.value, at: p, ManifestLoader.x264Presets)
            case "keep_audio": r.keepAudio = try bool(m.value, at: p)
            default: break
            }
        }
    }
}
