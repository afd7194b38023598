import Foundation
import XCTest
@testable import RedactKit

/// The real `redact` executable, spawned as a user would: exit codes, one-line errors naming the
/// file or JSON path, and never a file at the output path after a failure.
final class CLITests: TempDirectoryTestCase {
    private static var fixtureDirectory: URL?
    private static var shortClip: Fixtures.Clip?
    private static let lock = NSLock()

    override class func setUp() {
        super.setUp()
        fixtureDirectory = try? Fixtures.makeTempDirectory("cli-fixtures")
    }

    override class func tearDown() {
        if let d = fixtureDirectory { try? FileManager.default.removeItem(at: d) }
        fixtureDirectory = nil
        shortClip = nil
        super.tearDown()
    }

    /// 640x360, 15 fps, 20 frames, smptebars, one face, two AAC tracks.
    static func clip() throws -> Fixtures.Clip {
        lock.lock()
        defer { lock.unlock() }
        if let c = shortClip { return c }
        try Fixtures.requireSetup()
        guard let dir = fixtureDirectory else { throw FixtureError("no fixture directory") }
        var o = Fixtures.ClipOptions()
        o.name = "short"
        o.frames = 20
        o.audioTracks = 2
        o.background = .smptebars
        let c = try Fixtures.makeClip(in: dir, o)
        shortClip = c
        return c
    }

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        _ = try Fixtures.requireBinary()
        try super.setUpWithError()
    }

    // MARK: - Helpers

    /// Exit code, exactly one stderr line containing every `mentions`, nothing at `output`, no hidden leftovers.
    func assertFails(_ args: [String], exit code: Int32, mentions: [String], output: URL? = nil,
                     file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try Fixtures.redact(args)
        XCTAssertEqual(r.status, code, "redact \(args.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderrLines.count, 1, "stderr should be one line: \(r.stderr)", file: file, line: line)
        for m in mentions {
            XCTAssertTrue(r.stderr.contains(m), "stderr should mention \(m): \(r.stderr)", file: file, line: line)
        }
        if let output {
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "\(output.path) exists after a failure", file: file, line: line)
            let hidden = Fixtures.listing(output.deletingLastPathComponent()).filter { $0.hasPrefix(".") }
            XCTAssertEqual(hidden, [], "temporary files left", file: file, line: line)
        }
    }

    func writeKey() throws -> URL {
        let keyPath = dir.appendingPathComponent("signing.key")
        let r = try Fixtures.redact(["keygen", "-o", keyPath.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return keyPath
    }

    func writeManifest(_ json: String) throws -> URL {
        let url = dir.appendingPathComponent("manifest.json")
        try Data(json.utf8).write(to: url)
        return url
    }

    func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").map { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? ["unparsable": String(line)]
        }
    }

    // MARK: - Bad inputs

    func testMissingInputExits66() throws {
        let missing = dir.appendingPathComponent("nowhere.mp4")
        let out = dir.appendingPathComponent("det.json")
        try assertFails(["detect", missing.path, "-o", out.path], exit: 66, mentions: [missing.path], output: out)
        try assertFails(["probe", missing.path], exit: 66, mentions: [missing.path])
    }

    /// The original is never modified: a stage's JSON output must end in .json and may not be a
    /// file the stage reads (`detect clip.mp4 -o clip.mp4` used to replace the video with JSON).
    func testStageOutputsNeverReplaceTheirInputs() throws {
        let video = dir.appendingPathComponent("original.mp4")
        try FileManager.default.copyItem(at: try Self.clip().url, to: video)
        let before = try FileDigest.sha256(of: video)
        let det = dir.appendingPathComponent("det.json")
        try assertFails(["detect", video.path, "-o", video.path], exit: 64, mentions: [video.path, ".json"])
        let text = dir.appendingPathComponent("det.txt")
        try assertFails(["detect", video.path, "-o", text.path], exit: 64, mentions: [text.path, ".json"], output: text)
        var r = try Fixtures.redact(["detect", video.path, "-o", det.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let detBytes = try Data(contentsOf: det)

        try assertFails(["track", det.path, "-o", video.path], exit: 64, mentions: [video.path, ".json"])
        try assertFails(["track", det.path, "-o", det.path], exit: 73, mentions: [det.path, "input"])
        // A video whose name ends in .json is still the track stage's input.
        let jsonNamedVideo = dir.appendingPathComponent("video.json")
        try FileManager.default.copyItem(at: video, to: jsonNamedVideo)
        try assertFails(["track", det.path, "-o", jsonNamedVideo.path, "--input", jsonNamedVideo.path], exit: 73, mentions: [jsonNamedVideo.path])
        XCTAssertEqual(try FileDigest.sha256(of: jsonNamedVideo), before)

        let tracks = dir.appendingPathComponent("tracks.json")
        r = try Fixtures.redact(["track", det.path, "-o", tracks.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let tracksBytes = try Data(contentsOf: tracks)
        try assertFails(["render", video.path, tracks.path, "-o", tracks.path], exit: 73, mentions: [tracks.path, "input"])

        XCTAssertEqual(try FileDigest.sha256(of: video), before, "the original is unchanged")
        XCTAssertEqual(try Data(contentsOf: det), detBytes)
        XCTAssertEqual(try Data(contentsOf: tracks), tracksBytes)
    }

    /// `run --journal` appends to its file: never to the original (`--journal clip.mp4` appended
    /// journal lines to the video before the job hashed it), the manifest or the key.
    func testJournalIsNeverAFileTheBatchReads() throws {
        let video = dir.appendingPathComponent("original.mp4")
        try FileManager.default.copyItem(at: try Self.clip().url, to: video)
        let before = try FileDigest.sha256(of: video)
        let key = try writeKey()
        let output = dir.appendingPathComponent("out.mp4")
        let manifest = try writeManifest(#"{"version": 1, "jobs": [{"id": "a", "input": "\#(video.path)", "output": "\#(output.path)"}]}"#)
        let manifestBytes = try Data(contentsOf: manifest)
        let link = dir.appendingPathComponent("looks-like-a.jsonl")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: video)
        for (journal, code) in [(video.path, Int32(64)), (manifest.path, 64), (link.path, 73)] {
            try assertFails(["run", manifest.path, "--key", key.path, "--journal", journal], exit: code, mentions: ["journal", journal], output: output)
        }
        // The message names what the journal would be, and only that.
        try assertFails(["run", manifest.path, "--key", key.path, "--journal", link.path], exit: 73,
                        mentions: ["is job a's input (\(video.path))"], output: output)
        let manifestLink = dir.appendingPathComponent("manifest-link.jsonl")
        try FileManager.default.createSymbolicLink(at: manifestLink, withDestinationURL: manifest)
        try assertFails(["run", manifest.path, "--key", key.path, "--journal", manifestLink.path], exit: 73,
                        mentions: [manifestLink.path, "is the manifest (\(manifest.path))"], output: output)
        // Nor a job's receipt (found by an adversarial review: the journal line was appended to
        // the receipt through a link, which then no longer verified).
        let first = try Fixtures.redact(["run", manifest.path, "--key", key.path, "--journal", dir.appendingPathComponent("first.jsonl").path])
        XCTAssertEqual(first.status, 0, first.stderr)
        // A journal named `link`, a symbolic link to `target`: refused (73) with `message`, and
        // `target` is left as it was.
        func refusesJournal(_ link: URL, linkedTo target: URL, saying message: String) throws {
            let bytes = try Data(contentsOf: target)
            try FileManager.default.createSymbolicLink(at: link, withDestinationURL: target)
            let r = try Fixtures.redact(["run", manifest.path, "--key", key.path, "--journal", link.path])
            XCTAssertEqual(r.status, 73, r.stderr)
            XCTAssertTrue(r.stderr.contains(message), r.stderr)
            XCTAssertEqual(try Data(contentsOf: target), bytes)
        }
        let receipt = Receipts.receiptURL(for: output)
        try refusesJournal(dir.appendingPathComponent("receipt-link.jsonl"), linkedTo: receipt, saying: "is job a's receipt (\(receipt.path))")
        // Nor, through a link, any file of another batch (a second review linked it to another
        // manifest's receipt): the journal is never a link, nor a file with another name.
        let elsewhere = dir.appendingPathComponent("other-batch.receipt.json")
        try Data(contentsOf: receipt).write(to: elsewhere)
        let elsewhereLink = dir.appendingPathComponent("elsewhere.jsonl")
        try refusesJournal(elsewhereLink, linkedTo: elsewhere, saying: "\(elsewhereLink.path): cannot write output: the journal is a symbolic link")
        try FileManager.default.removeItem(at: output)
        try FileManager.default.removeItem(at: receipt)
        // A directory that cannot be made is reported as such, not as a file of the batch.
        let underAFile = video.appendingPathComponent("j.jsonl")
        try assertFails(["run", manifest.path, "--key", key.path, "--journal", underAFile.path], exit: 73,
                        mentions: [underAFile.path, "cannot create directory \(video.path)"], output: output)
        let unmade = try Fixtures.redact(["run", manifest.path, "--key", key.path, "--journal", underAFile.path])
        XCTAssertFalse(unmade.stderr.contains(manifest.path), "blames the manifest for a directory it cannot make: \(unmade.stderr)")
        XCTAssertEqual(try FileDigest.sha256(of: video), before, "the original is unchanged")
        XCTAssertEqual(try Data(contentsOf: manifest), manifestBytes)
        let r = try Fixtures.redact(["run", manifest.path, "--key", key.path, "--journal", dir.appendingPathComponent("j.jsonl").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try FileDigest.sha256(of: video), before)
    }

    func testTextFileNamedMP4Exits65() throws {
        let fake = dir.appendingPathComponent("fake.mp4")
        try Data("just some text, not a movie\n".utf8).write(to: fake)
        let out = dir.appendingPathComponent("det.json")
        try assertFails(["detect", fake.path, "-o", out.path], exit: 65, mentions: [fake.path], output: out)
        try assertFails(["probe", fake.path], exit: 65, mentions: [fake.path])
    }

    func testTruncatedMP4Exits65() throws {
        let half = dir.appendingPathComponent("half.mp4")
        try Fixtures.truncatedCopy(of: try Self.clip().url, to: half)
        let out = dir.appendingPathComponent("det.json")
        try assertFails(["detect", half.path, "-o", out.path], exit: 65, mentions: [half.path], output: out)
    }

    func testManifestWithWrongTypeExits65NamingThePath() throws {
        let out = dir.appendingPathComponent("o.mp4")
        let m = try writeManifest("""
            {"version": 1, "jobs": [{"id": "a", "input": "\(try Self.clip().url.path)", "output": "\(out.path)", "render": {"crf": "18"}}]}
            """)
        try assertFails(["run", m.path, "--key", try writeKey().path], exit: 65, mentions: [m.path, "$.jobs[0].render.crf"], output: out)
    }

    func testManifestWithUnknownKeyExits65NamingThePath() throws {
        let out = dir.appendingPathComponent("o.mp4")
        let m = try writeManifest("""
            {"version": 1, "defaults": {"tracker": {"max_gap": 5, "maxgap": 5}},
             "jobs": [{"id": "a", "input": "\(try Self.clip().url.path)", "output": "\(out.path)"}]}
            """)
        try assertFails(["run", m.path, "--key", try writeKey().path], exit: 65, mentions: [m.path, "$.defaults.tracker.maxgap"], output: out)
    }

    func testBatchWithAMissingInputExits2AndReportsTheFile() throws {
        let missing = dir.appendingPathComponent("gone.mp4")
        let out = dir.appendingPathComponent("o.mp4")
        let m = try writeManifest("""
            {"version": 1, "jobs": [{"id": "lost", "input": "\(missing.path)", "output": "\(out.path)"}]}
            """)
        let key = try writeKey()
        let r = try Fixtures.redact(["run", m.path, "--key", key.path, "--json"])
        XCTAssertEqual(r.status, 2, r.stderr)
        let events = jsonLines(r.stdoutText)
        let failed = events.first { $0["event"] as? String == "job_failed" }
        XCTAssertEqual(failed?["job"] as? String, "lost")
        XCTAssertTrue((failed?["error"] as? String ?? "").contains(missing.path), "\(String(describing: failed))")
        XCTAssertEqual(failed?["exit_code"] as? Int, 66)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))

        // Without --json the same failure is one line naming the job and the file.
        let plain = try Fixtures.redact(["run", m.path, "--key", key.path])
        XCTAssertEqual(plain.status, 2, plain.stderr)
        XCTAssertTrue(plain.stderrLines.contains { $0.contains("lost") && $0.contains(missing.path) }, plain.stderr)
    }

    /// An output the file system will not take (here a file-size limit, `ulimit -f`, as a full
    /// disk or a quota would be) fails as an output that cannot be written (73), not as an
    /// encoder failure (70): an operator fixes the machine and retries. `run` reports it for the
    /// job; `render`, which writes on the main thread, is not killed by SIGXFSZ (redact ignores
    /// it) but fails the same way. One line naming the output, nothing left beside it.
    func testOutputTheFileSystemRefusesExits73AndLeavesNothing() throws {
        let clip = try Self.clip()
        let key = try writeKey()
        func manifest(_ name: String, output: URL, tracks: URL? = nil) throws -> URL {
            let url = dir.appendingPathComponent(name)
            let extra = tracks.map { #", "tracks": "\#($0.path)""# } ?? ""
            try Data(#"{"version": 1, "jobs": [{"id": "big", "input": "\#(clip.url.path)", "output": "\#(output.path)"\#(extra)}]}"#.utf8).write(to: url)
            return url
        }
        // The same job without a limit: the size the limit must cut into, and tracks for `render`.
        let free = dir.appendingPathComponent("free/o.mp4"), tracks = dir.appendingPathComponent("free/o.tracks.json")
        let done = try Fixtures.redact(["run", try manifest("free.json", output: free, tracks: tracks).path, "--key", key.path])
        XCTAssertEqual(done.status, 0, done.stderr)
        let size = try FileManager.default.attributesOfItem(atPath: free.path)[.size] as? Int ?? 0
        let limitKB = size / 2 / 1024
        XCTAssertGreaterThan(limitKB, 2, "output of \(size) bytes: too small to cut in half")
        // bash's `ulimit -f` counts 1024-byte blocks.
        func limited(_ args: [String]) throws -> Fixtures.ProcessResult {
            try Fixtures.run("/bin/bash", ["-c", "ulimit -f \(limitKB); exec \"$0\" \"$@\"", try Fixtures.requireBinary().path] + args,
                             environment: ["REDACT_MODELS": Fixtures.modelsDirectory.path])
        }

        let out = dir.appendingPathComponent("out/o.mp4")
        let r = try limited(["run", try manifest("limited.json", output: out).path, "--key", key.path, "--json"])
        XCTAssertEqual(r.status, 2, r.stderr)
        let failed = jsonLines(r.stdoutText).first { $0["event"] as? String == "job_failed" }
        XCTAssertEqual(failed?["exit_code"] as? Int, 73, "\(String(describing: failed))")
        let message = failed?["error"] as? String ?? ""
        // Where the write fails depends on libavformat's buffering: a frame's packet, or the index at the end.
        XCTAssertTrue(message.contains(out.path) && message.contains("cannot write output: ") && message.contains("File too large"), message)
        XCTAssertFalse(message.contains("\n"), message)
        XCTAssertEqual(Fixtures.listing(out.deletingLastPathComponent()), [], "a failed job left files beside its output")

        let rendered = dir.appendingPathComponent("render/r.mp4")
        try FileManager.default.createDirectory(at: rendered.deletingLastPathComponent(), withIntermediateDirectories: true)
        let rr = try limited(["render", clip.url.path, tracks.path, "-o", rendered.path])
        XCTAssertEqual(rr.status, 73, "killed by a signal? \(rr.stderr)")
        let errors = rr.stderrLines.filter { $0.hasPrefix("redact: ") }
        XCTAssertEqual(errors.count, 1, rr.stderr)
        XCTAssertTrue(errors.first?.hasPrefix("redact: \(rendered.path): cannot write output: ") == true, rr.stderr)
        XCTAssertTrue(rr.stderr.contains("File too large"), rr.stderr)
        XCTAssertEqual(Fixtures.listing(rendered.deletingLastPathComponent()), [], "render left files beside its output")
    }

    /// `keygen -o ~/keys/disclosure.key` on an account without `~/keys` (docs/analyst.md's first
    /// step) makes the directory, for its owner only, as outputs' directories are made; a
    /// directory that cannot be made is one line, exit 73, and no key.
    func testKeygenMakesAMissingDirectoryForItsOwnerOnly() throws {
        let key = dir.appendingPathComponent("home/keys/disclosure.key")
        let r = try Fixtures.redact(["keygen", "-o", key.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let mode = { (url: URL) in (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue }
        XCTAssertEqual(try mode(key.deletingLastPathComponent()), 0o700)
        XCTAssertEqual(try mode(key), 0o600)
        let loaded = try SigningKey(contentsOf: key)
        XCTAssertEqual(try String(contentsOf: URL(fileURLWithPath: key.path + ".pub"), encoding: .utf8), loaded.publicKey.pem())

        let blocker = dir.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: blocker)
        let under = blocker.appendingPathComponent("keys/k.key")
        try assertFails(["keygen", "-o", under.path], exit: 73, mentions: [under.path, "cannot create directory"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: under.path + ".pub"))
    }

    // MARK: - Verify

    func testVerifyOnATamperedOutputExits1() throws {
        let clip = try Self.clip()
        let output = dir.appendingPathComponent("signed.mp4")
        // Re-encoded (sign refuses the original's own packets); what is checked here is the receipt.
        try Fixtures.ffmpeg(["-i", clip.url.path, "-map", "0", "-c:v", "libx264", "-c:a", "copy", output.path])
        let key = try writeKey()
        var r = try Fixtures.redact(["sign", output.path, "--key", key.path, "--input", clip.url.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        r = try Fixtures.redact(["verify", output.path, "--trusted-key", key.path + ".pub"])
        XCTAssertEqual(r.status, 0, "untouched output verifies: \(r.stderr)")

        try Fixtures.flipByte(of: output)
        try assertFails(["verify", output.path], exit: 1, mentions: ["FAILED"])
        let again = try Fixtures.redact(["verify", output.path])
        XCTAssertTrue(again.stderr.contains(output.lastPathComponent), again.stderr)

        // An intact output checked against the wrong original fails too.
        try Fixtures.flipByte(of: output)
        XCTAssertEqual(try Fixtures.redact(["verify", output.path]).status, 0, "restored output verifies again")
        let wrongOriginal = dir.appendingPathComponent("other.mp4")
        try FileManager.default.copyItem(at: clip.url, to: wrongOriginal)
        try Fixtures.flipByte(of: wrongOriginal, at: 100)
        try assertFails(["verify", output.path, "--input", wrongOriginal.path], exit: 1, mentions: ["FAILED"])
    }

    // MARK: - Usage

    func testUnknownSubcommandAndFlagExit64() throws {
        let unknown = try Fixtures.redact(["frobnicate", "x.mp4"])
        XCTAssertEqual(unknown.status, 64, unknown.stderr)
        XCTAssertTrue(unknown.stderr.contains("frobnicate"), unknown.stderr)

        let flag = try Fixtures.redact(["probe", try Self.clip().url.path, "--no-such-flag"])
        XCTAssertEqual(flag.status, 64, flag.stderr)
        XCTAssertTrue(flag.stderr.contains("--no-such-flag"), flag.stderr)

        let out = dir.appendingPathComponent("r.mp4")
        let tracks = dir.appendingPathComponent("t.json")
        try Data("{}".utf8).write(to: tracks)
        try assertFails(["render", try Self.clip().url.path, tracks.path, "-o", out.path, "--style", "smudge"], exit: 64, mentions: ["--style"], output: out)
        // The name picks the container: a video named anything but .mp4 or .mov is refused.
        let mkv = dir.appendingPathComponent("r.mkv")
        try assertFails(["render", try Self.clip().url.path, tracks.path, "-o", mkv.path], exit: 64, mentions: [mkv.path, ".mp4", ".mov"], output: mkv)
        try assertFails(["mux", out.path, "--audio-from", try Self.clip().url.path, "-o", mkv.path], exit: 64, mentions: [mkv.path], output: mkv)
        let detections = dir.appendingPathComponent("d.json")
        try assertFails(["detect", try Self.clip().url.path, "-o", detections.path, "--engine", "tensorflow"], exit: 64,
                        mentions: ["--engine", "openvino", "opencv"], output: detections)
        // Ranges are the manifest keys' own (SettingOptions), named by the option.
        try assertFails(["detect", try Self.clip().url.path, "-o", detections.path, "--threshold", "1.5"], exit: 64,
                        mentions: ["--threshold: expected number greater than 0 and at most 1, found number 1.5"], output: detections)
        try assertFails(["detect", try Self.clip().url.path, "-o", detections.path, "--input-size", "1000"], exit: 64,
                        mentions: ["--input-size: expected integer multiple of 32 from 128 to 4096, found number 1000"], output: detections)
        try assertFails(["render", try Self.clip().url.path, tracks.path, "-o", out.path, "--crf", "52"], exit: 64,
                        mentions: ["--crf: expected integer from 0 to 51"], output: out)
        let tracked = dir.appendingPathComponent("tracked.json")
        try assertFails(["track", detections.path, "-o", tracked.path, "--max-gap", "61"], exit: 64,
                        mentions: ["--max-gap: expected integer from 0 to 60"], output: tracked)
        try assertFails(["track", detections.path, "-o", tracked.path, "--reach-back", "61"], exit: 64,
                        mentions: ["--reach-back: expected integer from 0 to 60"], output: tracked)
        try assertFails(["track", detections.path, "-o", tracked.path, "--no-flow", "--input", try Self.clip().url.path], exit: 64,
                        mentions: ["--input", "--no-flow"], output: tracked)
    }

    // MARK: - Interruption

    /// README: exit code 3 is "interrupted", and a job never leaves a file at its output path.
    /// SIGINT is sent once the job has started writing its hidden temporary output.
    /// Starts `redact run MANIFEST --key KEY ARGUMENTS` and waits (polling, no timing assertion)
    /// until the job's temporary output exists beside `output` (not just its lock file); skips
    /// the test if the job ends first.
    func startRunAndWaitUntilWriting(manifest: URL, key: URL, output: URL, arguments: [String] = [],
                                     standardError: Any) throws -> Process {
        try startAndWaitUntilWriting(["run", manifest.path, "--key", key.path] + arguments, output: output, standardError: standardError)
    }

    /// Starts `redact ARGUMENTS` (through `launcher`, e.g. nohup, if given) and waits as above.
    func startAndWaitUntilWriting(_ arguments: [String], output: URL, launcher: String? = nil, standardError: Any) throws -> Process {
        let p = Process()
        let binary = try Fixtures.requireBinary()
        if let launcher {
            p.executableURL = URL(fileURLWithPath: launcher)
            p.arguments = [binary.path] + arguments
        } else {
            p.executableURL = binary
            p.arguments = arguments
        }
        p.environment = ProcessInfo.processInfo.environment.merging(["REDACT_MODELS": Fixtures.modelsDirectory.path]) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = standardError
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let outDir = output.deletingLastPathComponent()
        let writing = { Fixtures.listing(outDir).contains { $0.hasPrefix(".\(output.lastPathComponent).partial-") } }
        let deadline = Date().addingTimeInterval(300)
        while p.isRunning && Date() < deadline && !writing() { usleep(20_000) }
        guard p.isRunning, writing() else {
            if p.isRunning { p.terminate() }
            p.waitUntilExit()
            throw XCTSkip("the job ended before it could be interrupted")
        }
        return p
    }

    /// A one-job manifest over a 150-frame clip with audio (long enough to be interrupted while
    /// it writes), its output directory and path, and a signing key.
    func longJob(_ name: String) throws -> (clip: Fixtures.Clip, manifest: URL, key: URL, outDir: URL, output: URL) {
        var o = Fixtures.ClipOptions()
        o.name = name
        o.frames = 150
        let clip = try Fixtures.makeClip(in: dir, o)
        let outDir = dir.appendingPathComponent("out")
        let output = outDir.appendingPathComponent("\(name).redacted.mp4")
        let m = try writeManifest("""
            {"version": 1, "jobs": [{"id": "\(name)", "input": "\(clip.url.path)", "output": "\(output.path)"}]}
            """)
        return (clip, m, try writeKey(), outDir, output)
    }

    func testInterruptedRunExits3AndLeavesNothing() throws {
        let (_, m, key, outDir, output) = try longJob("long")
        let p = try startRunAndWaitUntilWriting(manifest: m, key: key, output: output, arguments: ["--json"], standardError: FileHandle.nullDevice)
        p.interrupt()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "redact was killed by the signal instead of exiting")
        XCTAssertEqual(p.terminationStatus, 3, "exit code for an interrupted run")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "output exists after an interrupted run")
        XCTAssertEqual(Fixtures.listing(outDir), [], "files (temporaries, lock) left in the output directory after SIGINT")
    }

    /// A second signal stops at once (no unwinding) with the same exit code; nothing is at the
    /// final path, and the next run completes the job and removes the leftover temporary file.
    func testSecondSignalStopsAtOnceAndTheNextRunCleansUp() throws {
        let (clip, m, key, outDir, output) = try longJob("long2")
        let stderr = Pipe()
        let p = try startRunAndWaitUntilWriting(manifest: m, key: key, output: output, standardError: stderr)
        kill(p.processIdentifier, SIGINT)
        kill(p.processIdentifier, SIGTERM)
        let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, text)
        XCTAssertEqual(p.terminationStatus, 3, text)
        XCTAssertTrue(text.contains("redact: second signal; stopped at once"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "output exists after two signals")

        let again = try Fixtures.redact(["run", m.path, "--key", key.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try Fixtures.redact(["verify", output.path, "--input", clip.url.path]).status, 0)
        XCTAssertEqual(Fixtures.listing(outDir).filter { $0.hasPrefix(".") }, [], "leftover temporary or lock files after the rerun")
    }

    /// SIGHUP (the terminal went away: an SSH session dropped) stops a run as SIGINT does: exit 3,
    /// nothing left beside the output, the job journalled as interrupted, so `--retry-failed`
    /// takes it up. Before, the signal killed redact outright: its lock and hidden temporary
    /// output stayed until the next run, and the journal had no entry for the job.
    func testHangUpStopsARunCleanlyAndJournalsTheJob() throws {
        let (clip, m, key, outDir, output) = try longJob("hup")
        let p = try startRunAndWaitUntilWriting(manifest: m, key: key, output: output, standardError: FileHandle.nullDevice)
        kill(p.processIdentifier, SIGHUP)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "redact was killed by SIGHUP instead of exiting")
        XCTAssertEqual(p.terminationStatus, 3, "exit code for a hung-up run")
        XCTAssertEqual(Fixtures.listing(outDir), [], "files (temporaries, lock) left in the output directory after SIGHUP")
        let entries = try Journal.read(Journal.defaultURL(forManifest: m))
        XCTAssertEqual(entries.last?.job, "hup")
        XCTAssertEqual(entries.last?.status, .failed)
        XCTAssertEqual(entries.last?.exitCode, 3)

        let retry = try Fixtures.redact(["run", m.path, "--key", key.path, "--retry-failed"])
        XCTAssertEqual(retry.status, 0, retry.stderr)
        XCTAssertEqual(try Fixtures.redact(["verify", output.path, "--input", clip.url.path]).status, 0)
    }

    /// A run started under `nohup` (SIGHUP ignored when redact starts) was asked to outlive its
    /// terminal: the hang-up is left ignored and the job completes.
    func testHangUpIgnoredOnEntryStaysIgnored() throws {
        let (clip, m, key, _, output) = try longJob("nohup")
        let p = try startAndWaitUntilWriting(["run", m.path, "--key", key.path], output: output, launcher: "/usr/bin/nohup",
                                             standardError: FileHandle.nullDevice)
        kill(p.processIdentifier, SIGHUP)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "killed by SIGHUP under nohup")
        XCTAssertEqual(p.terminationStatus, 0, "a nohup run stopped at a hang-up")
        XCTAssertEqual(try Fixtures.redact(["verify", output.path, "--input", clip.url.path]).status, 0)
    }

    /// `render` stopped by SIGINT exits 3 and leaves nothing. Before, the signal killed it and its
    /// hidden temporary output stayed beside the output for good: render takes no lock, and no
    /// later command cleans up after it.
    func testInterruptedRenderExits3AndLeavesNothing() throws {
        let (clip, _, _, outDir, output) = try longJob("render")
        let frames = (1...clip.frameCount).map { FrameBoxes(frame: $0, boxes: []) }
        let tracks = dir.appendingPathComponent("render.tracks.json")
        let file = TracksFile(frames: frames, input: InputReference(path: clip.url.path, sha256: try FileDigest.sha256(of: clip.url)),
                              geometry: FrameGeometry(storedWidth: clip.width, storedHeight: clip.height, quarterTurns: 0),
                              model: nil, detector: nil, tracker: TrackerConfig())
        try JSONEncoder().encode(file).write(to: tracks)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let stderr = Pipe()
        let p = try startAndWaitUntilWriting(["render", clip.url.path, tracks.path, "-o", output.path], output: output, standardError: stderr)
        p.interrupt()
        let text = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "render was killed by the signal instead of exiting: \(text)")
        XCTAssertEqual(p.terminationStatus, 3, text)
        XCTAssertTrue(text.hasSuffix("redact: interrupted\n"), text)
        XCTAssertEqual(Fixtures.listing(outDir), [], "render left files in the output directory after SIGINT")
    }

    /// A reader that went away (stdout and stderr pipes closed: `| head`, a log collector
    /// restarted) does not stop a run: what it would print is dropped, the job completes and is
    /// journalled. Before, SIGPIPE killed redact at its first line (`--json` prints job_started
    /// before any work), leaving the job's lock behind and no output.
    func testClosedOutputPipesDoNotStopARun() throws {
        let clip = try Self.clip()
        let output = dir.appendingPathComponent("piped/o.mp4")
        let m = try writeManifest("""
            {"version": 1, "jobs": [{"id": "piped", "input": "\(clip.url.path)", "output": "\(output.path)"}]}
            """)
        let p = Process()
        p.executableURL = try Fixtures.requireBinary()
        p.arguments = ["run", m.path, "--key", try writeKey().path, "--json"]
        p.environment = ProcessInfo.processInfo.environment.merging(["REDACT_MODELS": Fixtures.modelsDirectory.path]) { $1 }
        let stdout = Pipe(), stderr = Pipe()
        p.standardOutput = stdout
        p.standardError = stderr
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // The only readers, closed before redact has loaded its models: every line it writes fails.
        try stdout.fileHandleForReading.close()
        try stderr.fileHandleForReading.close()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .exit, "redact was killed (SIGPIPE?) writing to a closed pipe")
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(try Fixtures.redact(["verify", output.path, "--input", clip.url.path]).status, 0)
        XCTAssertEqual(Fixtures.listing(output.deletingLastPathComponent()), ["o.mp4", "o.mp4.receipt.json"])
        XCTAssertEqual(try Journal.read(Journal.defaultURL(forManifest: m)).last?.status, .done)
    }

    // MARK: - run --json and probe --json

    func testRunJSONPrintsOneEventPerLineIncludingJobDone() throws {
        let clip = try Self.clip()
        let out = dir.appendingPathComponent("out/redacted.mp4")
        let m = try writeManifest("""
            {"version": 1, "jobs": [{"id": "one", "input": "\(clip.url.path)", "output": "\(out.path)"}]}
            """)
        let r = try Fixtures.redact(["run", m.path, "--key", try writeKey().path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdoutText.split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        for line in lines {
            let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8))
            XCTAssertTrue(obj is [String: Any], "not one JSON object: \(line)")
        }
        let events = jsonLines(r.stdoutText)
        XCTAssertEqual(events.first?["event"] as? String, "job_started")
        XCTAssertEqual(events.last?["event"] as? String, "batch_done")
        let done = events.first { $0["event"] as? String == "job_done" }
        XCTAssertNotNil(done, r.stdoutText)
        XCTAssertEqual(done?["job"] as? String, "one")
        XCTAssertEqual(done?["output"] as? String, out.path)
        XCTAssertEqual((done?["counts"] as? [String: Any])?["frames"] as? Int, clip.frameCount)
        XCTAssertEqual((done?["counts"] as? [String: Any])?["audio_packets"] as? Int,
                       try Fixtures.audioPacketHashes(clip.url, track: 0).count + Fixtures.audioPacketHashes(clip.url, track: 1).count)
        XCTAssertEqual(done?["input_sha256"] as? String, try FileDigest.sha256(of: clip.url))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
        let receipt = done?["receipt"] as? String ?? ""
        XCTAssertTrue(FileManager.default.fileExists(atPath: receipt), receipt)
        let v = try Fixtures.redact(["verify", out.path, "--input", clip.url.path])
        XCTAssertEqual(v.status, 0, v.stderr)
    }

    func testProbeJSONReportsGeometryFramesAndAudio() throws {
        let clip = try Self.clip()
        let r = try Fixtures.redact(["probe", clip.url.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: r.stdout) as? [String: Any], r.stdoutText)
        let streams = obj["streams"] as? [[String: Any]] ?? []
        let video = streams.filter { $0["type"] as? String == "video" }
        let audio = streams.filter { $0["type"] as? String == "audio" }
        XCTAssertEqual(video.count, 1)
        XCTAssertEqual(audio.count, clip.options.audioTracks)
        // Independent reference: ffprobe.
        let ref = try Fixtures.streams(clip.url, type: "video").first
        XCTAssertEqual(video.first?["width"] as? Int, clip.width)
        XCTAssertEqual(video.first?["height"] as? Int, clip.height)
        XCTAssertEqual(video.first?["width"] as? Int, ref?["width"] as? Int)
        XCTAssertEqual(video.first?["frame_count"] as? Int, clip.frameCount)
        XCTAssertEqual(video.first?["frame_count"] as? Int, try Fixtures.framePTS(clip.url).count)
        XCTAssertEqual(video.first?["variable_frame_rate"] as? Bool, false)
        XCTAssertEqual(video.first?["rotation"] as? Int, 0)
        XCTAssertEqual(video.first?["average_frame_rate"] as? Double ?? 0, Double(clip.options.fps), accuracy: 0.01)
    }
}
