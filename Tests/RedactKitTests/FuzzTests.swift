import Foundation
import XCTest
@testable import RedactKit

/// Bounded, deterministic fuzzing (fixed seeds, fixed counts): mutated manifests through the
/// manifest loader, and mutated MP4s through the real `redact run` executable, one process per
/// input, so that a crash shows up as a signal exit of that process, not as a dead test runner.
/// Every outcome must be clean: a manifest parses or fails with a one-line `.badJSON` naming the
/// file; a video gives a verified output or a typed, one-line error with nothing at the output path.
final class FuzzTests: TempDirectoryTestCase {
    /// Counts and seed are fixed; REDACT_FUZZ_MANIFESTS, REDACT_FUZZ_MEDIA and REDACT_FUZZ_SEED
    /// override them for a longer exploratory run (the suite always uses the defaults).
    static let environment = ProcessInfo.processInfo.environment
    static let manifestMutations = environment["REDACT_FUZZ_MANIFESTS"].flatMap(Int.init) ?? 300
    static let mediaMutations = environment["REDACT_FUZZ_MEDIA"].flatMap(Int.init) ?? 60
    static let seedOffset = environment["REDACT_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0
    /// A single input taking longer than this is reported as a hang (and its process killed).
    static let perInputTimeout: TimeInterval = 20

    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        try super.setUpWithError()
    }

    /// Where inputs that broke a rule are kept for reproduction (outside the deleted test directory).
    static let keepDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("redact-fuzz-failures")

    func keep(_ data: Data, name: String) -> String {
        try? FileManager.default.createDirectory(at: Self.keepDirectory, withIntermediateDirectories: true)
        let url = Self.keepDirectory.appendingPathComponent(name)
        try? data.write(to: url)
        return url.path
    }

    // MARK: - (a) Manifests

    static let jsonTokens: [String] = [
        "{", "}", "[", "]", ",", ":", "\"", "null", "true", "false", "0", "-0", "1e400", "-1e-400", "18.5", "1e2",
        "99999999999999999999999", "\"\"", "\"x\":", "\"version\": 2,", "\"jobs\": [],", "\"render\": {\"crf\": \"18\"}",
        "\\", "\\u0000", "\\ud800", "\"\\n\"", "\u{FEFF}", "\u{2028}", "\u{00}", "\u{7F}", "é", "😀", "/*", "//", " ", "\n", "\t",
        String(repeating: "[", count: 300), String(repeating: "{\"a\":", count: 40),
        // Keys and values whose text would break a one-line message if printed raw.
        "\"a\\nb\": 1,", "\"\\u2028\": 0,", "\"\\r\": null,", "\"id\": \"x\\ny\",", "\"output\": \"o\\u0085ut.mp4\",",
    ]

    /// A valid manifest using every section, plus the repository's examples.
    func seedManifests() throws -> [Data] {
        let full = """
        {
          "version": 1,
          "signing_key": "keys/unit.key",
          "defaults": {
            "detector": { "model": "centerface", "classes": ["face"], "threshold": 0.2, "input_size": 640, "threads": 0, "every": 1 },
            "tracker": { "iou_threshold": 0.3, "max_gap": 15, "extend_frames": 10, "low_score": 0.1, "min_hits": 2, "flow": true },
            "render": { "style": "fill", "shape": "ellipse", "padding": 0.2, "crf": 18, "preset": "veryfast", "keep_audio": true }
          },
          "jobs": [
            { "id": "a", "input": "in/a.mp4", "output": "out/a.mp4", "input_sha256": "\(String(repeating: "0", count: 64))" },
            { "id": "b", "input": "in/b.mp4", "output": "out/b.mp4", "tracks": "out/b.tracks.json",
              "detector": { "input_size": 1280 }, "render": { "style": "pixelate", "crf": 23 },
              "mute": [{ "start": 1.5, "end": 3.0, "reason": "name of a witness" }, { "start": 10, "end": 12.25, "reason": "address" }] }
          ]
        }
        """
        var seeds = [Data(full.utf8)]
        let examples = Fixtures.repoRoot.appendingPathComponent("pipelines")
        for name in try FileManager.default.contentsOfDirectory(atPath: examples.path).sorted() where name.hasSuffix(".json") {
            seeds.append(try Data(contentsOf: examples.appendingPathComponent(name)))
        }
        for seed in seeds {
            // The seeds themselves are valid, so mutations start from a manifest that parses.
            _ = try ManifestLoader.parse(seed, path: "seed.json", baseDirectory: dir)
        }
        return seeds
    }

    static func mutate(_ data: Data, _ rng: inout SeededRandom) -> Data {
        var bytes = [UInt8](data)
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            guard !bytes.isEmpty else { bytes = Array("{".utf8); continue }
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: // flip bits in one to four bytes
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                }
            case 1: // truncate
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            case 2, 3: // insert a JSON token
                let token = jsonTokens[Int.random(in: 0..<jsonTokens.count, using: &rng)]
                bytes.insert(contentsOf: Array(token.utf8), at: Int.random(in: 0...bytes.count, using: &rng))
            case 4: // delete a range
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...16, using: &rng)))
            default: // replace one byte by any byte
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        }
        return Data(bytes)
    }

    func testMutatedManifestsParseOrFailWithOneLineBadJSON() throws {
        let seeds = try seedManifests()
        var rng = SeededRandom(seed: 0x5EED_0001 &+ Self.seedOffset)
        var parsed = 0, rejected = 0
        var problems: [String] = []
        let manifestDir = dir.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: manifestDir, withIntermediateDirectories: true)
        for i in 0..<Self.manifestMutations {
            let data = Self.mutate(seeds[i % seeds.count], &rng)
            let url = manifestDir.appendingPathComponent("m\(i).json")
            try data.write(to: url)
            do {
                _ = try ManifestLoader.load(contentsOf: url)
                parsed += 1
            } catch let error as RedactError {
                rejected += 1
                let text = error.description
                guard case .badJSON(let path, _, _) = error else {
                    problems.append("m\(i): not badJSON: \(text) (kept: \(keep(data, name: "manifest-\(i).json")))")
                    continue
                }
                if path != url.path || !text.hasPrefix(url.path + ": ") {
                    problems.append("m\(i): does not name the file first: \(text)")
                }
                if text.contains(where: { $0.isNewline }) {
                    problems.append("m\(i): more than one line: \(text.debugDescription) (kept: \(keep(data, name: "manifest-\(i).json")))")
                }
                if error.exitCode != 65 { problems.append("m\(i): exit code \(error.exitCode)") }
            } catch {
                problems.append("m\(i): untyped error \(error) (kept: \(keep(data, name: "manifest-\(i).json")))")
            }
        }
        print("fuzz manifests: \(Self.manifestMutations) inputs, \(parsed) parsed, \(rejected) rejected with badJSON, \(problems.count) problems")
        XCTAssertEqual(parsed + rejected, Self.manifestMutations)
        XCTAssertGreaterThan(rejected, Self.manifestMutations / 2, "mutations mostly break the manifest")
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(10).joined(separator: "\n"))
    }

    // MARK: - (b) Media through the real executable

    struct BoundedResult {
        var status: Int32
        var signaled: Bool
        var timedOut: Bool
        var seconds: Double
        var stdout: Data
        var stderr: String
    }

    /// Runs a process with a time bound; on timeout it is killed (SIGKILL, by its own pid).
    static func runBounded(_ executable: URL, _ arguments: [String], environment: [String: String], timeout: TimeInterval,
                           scratch: URL) throws -> BoundedResult {
        let outURL = scratch.appendingPathComponent("stdout"), errURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        let started = Date()
        try p.run()
        var timedOut = false
        while p.isRunning {
            if Date().timeIntervalSince(started) > timeout {
                timedOut = true
                kill(p.processIdentifier, SIGKILL)
                break
            }
            usleep(20_000)
        }
        p.waitUntilExit()
        try out.close()
        try err.close()
        return BoundedResult(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal, timedOut: timedOut,
                             seconds: Date().timeIntervalSince(started), stdout: try Data(contentsOf: outURL),
                             stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    enum MediaMutation: String, CaseIterable {
        case flipMiddle = "byte flips in the middle"
        case truncate = "truncation"
        case zeroRange = "zeroed range"
        case flipIndex = "byte flips in the index (moov)"
        case insert = "inserted bytes"
    }

    static func mutate(media data: Data, _ kind: MediaMutation, _ rng: inout SeededRandom) -> Data {
        var bytes = [UInt8](data)
        let n = bytes.count
        switch kind {
        case .flipMiddle:
            for _ in 0..<Int.random(in: 1...16, using: &rng) {
                bytes[Int.random(in: (n / 4)..<(3 * n / 4), using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
        case .truncate:
            bytes = Array(bytes.prefix(Int.random(in: (n / 20)..<n, using: &rng)))
        case .zeroRange:
            let length = Int.random(in: 16...4096, using: &rng)
            let start = Int.random(in: 0..<(n - length), using: &rng)
            for i in start..<(start + length) { bytes[i] = 0 }
        case .flipIndex:
            // The sample tables: sizes, offsets and timestamps of every packet.
            let moov = Array("moov".utf8)
            let at = (0..<(n - 4)).first { Array(bytes[$0..<($0 + 4)]) == moov } ?? 0
            let size = at >= 4 ? Int(bytes[at - 4]) << 24 | Int(bytes[at - 3]) << 16 | Int(bytes[at - 2]) << 8 | Int(bytes[at - 1]) : n
            let range = at..<min(n, at + max(8, size - 4))
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: range, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            }
        case .insert:
            let insert = (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes.insert(contentsOf: insert, at: Int.random(in: 0..<n, using: &rng))
        }
        return Data(bytes)
    }

    func testMutatedVideosGiveAVerifiedOutputOrACleanTypedError() throws {
        let redact = try Fixtures.requireBinary()
        // Two small real clips with a face and audio: moov at the end, and moov first (faststart),
        // so damage hits both the packets and the index before and after decoding starts.
        var o = Fixtures.ClipOptions()
        o.name = "base"
        o.width = 192
        o.height = 144
        o.fps = 12
        o.frames = 24
        o.faceSize = 64
        o.x0 = 20
        o.y0 = 20
        o.vx = 20
        o.vy = 10
        let base = try Fixtures.makeClip(in: dir, o)
        let faststart = dir.appendingPathComponent("base-faststart.mp4")
        try Fixtures.ffmpeg(["-i", base.url.path, "-map", "0", "-c", "copy", "-movflags", "+faststart", faststart.path])
        let seeds = [try Data(contentsOf: base.url), try Data(contentsOf: faststart)]

        let keyPath = dir.appendingPathComponent("fuzz.key")
        let key = SigningKey.generate()
        try key.write(privateKeyTo: keyPath, publicKeyTo: dir.appendingPathComponent("fuzz.key.pub"))

        var rng = SeededRandom(seed: 0x5EED_0002 &+ Self.seedOffset)
        var outcomes: [String: Int] = [:]
        var byMutation: [String: [String: Int]] = [:]
        var problems: [String] = []
        var slowest = 0.0
        /// Verified outputs of damaged inputs with fewer frames than the clip: packets that gave no
        /// picture, and indexes damaged into describing fewer packets.
        var decoderLoss: [String] = [], shorterIndex: [String] = []
        /// Verified outputs whose receipt names frames the decoder made up in part.
        var madeUp: [String] = []
        for i in 0..<Self.mediaMutations {
            let kind = MediaMutation.allCases[i % MediaMutation.allCases.count]
            let seedIndex = (i / MediaMutation.allCases.count) % seeds.count
            let data = Self.mutate(media: seeds[seedIndex], kind, &rng)
            let caseDir = dir.appendingPathComponent("case\(i)")
            let inDir = caseDir.appendingPathComponent("in"), outDir = caseDir.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: inDir, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
            let input = inDir.appendingPathComponent("clip.mp4"), output = outDir.appendingPathComponent("clip.redacted.mp4")
            try data.write(to: input)
            let manifest = caseDir.appendingPathComponent("manifest.json")
            let manifestJSON: [String: Any] = ["version": 1, "jobs": [["id": "fuzz\(i)", "input": input.path, "output": output.path]]]
            try JSONSerialization.data(withJSONObject: manifestJSON).write(to: manifest)

            let r = try Self.runBounded(redact, ["run", manifest.path, "--json", "--key", keyPath.path],
                                        environment: ["REDACT_MODELS": Fixtures.modelsDirectory.path],
                                        timeout: Self.perInputTimeout, scratch: caseDir)
            slowest = max(slowest, r.seconds)
            let label = "#\(i) (\(kind.rawValue), \(seedIndex == 0 ? "moov last" : "faststart"))"
            func problem(_ what: String) {
                problems.append("\(label): \(what) (input kept: \(keep(data, name: "media-\(i).mp4")))")
            }
            var outcome: String
            if r.timedOut {
                outcome = "hang"
                problem("took more than \(Int(Self.perInputTimeout)) s; killed")
            } else if r.signaled {
                outcome = "crash"
                problem("killed by signal \(r.status): \(r.stderr.split(separator: "\n").prefix(12).joined(separator: " | "))")
            } else if r.status == 0 {
                outcome = "verified output"
                do {
                    let verified = try Receipts.verify(output: output, input: input, trustedKey: key.publicKey)
                    let packets = try Fixtures.packets(output, stream: "v:0").count
                    if packets != verified.predicate.counts.frames || packets == 0 {
                        problem("output has \(packets) video packets, receipt says \(verified.predicate.counts.frames) frames")
                    }
                    let counts = verified.predicate.counts
                    let videoPackets = counts.videoPackets ?? -1
                    if videoPackets < counts.frames {
                        problem("receipt's video_packets \(counts.videoPackets.map(String.init) ?? "nil") for \(counts.frames) frames")
                    }
                    // A damaged file may give fewer frames than the clip had. Two kinds, both
                    // visible: packets that gave no picture (video_packets > frames in the
                    // receipt), and a damaged index that describes fewer packets than the file
                    // holds (not detectable from the file alone: the receipt shows fewer frames).
                    // Frames the decoder marked: a count and runs that agree with each other and
                    // lie among the output's frames.
                    if let n = counts.damagedFrames {
                        let runs = counts.damagedFrameRanges ?? []
                        let listed = runs.reduce(0) { $0 + $1[1] - $1[0] + 1 }
                        let ordered = zip(runs, runs.dropFirst()).allSatisfy { $0[1] + 1 < $1[0] }
                        if n < 1 || runs.isEmpty || listed > n || (listed < n && runs.count < FrameRanges().limit) || !ordered
                            || !runs.allSatisfy({ $0.count == 2 && 1 <= $0[0] && $0[0] <= $0[1] && $0[1] <= counts.frames }) {
                            problem("receipt's damaged_frames \(n) and damaged_frame_ranges \(runs) for \(counts.frames) frames")
                        }
                        madeUp.append("\(label): \(counts.damagedFramesSummary ?? "")")
                    } else if counts.damagedFrameRanges != nil {
                        problem("receipt has damaged_frame_ranges without damaged_frames")
                    }
                    if counts.frames < videoPackets {
                        decoderLoss.append("\(label): \(counts.frames) frames from \(videoPackets) packets")
                    } else if videoPackets >= 0 && videoPackets < base.frameCount {
                        shorterIndex.append("\(label): \(videoPackets) of \(base.frameCount) packets")
                    }
                } catch {
                    problem("exit 0 but the output does not verify: \(error)")
                }
            } else if r.status == 2 {
                // One job_failed event: a typed error with its exit code, one line, naming a file.
                let events = r.stdout.split(separator: UInt8(ascii: "\n")).compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any]
                }
                let failed = events.first { $0["event"] as? String == "job_failed" }
                let code = failed?["exit_code"] as? Int ?? -1
                let message = failed?["error"] as? String ?? ""
                outcome = "error \(code)"
                if ![65, 70].contains(code) { problem("unexpected exit code \(code) for damaged media: \(message)") }
                if message.isEmpty || message.contains(where: { $0.isNewline }) { problem("error is not one line: \(message.debugDescription)") }
                if !message.contains(input.path) && !message.contains(output.path) { problem("error names neither file: \(message)") }
                let left = Fixtures.listing(outDir)
                if !left.isEmpty { problem("failed job left \(left) in the output directory") }
            } else {
                outcome = "exit \(r.status)"
                problem("exit \(r.status): \(r.stderr.prefix(400))")
            }
            if (try? Data(contentsOf: input)) != data { problem("the input file was changed") }
            outcomes[outcome, default: 0] += 1
            byMutation[kind.rawValue, default: [:]][outcome, default: 0] += 1
            try? FileManager.default.removeItem(at: caseDir)
        }
        let summary = outcomes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        print("fuzz media: \(Self.mediaMutations) inputs through `redact run`; \(summary); slowest input \(String(format: "%.1f", slowest)) s")
        for kind in MediaMutation.allCases {
            let counts = (byMutation[kind.rawValue] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            print("  \(kind.rawValue): \(counts)")
        }
        print("  verified outputs with packets that gave no picture (receipt: video_packets > frames): \(decoderLoss.count)\(decoderLoss.isEmpty ? "" : ": " + decoderLoss.joined(separator: "; "))")
        print("  verified outputs with frames the decoder made up in part (receipt: damaged_frames): \(madeUp.count)\(madeUp.isEmpty ? "" : ": " + madeUp.joined(separator: "; "))")
        print("  verified outputs whose damaged index lists fewer than the clip's \(base.frameCount) video packets: \(shorterIndex.count)\(shorterIndex.isEmpty ? "" : ": " + shorterIndex.joined(separator: "; "))")
        XCTAssertEqual(outcomes.values.reduce(0, +), Self.mediaMutations)
        XCTAssertTrue(problems.isEmpty, "\(problems.count) problems:\n" + problems.prefix(10).joined(separator: "\n"))
    }
}
