import Foundation
import XCTest
@testable import RedactKit

final class ManifestTests: XCTestCase {
    private let manifestPath = "cases/batch.json"
    private let base = URL(fileURLWithPath: "/srv/cases", isDirectory: true)
    private let sha = String(repeating: "0123456789abcdef", count: 4)

    // MARK: Helpers

    private func parse(_ json: String) throws -> Manifest {
        try ManifestLoader.parse(Data(json.utf8), path: manifestPath, baseDirectory: base)
    }

    /// A minimal valid manifest whose jobs are `jobs` (JSON text of the array's elements).
    private func manifest(jobs: String, extra: String = "") -> String {
        #"{"version": 1, \#(extra) "jobs": [\#(jobs)]}"#
    }

    private func job(_ n: Int, _ extra: String = "") -> String {
        #"{"id": "job-\#(n)", "input": "in/\#(n).mp4", "output": "out/\#(n).mp4"\#(extra.isEmpty ? "" : ", " + extra)}"#
    }

    /// Asserts that parsing `json` fails with `.badJSON` at exactly `jsonPath`, with a one-line
    /// description naming the manifest; returns the detail.
    @discardableResult
    private func assertBadJSON(_ json: String, _ jsonPath: String, detailContains: String? = nil,
                               file: StaticString = #filePath, line: UInt = #line) -> String? {
        do {
            let m = try parse(json)
            XCTFail("expected badJSON at \(jsonPath), parsed \(m.jobs.count) jobs", file: file, line: line)
            return nil
        } catch let error as RedactError {
            guard case .badJSON(let path, let gotPath, let detail) = error else {
                XCTFail("expected badJSON, got \(error)", file: file, line: line)
                return nil
            }
            XCTAssertEqual(path, manifestPath, file: file, line: line)
            XCTAssertEqual(gotPath, jsonPath, "detail: \(detail)", file: file, line: line)
            if let detailContains {
                XCTAssertTrue(detail.contains(detailContains), "detail \(detail.debugDescription) lacks \(detailContains.debugDescription)", file: file, line: line)
            }
            assertOneLine(error, containing: manifestPath, file: file, line: line)
            XCTAssertEqual(error.exitCode, 65, file: file, line: line)
            return detail
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
            return nil
        }
    }

    private func assertOneLine(_ error: RedactError, containing path: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        let d = error.description
        XCTAssertFalse(d.contains("\n") || d.contains("\r"), "multi-line: \(d.debugDescription)", file: file, line: line)
        XCTAssertTrue(d.contains(path), "\(d) lacks \(path)", file: file, line: line)
    }

    private func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("manifest-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    // MARK: Valid manifests

    func testValidManifestMergesDefaultsAndJobOverrides() throws {
        let json = """
        {
          "version": 1,
          "defaults": {
            "detector": {"threshold": 0.35, "input_size": 960},
            "tracker": {"max_gap": 30},
            "render": {"style": "fill", "padding": 0.3, "crf": 20, "preset": "medium", "keep_audio": false}
          },
          "signing_key": "keys/redact.key",
          "jobs": [
            {"id": "case-0042-bwc", "input": "in/a.mp4", "output": "out/a.redacted.mp4",
             "input_sha256": "\(sha)",
             "render": {"style": "pixelate"}},
            {"id": "case_0043.dash", "input": "/evidence/b.MOV", "output": "/exports/b.MP4",
             "detector": {"threads": 4, "model": "centerface", "threshold": 1},
             "tracker": {"iou_threshold": 0.5, "extend_frames": 0},
             "render": {"crf": 0, "keep_audio": true, "padding": 2}}
          ]
        }
        """
        let m = try parse(json)
        XCTAssertEqual(m.version, 1)
        XCTAssertEqual(m.signingKey, URL(fileURLWithPath: "/srv/cases/keys/redact.key"))
        XCTAssertEqual(m.jobs.count, 2)

        var d = JobConfig()
        d.detector.threshold = 0.35
        d.detector.inputSize = 960
        d.tracker.maxGap = 30
        d.render.style = .fill
        d.render.padding = 0.3
        d.render.crf = 20
        d.render.preset = "medium"
        d.render.keepAudio = false

        var c0 = d
        c0.render.style = .pixelate
        // Each job knows the manifest it came from (for errors found when it runs).
        var j0 = ManifestJob(id: "case-0042-bwc",
                             input: URL(fileURLWithPath: "/srv/cases/in/a.mp4"),
                             output: URL(fileURLWithPath: "/srv/cases/out/a.redacted.mp4"),
                             expectedInputSHA256: sha, config: c0)
        j0.manifestPath = manifestPath
        XCTAssertEqual(m.jobs[0], j0)

        var c1 = d
        c1.detector.threads = 4
        c1.detector.threshold = 1
        c1.tracker.iouThreshold = 0.5
        c1.tracker.extendFrames = 0
        c1.render.crf = 0
        c1.render.keepAudio = true
        c1.render.padding = 2
        var j1 = ManifestJob(id: "case_0043.dash",
                             input: URL(fileURLWithPath: "/evidence/b.MOV"),
                             output: URL(fileURLWithPath: "/exports/b.MP4"),
                             expectedInputSHA256: nil, config: c1)
        j1.manifestPath = manifestPath
        XCTAssertEqual(m.jobs[1], j1)
        // Untouched keys keep the built-in defaults.
        XCTAssertEqual(m.jobs[1].config.detector.model, "centerface")
        XCTAssertEqual(m.jobs[1].config.tracker.maxGap, 30)
    }

    func testMinimalManifestUsesBuiltInDefaults() throws {
        let m = try parse(manifest(jobs: job(0)))
        XCTAssertNil(m.signingKey)
        XCTAssertEqual(m.jobs[0].config, JobConfig())
        XCTAssertNil(m.jobs[0].expectedInputSHA256)
        XCTAssertEqual(m.sourceURL.path, URL(fileURLWithPath: manifestPath).absoluteURL.standardized.path)
    }

    func testEmptyDefaultsSectionsAreAllowed() throws {
        let m = try parse(manifest(jobs: job(0, #""render": {}"#), extra: #""defaults": {"detector": {}, "tracker": {}},"#))
        XCTAssertEqual(m.jobs[0].config, JobConfig())
    }

    func testPathResolutionStandardizes() throws {
        let m = try parse(manifest(jobs: #"{"id": "a", "input": "./in/../raw/x.mp4", "output": "../exports/./x.mp4"}"#,
                                   extra: #""signing_key": "/etc/redact/../redact/k.key","#))
        XCTAssertEqual(m.jobs[0].input.path, "/srv/cases/raw/x.mp4")
        XCTAssertEqual(m.jobs[0].output.path, "/srv/exports/x.mp4")
        XCTAssertEqual(m.signingKey?.path, "/etc/redact/k.key")
    }

    func testLoadFromFileResolvesAgainstManifestDirectory() throws {
        let dir = try tempDir()
        let file = dir.appendingPathComponent("m.json")
        try Data(manifest(jobs: job(0), extra: #""signing_key": "k.key","#).utf8).write(to: file)
        let m = try ManifestLoader.load(contentsOf: file)
        let realDir = dir.standardized.path
        XCTAssertEqual(m.jobs[0].input.path, realDir + "/in/0.mp4")
        XCTAssertEqual(m.jobs[0].output.path, realDir + "/out/0.mp4")
        XCTAssertEqual(m.signingKey?.path, realDir + "/k.key")
        XCTAssertEqual(m.sourceURL.path, file.standardized.path)
    }

    /// A job writes nothing over the manifest it came from or the signing key (a `tracks` path
    /// naming the manifest replaced it with the job's tracks.json).
    func testJobsDoNotWriteOverTheManifestOrTheKey() throws {
        let dir = try tempDir()
        let file = dir.appendingPathComponent("m.json")
        for (jobs, key, jsonPath, what) in [(job(0, #""tracks": "m.json""#), "k.key", "$.jobs[0].tracks", "this manifest"),
                                            (job(0) + ", " + job(1, #""tracks": "./keys/../k.json""#), "k.json", "$.jobs[1].tracks", "the signing key"),
                                            (#"{"id": "a", "input": "in/a.mp4", "output": "k.mp4"}"#, "k.mp4", "$.jobs[0].output", "the signing key")] {
            try Data(manifest(jobs: jobs, extra: #""signing_key": "\#(key)","#).utf8).write(to: file)
            XCTAssertThrowsError(try ManifestLoader.load(contentsOf: file)) { error in
                guard case .badJSON(let path, let jp, let detail)? = error as? RedactError else { return XCTFail("expected badJSON, got \(error)") }
                XCTAssertEqual(path, file.path)
                XCTAssertEqual(jp, jsonPath)
                XCTAssertTrue(detail.contains(what), detail)
            }
        }
        // Another tracks file beside them is fine.
        try Data(manifest(jobs: job(0, #""tracks": "t.json""#), extra: #""signing_key": "k.key","#).utf8).write(to: file)
        XCTAssertEqual(try ManifestLoader.load(contentsOf: file).jobs[0].tracks?.path, dir.standardized.path + "/t.json")
    }

    func testLoadReportsPathAsGiven() throws {
        let dir = try tempDir()
        let file = dir.appendingPathComponent("bad.json")
        try Data(#"{"version": 1, "jobs": []}"#.utf8).write(to: file)
        XCTAssertThrowsError(try ManifestLoader.load(contentsOf: file)) { error in
            guard case .badJSON(let path, let jp, _)? = error as? RedactError else {
                return XCTFail("expected badJSON, got \(error)")
            }
            XCTAssertEqual(path, file.path)
            XCTAssertEqual(jp, "$.jobs")
        }
    }

    func testMissingFileIsInputNotFound() {
        let path = "/nonexistent/dir/manifest.json"
        XCTAssertThrowsError(try ManifestLoader.load(contentsOf: URL(fileURLWithPath: path))) { error in
            XCTAssertEqual(error as? RedactError, .inputNotFound(path: path))
            if let e = error as? RedactError {
                self.assertOneLine(e, containing: path)
                XCTAssertEqual(e.exitCode, 66)
            }
        }
    }

    func testDirectoryIsInputNotFound() throws {
        let dir = try tempDir()
        XCTAssertThrowsError(try ManifestLoader.load(contentsOf: dir)) { error in
            XCTAssertEqual(error as? RedactError, .inputNotFound(path: dir.path))
        }
    }

    // MARK: Unknown and duplicate keys

    func testUnknownKeyAtTopLevel() {
        assertBadJSON(manifest(jobs: job(0), extra: #""signing_keys": "k","#), "$.signing_keys",
                      detailContains: "unknown key (expected one of: defaults, evidence_dirs, jobs, signing_key, version)")
    }

    func testUnknownKeyInDefaultsRender() {
        assertBadJSON(manifest(jobs: job(0), extra: #""defaults": {"render": {"crf": 20, "colour": "black"}},"#),
                      "$.defaults.render.colour",
                      detailContains: "unknown key (expected one of: crf, keep_audio, padding, plate_padding, preset, shape, style)")
    }

    func testUnknownSectionInDefaults() {
        assertBadJSON(manifest(jobs: job(0), extra: #""defaults": {"renderer": {}},"#), "$.defaults.renderer",
                      detailContains: "expected one of: detector, render, tracker")
    }

    func testUnknownKeyInSecondJob() {
        assertBadJSON(manifest(jobs: job(0) + "," + job(1, #""inptu_sha256": "x""#)), "$.jobs[1].inptu_sha256",
                      detailContains: "expected one of: boxes, detector, exclude_regions, id, input, input_sha256, keep, mute, output, render, tracker, tracks")
    }

    func testUnknownKeyInJobRenderMatchesDocumentedMessage() {
        let detail = assertBadJSON(manifest(jobs: job(0, #""render": {"colour": "red"}"#)), "$.jobs[0].render.colour")
        XCTAssertEqual(detail, "unknown key (expected one of: crf, keep_audio, padding, plate_padding, preset, shape, style)")
    }

    func testUnknownKeysInDetectorAndTracker() {
        assertBadJSON(manifest(jobs: job(0, #""detector": {"thresh": 0.5}"#)), "$.jobs[0].detector.thresh")
        assertBadJSON(manifest(jobs: job(0, #""tracker": {"maxGap": 5}"#)), "$.jobs[0].tracker.maxGap")
    }

    func testOddKeyIsQuotedInPath() {
        assertBadJSON(manifest(jobs: job(0, #""render": {"a b\n": 1}"#)), #"$.jobs[0].render["a b\n"]"#)
    }

    func testDuplicateKeyRejected() {
        assertBadJSON(manifest(jobs: job(0, #""render": {"crf": 20, "crf": 30}"#)), "$.jobs[0].render.crf",
                      detailContains: "duplicate key")
        assertBadJSON(#"{"version": 1, "version": 1, "jobs": [\#(job(0))]}"#, "$.version", detailContains: "duplicate key")
    }

    // MARK: Types

    func testCRFAsStringRejected() {
        assertBadJSON(manifest(jobs: job(0, #""render": {"crf": "18"}"#)), "$.jobs[0].render.crf",
                      detailContains: #"found string "18""#)
    }

    func testCRFAsDecimalRejected() {
        assertBadJSON(manifest(jobs: job(0, #""render": {"crf": 18.5}"#)), "$.jobs[0].render.crf",
                      detailContains: "found number 18.5")
        assertBadJSON(manifest(jobs: job(0, #""render": {"crf": 18.0}"#)), "$.jobs[0].render.crf")
        assertBadJSON(manifest(jobs: job(0, #""render": {"crf": 1e1}"#)), "$.jobs[0].render.crf")
    }

    func testCRFAsBooleanRejected() {
        assertBadJSON(manifest(jobs: job(0, #""render": {"crf": true}"#)), "$.jobs[0].render.crf",
                      detailContains: "found boolean true")
        assertBadJSON(manifest(jobs: job(0), extra: #""defaults": {"render": {"crf": false}},"#), "$.defaults.render.crf")
    }

    func testKeepAudioAsNumberRejected() {
        assertBadJSON(manifest(jobs: job(0, #""render": {"keep_audio": 1}"#)), "$.jobs[0].render.keep_audio",
                      detailContains: "expected boolean true or false, found number 1")
        assertBadJSON(manifest(jobs: job(0, #""render": {"keep_audio": 0}"#)), "$.jobs[0].render.keep_audio")
        assertBadJSON(manifest(jobs: job(0, #""render": {"keep_audio": "true"}"#)), "$.jobs[0].render.keep_audio")
        assertBadJSON(manifest(jobs: job(0, #""render": {"keep_audio": null}"#)), "$.jobs[0].render.keep_audio")
    }

    func testNumberKeysAcceptIntegersButNotOtherTypes() throws {
        let m = try parse(manifest(jobs: job(0, #""render": {"padding": 1}, "detector": {"threshold": 1}"#)))
        XCTAssertEqual(m.jobs[0].config.render.padding, 1)
        XCTAssertEqual(m.jobs[0].config.detector.threshold, 1)
        assertBadJSON(manifest(jobs: job(0, #""detector": {"threshold": "0.5"}"#)), "$.jobs[0].detector.threshold")
        assertBadJSON(manifest(jobs: job(0, #""detector": {"threshold": true}"#)), "$.jobs[0].detector.threshold")
    }

    func testTracksShapeAndConfirmScore() throws {
        let m = try parse(manifest(jobs: job(0, #""tracks": "side/t0.json", "render": {"shape": "box"}, "tracker": {"confirm_score": 0}"#)))
        XCTAssertEqual(m.jobs[0].tracks?.lastPathComponent, "t0.json")
        XCTAssertEqual(m.jobs[0].tracks?.deletingLastPathComponent().lastPathComponent, "side")
        XCTAssertEqual(m.jobs[0].config.render.shape, .box)
        XCTAssertEqual(m.jobs[0].config.tracker.confirmScore, 0)
        let d = try parse(manifest(jobs: job(0)))
        XCTAssertNil(d.jobs[0].tracks)
        XCTAssertEqual(d.jobs[0].config.render.shape, .ellipse)
        XCTAssertEqual(d.jobs[0].config.tracker.confirmScore, 0.5)
        XCTAssertEqual(d.jobs[0].config.tracker.largeFraction, 0.0625)
        XCTAssertEqual(d.jobs[0].config.tracker.confirmHitsScore, 0.3)
        XCTAssertEqual(d.jobs[0].config.tracker.confirmLargeScore, 0.6)
        XCTAssertTrue(d.jobs[0].config.detector.secondLook)
        XCTAssertEqual(d.jobs[0].config.detector.secondLookBelow, 0.5)
        XCTAssertEqual(d.jobs[0].config.detector.secondLookMax, 8)
        let second = try parse(manifest(jobs: job(0, #""detector": {"second_look": false, "second_look_below": 1, "second_look_max": 0}"#)))
        XCTAssertFalse(second.jobs[0].config.detector.secondLook)
        XCTAssertEqual(second.jobs[0].config.detector.secondLookBelow, 1)
        XCTAssertEqual(second.jobs[0].config.detector.secondLookMax, 0)
        XCTAssertTrue(d.jobs[0].config.detector.windows)
        XCTAssertEqual(d.jobs[0].config.detector.coarseInputSize, 960)
        XCTAssertEqual(d.jobs[0].config.detector.fullInputEvery, 8)
        let coarse = try parse(manifest(jobs: job(0, #""detector": {"coarse_input_size": 0, "full_input_every": 60}"#)
                                        + "," + job(1, #""detector": {"coarse_input_size": 4096, "full_input_every": 1}"#)))
        XCTAssertEqual(coarse.jobs[0].config.detector.coarseInputSize, 0)
        XCTAssertEqual(coarse.jobs[0].config.detector.fullInputEvery, 60)
        XCTAssertEqual(coarse.jobs[1].config.detector.coarseInputSize, 4096)
        XCTAssertEqual(coarse.jobs[1].config.detector.fullInputEvery, 1)
        XCTAssertFalse(try parse(manifest(jobs: job(0, #""detector": {"windows": false}"#))).jobs[0].config.detector.windows)
        let large = try parse(manifest(jobs: job(0, #""tracker": {"large_fraction": 1, "confirm_large_score": 0.9}"#)))
        XCTAssertEqual(large.jobs[0].config.tracker.largeFraction, 1)
        XCTAssertEqual(large.jobs[0].config.tracker.confirmLargeScore, 0.9)
        assertBadJSON(manifest(jobs: job(0, #""tracks": "t.txt""#)), "$.jobs[0].tracks", detailContains: "ending in .json")
        assertBadJSON(manifest(jobs: job(0, #""tracks": 3"#)), "$.jobs[0].tracks")
        assertBadJSON(manifest(jobs: job(0, #""tracks": "t.json""#) + "," + job(1, #""tracks": "t.json""#)), "$.jobs[1].tracks",
                      detailContains: "duplicate tracks file")
    }

    func testEvidenceDirectories() throws {
        let m = try parse(manifest(jobs: job(0), extra: #""evidence_dirs": ["in", "/srv/evidence"],"#))
        XCTAssertEqual(m.evidenceDirectories.map(\.lastPathComponent), ["in", "evidence"])
        XCTAssertEqual(m.jobs[0].evidenceDirectories, m.evidenceDirectories)
        assertBadJSON(manifest(jobs: job(0), extra: #""evidence_dirs": ["out"],"#), "$.jobs[0].output", detailContains: "evidence directory")
        assertBadJSON(manifest(jobs: job(0, #""tracks": "in/t.json""#), extra: #""evidence_dirs": ["in"],"#), "$.jobs[0].tracks",
                      detailContains: "($.evidence_dirs[0])")
        // A sibling whose name merely starts the same is not inside.
        XCTAssertNoThrow(try parse(manifest(jobs: job(0), extra: #""evidence_dirs": ["ou"],"#)))
        assertBadJSON(manifest(jobs: job(0), extra: #""evidence_dirs": "in","#), "$.evidence_dirs")
        assertBadJSON(manifest(jobs: job(0), extra: #""evidence_dirs": [3],"#), "$.evidence_dirs[0]")
    }

    func testOtherWrongTypes() {
        assertBadJSON(#"[]"#, "$", detailContains: "found empty array")
        assertBadJSON(manifest(jobs: job(0), extra: #""defaults": [],"#), "$.defaults")
        assertBadJSON(manifest(jobs: job(0, #""render": "fill""#)), "$.jobs[0].render")
        assertBadJSON(manifest(jobs: "42"), "$.jobs[0]", detailContains: "expected a job object, found number 42")
        assertBadJSON(#"{"version": 1, "jobs": {"id": "a"}}"#, "$.jobs")
        assertBadJSON(manifest(jobs: #"{"id": 7, "input": "a.mp4", "output": "b.mp4"}"#), "$.jobs[0].id")
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": ["a.mp4"], "output": "b.mp4"}"#), "$.jobs[0].input")
        assertBadJSON(manifest(jobs: job(0), extra: #""signing_key": null,"#), "$.signing_key")
        assertBadJSON(manifest(jobs: job(0, #""render": {"style": 1}"#)), "$.jobs[0].render.style")
    }

    // MARK: Ranges and enumerations

    func testOutOfRange() {
        let cases: [(String, String, String)] = [
            ("detector", #""threshold": 0"#, "threshold"),
            ("detector", #""threshold": 1.01"#, "threshold"),
            ("detector", #""threshold": -0.5"#, "threshold"),
            ("detector", #""input_size": 650"#, "input_size"),
            ("detector", #""input_size": 96"#, "input_size"),
            ("detector", #""input_size": 4128"#, "input_size"),
            ("detector", #""threads": -1"#, "threads"),
            ("detector", #""threads": 65"#, "threads"),
            ("detector", #""model": "yunet""#, "model"),
            ("detector", #""engine": "onnxruntime""#, "engine"),
            ("detector", #""engine": 1"#, "engine"),
            ("detector", #""precision": "fp16""#, "precision"),
            ("tracker", #""iou_threshold": 0"#, "iou_threshold"),
            ("tracker", #""iou_threshold": 1.5"#, "iou_threshold"),
            ("tracker", #""max_gap": 301"#, "max_gap"),
            ("tracker", #""max_gap": -1"#, "max_gap"),
            ("tracker", #""extend_frames": 301"#, "extend_frames"),
            ("tracker", #""reach_back": 61"#, "reach_back"),
            ("tracker", #""reach_back": -1"#, "reach_back"),
            ("render", #""padding": -0.1"#, "padding"),
            ("render", #""padding": 2.5"#, "padding"),
            ("render", #""plate_padding": -0.1"#, "plate_padding"),
            ("render", #""plate_padding": 2.5"#, "plate_padding"),
            ("render", #""shape": "circle""#, "shape"),
            ("tracker", #""confirm_score": 1.5"#, "confirm_score"),
            ("tracker", #""confirm_score": -0.1"#, "confirm_score"),
            ("tracker", #""large_fraction": 0"#, "large_fraction"),
            ("tracker", #""confirm_hits_score": 1.2"#, "confirm_hits_score"),
            ("tracker", #""large_fraction": 1.5"#, "large_fraction"),
            ("tracker", #""confirm_large_score": 1.01"#, "confirm_large_score"),
            ("detector", #""plate_threshold": 0"#, "plate_threshold"),
            ("detector", #""second_look": 1"#, "second_look"),
            ("detector", #""windows": "no""#, "windows"),
            ("detector", #""second_look_below": 1.5"#, "second_look_below"),
            ("detector", #""second_look_max": -1"#, "second_look_max"),
            ("detector", #""second_look_max": 257"#, "second_look_max"),
            ("detector", #""plate_threshold": 1.5"#, "plate_threshold"),
            ("detector", #""coarse_input_size": 96"#, "coarse_input_size"),
            ("detector", #""coarse_input_size": 650"#, "coarse_input_size"),
            ("detector", #""coarse_input_size": -32"#, "coarse_input_size"),
            ("detector", #""coarse_input_size": false"#, "coarse_input_size"),
            ("detector", #""full_input_every": 0"#, "full_input_every"),
            ("detector", #""full_input_every": 61"#, "full_input_every"),
            ("render", #""crf": 52"#, "crf"),
            ("render", #""crf": -1"#, "crf"),
            ("render", #""crf": 100000000000000000000000"#, "crf"),
            ("render", #""preset": "placebo""#, "preset"),
            ("render", #""preset": "VeryFast""#, "preset"),
            ("render", #""style": "mosaic""#, "style"),
        ]
        for (section, member, key) in cases {
            assertBadJSON(manifest(jobs: job(0), extra: #""defaults": {"\#(section)": {\#(member)}},"#),
                          "$.defaults.\(section).\(key)")
            assertBadJSON(manifest(jobs: job(0) + "," + job(1, #""\#(section)": {\#(member)}"#)),
                          "$.jobs[1].\(section).\(key)")
        }
        assertBadJSON(manifest(jobs: job(0, #""render": {"crf": 52}"#)), "$.jobs[0].render.crf",
                      detailContains: "expected integer from 0 to 51, found number 52")
        assertBadJSON(manifest(jobs: job(0, #""detector": {"input_size": 650}"#)), "$.jobs[0].detector.input_size",
                      detailContains: "multiple of 32")
        assertBadJSON(manifest(jobs: job(0, #""detector": {"coarse_input_size": 650}"#)), "$.jobs[0].detector.coarse_input_size",
                      detailContains: "expected 0 (off) or an integer multiple of 32 from 128 to 4096, found number 650")
    }

    func testRangeBoundariesAccepted() throws {
        let m = try parse(manifest(jobs: job(0, """
        "detector": {"threshold": 1e-9, "input_size": 4096, "threads": 64},
        "tracker": {"iou_threshold": 1.0, "max_gap": 0, "extend_frames": 60, "reach_back": 0},
        "render": {"padding": 0, "crf": 51, "preset": "veryslow", "style": "blur"}
        """) + "," + job(1, #""detector": {"input_size": 128}, "render": {"padding": 2.0, "preset": "ultrafast"}"#)))
        XCTAssertEqual(m.jobs[0].config.detector.inputSize, 4096)
        XCTAssertEqual(m.jobs[0].config.tracker.extendFrames, 60)
        XCTAssertEqual(m.jobs[0].config.tracker.reachBack, 0)
        XCTAssertEqual(m.jobs[0].config.render.style, .blur)
        XCTAssertEqual(m.jobs[1].config.detector.inputSize, 128)
        XCTAssertEqual(m.jobs[1].config.render.padding, 2)
    }

    func testClassesSelectsPlatesPerJob() throws {
        let m = try parse(manifest(jobs: job(0, #""detector": {"classes": ["face", "plate"], "plate_threshold": 0.6}, "render": {"plate_padding": 0.5}"#)
                                   + "," + job(1)))
        XCTAssertEqual(m.jobs[0].config.detector.classes, [.face, .plate])
        XCTAssertEqual(m.jobs[0].config.detector.plateThreshold, 0.6)
        XCTAssertEqual(m.jobs[0].config.render.platePadding, 0.5)
        XCTAssertEqual(m.jobs[1].config.detector.classes, [.face])
        let plates = try parse(manifest(jobs: job(0, #""detector": {"classes": ["plate"]}"#)))
        XCTAssertEqual(plates.jobs[0].config.detector.classes, [.plate])
    }

    func testBadClassesRejected() {
        assertBadJSON(manifest(jobs: job(0, #""detector": {"classes": []}"#)), "$.jobs[0].detector.classes",
                      detailContains: "non-empty array")
        assertBadJSON(manifest(jobs: job(0, #""detector": {"classes": "face"}"#)), "$.jobs[0].detector.classes")
        assertBadJSON(manifest(jobs: job(0, #""detector": {"classes": ["face", "car"]}"#)), "$.jobs[0].detector.classes[1]",
                      detailContains: #"expected "face" or "plate""#)
        assertBadJSON(manifest(jobs: job(0, #""detector": {"classes": ["plate", "plate"]}"#)), "$.jobs[0].detector.classes[1]",
                      detailContains: "duplicate class")
        assertBadJSON(manifest(jobs: job(0, #""detector": {"classes": [1]}"#)), "$.jobs[0].detector.classes[0]")
    }

    // MARK: Jobs

    func testDuplicateIDNamesSecondJob() {
        assertBadJSON(manifest(jobs: job(0) + "," + job(1) + "," + #"{"id": "job-0", "input": "c.mp4", "output": "c.out.mp4"}"#),
                      "$.jobs[2].id", detailContains: "already used by $.jobs[0]")
    }

    func testDuplicateOutputNamesSecondJob() {
        assertBadJSON(manifest(jobs: #"""
            {"id": "a", "input": "a.mp4", "output": "out/x.mp4"},
            {"id": "b", "input": "b.mp4", "output": "/srv/cases/out/../out/x.mp4"}
            """#), "$.jobs[1].output", detailContains: "$.jobs[0]")
    }

    func testOutputEqualToInputRejected() {
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": "/srv/cases/v.mp4", "output": "./v.mp4"}"#),
                      "$.jobs[0].output", detailContains: "same file as the input")
    }

    func testOutputEqualToAnotherJobsInputRejected() {
        assertBadJSON(manifest(jobs: #"""
            {"id": "a", "input": "a.mp4", "output": "a.out.mp4"},
            {"id": "b", "input": "b.mp4", "output": "a.mp4"}
            """#), "$.jobs[1].output")
        assertBadJSON(manifest(jobs: #"""
            {"id": "a", "input": "a.mp4", "output": "a.out.mp4"},
            {"id": "b", "input": "a.out.mp4", "output": "b.out.mp4"}
            """#), "$.jobs[1].input")
    }

    func testSameInputTwiceIsAllowed() throws {
        let m = try parse(manifest(jobs: #"""
            {"id": "a", "input": "a.mp4", "output": "a.fill.mp4"},
            {"id": "b", "input": "a.mp4", "output": "a.blur.mp4", "render": {"style": "blur"}}
            """#))
        XCTAssertEqual(m.jobs.count, 2)
    }

    func testOutputMustBeMP4OrMOV() throws {
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": "a.mp4", "output": "a.mkv"}"#), "$.jobs[0].output",
                      detailContains: "ending in .mp4 (or .mov")
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": "a.mp4", "output": "out/.mov"}"#), "$.jobs[0].output")
        XCTAssertEqual(try parse(manifest(jobs: #"{"id": "a", "input": "a.avi", "output": "a.MOV"}"#)).jobs[0].output.lastPathComponent, "a.MOV")
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": "a.mp4", "output": "out/"}"#), "$.jobs[0].output")
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": "a.mp4", "output": "out/.mp4"}"#), "$.jobs[0].output")
        let m = try parse(manifest(jobs: #"{"id": "a", "input": "a.mp4", "output": "A.Redacted.Mp4"}"#))
        XCTAssertEqual(m.jobs[0].output.lastPathComponent, "A.Redacted.Mp4")
    }

    func testMissingAndEmptyRequiredJobKeys() {
        assertBadJSON(manifest(jobs: #"{"input": "a.mp4", "output": "b.mp4"}"#), "$.jobs[0].id", detailContains: "missing required key")
        assertBadJSON(manifest(jobs: #"{"id": "a", "output": "b.mp4"}"#), "$.jobs[0].input", detailContains: "missing required key")
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": "a.mp4"}"#), "$.jobs[0].output", detailContains: "missing required key")
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": "", "output": "b.mp4"}"#), "$.jobs[0].input", detailContains: "found empty string")
        assertBadJSON(manifest(jobs: #"{"id": "a", "input": "a\nb.mp4", "output": "b.mp4"}"#), "$.jobs[0].input", detailContains: "control characters")
    }

    func testBadJobIDs() throws {
        for bad in ["", "-leading-dash", ".hidden", "has space", "slash/inside", "ünïcode", String(repeating: "a", count: 129)] {
            assertBadJSON(manifest(jobs: #"{"id": \#(StrictJSON.quoted(bad, limit: 200)), "input": "a.mp4", "output": "b.mp4"}"#),
                          "$.jobs[0].id")
        }
        let longest = String(repeating: "a", count: 128)
        let m = try parse(manifest(jobs: #"{"id": "\#(longest)", "input": "a.mp4", "output": "b.mp4"}"#))
        XCTAssertEqual(m.jobs[0].id, longest)
    }

    func testBadSHA256() {
        for bad in [sha.uppercased(), String(sha.dropLast()), sha + "0", String(sha.dropLast()) + "g", ""] {
            assertBadJSON(manifest(jobs: job(0, #""input_sha256": "\#(bad)""#)), "$.jobs[0].input_sha256",
                          detailContains: "64 lowercase hexadecimal")
        }
        assertBadJSON(manifest(jobs: job(0, #""input_sha256": 123"#)), "$.jobs[0].input_sha256")
    }

    // MARK: Top level

    func testBadVersion() {
        assertBadJSON(#"{"version": 2, "jobs": [\#(job(0))]}"#, "$.version",
                      detailContains: "unsupported manifest version 2; this redact reads version 1")
        assertBadJSON(#"{"version": "1", "jobs": [\#(job(0))]}"#, "$.version", detailContains: #"found string "1""#)
        assertBadJSON(#"{"version": 1.0, "jobs": [\#(job(0))]}"#, "$.version")
        assertBadJSON(#"{"version": true, "jobs": [\#(job(0))]}"#, "$.version")
        assertBadJSON(#"{"jobs": [\#(job(0))]}"#, "$.version", detailContains: "missing required key")
        // The version is checked before unknown keys: a future manifest gets the version message.
        assertBadJSON(#"{"version": 2, "future_key": 1, "jobs": []}"#, "$.version", detailContains: "unsupported")
    }

    func testEmptyOrMissingJobs() {
        assertBadJSON(#"{"version": 1, "jobs": []}"#, "$.jobs", detailContains: "non-empty array")
        assertBadJSON(#"{"version": 1}"#, "$.jobs", detailContains: "missing required key")
    }

    func testSyntaxErrorReportsLine() {
        let json = "{\n  \"version\": 1,\n  \"jobs\": [\n    {\"id\": \"a\" \"input\": \"a.mp4\"}\n  ]\n}"
        assertBadJSON(json, "$", detailContains: "line 4, column 16")
        assertBadJSON(#"{"version": 1, "jobs": [\#(job(0)),]}"#, "$", detailContains: "trailing comma")
        assertBadJSON("", "$", detailContains: "unexpected end of input")
        assertBadJSON("{\"version\": 1, \"jobs\": [\(job(0))]} extra", "$", detailContains: "after the end of the JSON value")
        assertBadJSON("{\"version\": 01}", "$", detailContains: "leading zeros")
        assertBadJSON("{'version': 1}", "$", detailContains: "expected a double-quoted object key")
        assertBadJSON("{\"a\": \"x\ny\"}", "$", detailContains: "unescaped control character U+000A")
        assertBadJSON("{\"version\": 1, \"jobs\": [\(job(0))] // comment\n}", "$")
        assertBadJSON("{\"version\": NaN}", "$")
        assertBadJSON("{\"version\": 1e999}", "$", detailContains: "too large")
    }

    func testInvalidUTF8IsSyntaxError() {
        var data = Data(#"{"version": 1, "jobs": [{"id": "a", "input": ""#.utf8)
        data.append(contentsOf: [0xC3, 0x28])
        data.append(contentsOf: Data(#"", "output": "b.mp4"}]}"#.utf8))
        XCTAssertThrowsError(try ManifestLoader.parse(data, path: manifestPath, baseDirectory: base)) { error in
            guard case .badJSON(_, let jp, let detail)? = error as? RedactError else { return XCTFail("\(error)") }
            XCTAssertEqual(jp, "$")
            XCTAssertTrue(detail.contains("invalid UTF-8 byte 0xC3"), detail)
            XCTAssertTrue(detail.contains("byte offset 46"), detail)
        }
    }

    func testErrorDescriptionsAreSingleLineEvenForHostileValues() {
        let detail = assertBadJSON(manifest(jobs: job(0, #""render": {"preset": "fast\nslow\u2028x"}"#)), "$.jobs[0].render.preset")
        XCTAssertEqual(detail?.contains(#"found string "fast\nslow\u2028x""#), true, detail ?? "")
        let long = String(repeating: "x", count: 500)
        let d2 = assertBadJSON(manifest(jobs: job(0, #""render": {"preset": "\#(long)"}"#)), "$.jobs[0].render.preset")
        XCTAssertLessThan(d2?.count ?? 0, 300)
    }

    // MARK: applyOverrides

    func testApplyOverrides() throws {
        var config = JobConfig()
        config.render.crf = 30
        try ManifestLoader.applyOverrides(Data(#"{"detector": {"threshold": 0.5}, "render": {"style": "blur"}}"#.utf8),
                                          path: "cfg.json", to: &config)
        var expected = JobConfig()
        expected.render.crf = 30
        expected.detector.threshold = 0.5
        expected.render.style = .blur
        XCTAssertEqual(config, expected)
        try ManifestLoader.applyOverrides(Data("{}".utf8), path: "cfg.json", to: &config)
        XCTAssertEqual(config, expected)
    }

    func testApplyOverridesRejectsAndLeavesConfigUnchanged() {
        var config = JobConfig()
        let cases: [(String, String)] = [
            (#"{"render": {"crf": 20, "keep_audio": 1}}"#, "$.render.keep_audio"),
            (#"{"version": 1}"#, "$.version"),
            (#"{"render": {"crf": 20}, "tracker": {"max_gap": 1.5}}"#, "$.tracker.max_gap"),
            (#"["render"]"#, "$"),
            (#"{"render": {"crf": 20"#, "$"),
        ]
        for (json, jp) in cases {
            XCTAssertThrowsError(try ManifestLoader.applyOverrides(Data(json.utf8), path: "cfg.json", to: &config)) { error in
                guard case .badJSON(let path, let got, _)? = error as? RedactError else { return XCTFail("\(error)") }
                XCTAssertEqual(path, "cfg.json")
                XCTAssertEqual(got, jp, json)
                if let e = error as? RedactError { self.assertOneLine(e, containing: "cfg.json") }
            }
            XCTAssertEqual(config, JobConfig(), json)
        }
    }
}

/// Command-line options (`redact detect --threshold`, `render --crf`, `track --max-gap`, `eval
/// --padding`) are checked by the manifest's rules for the same keys (`SettingOptions`).
final class SettingOptionsTests: XCTestCase {
    func testOptionsGiveTheConfigurationTheirManifestKeysGive() throws {
        var options = SettingOptions()
        options.set("--threshold", "detector", "threshold", 0.35)
        options.set("--every", "detector", "every", 3)
        options.set("--engine", "detector", "engine", "opencv")
        options.set("--no-windows", "detector", "windows", false)
        options.set("--max-gap", "tracker", "max_gap", 7)
        options.set("--style", "render", "style", "blur")
        options.set("--padding", "render", "padding", 2.0)
        options.set("--crf", "render", "crf", nil as Int?)
        var fromOptions = JobConfig()
        try options.apply(to: &fromOptions)
        var fromJSON = JobConfig()
        let json = #"{"detector": {"threshold": 0.35, "every": 3, "engine": "opencv", "windows": false}, "tracker": {"max_gap": 7}, "render": {"style": "blur", "padding": 2}}"#
        try ManifestLoader.applyOverrides(Data(json.utf8), path: "o.json", to: &fromJSON)
        XCTAssertEqual(fromOptions, fromJSON)
        XCTAssertNotEqual(fromOptions, JobConfig())
        var untouched = JobConfig()
        try SettingOptions().apply(to: &untouched)
        XCTAssertEqual(untouched, JobConfig())
    }

    func testRefusedValuesAreUsageErrorsNamingTheOption() {
        func assertRefused(_ message: String, file: StaticString = #filePath, line: UInt = #line, _ build: (inout SettingOptions) -> Void) {
            var options = SettingOptions()
            options.set("--every", "detector", "every", 2)
            build(&options)
            var config = JobConfig()
            config.render.crf = 30
            let before = config
            XCTAssertThrowsError(try options.apply(to: &config), file: file, line: line) { error in
                XCTAssertEqual(error as? RedactError, .usage(message), file: file, line: line)
                XCTAssertEqual((error as? RedactError)?.exitCode, 64, file: file, line: line)
            }
            XCTAssertEqual(config, before, "left unchanged", file: file, line: line)
        }
        assertRefused("--threshold: expected number greater than 0 and at most 1, found number 0.0") { $0.set("--threshold", "detector", "threshold", 0.0) }
        assertRefused("--threshold: expected number greater than 0 and at most 1, found number nan") { $0.set("--threshold", "detector", "threshold", Double.nan) }
        assertRefused("--iou: expected number greater than 0 and at most 1, found number inf") { $0.set("--iou", "tracker", "iou_threshold", Double.infinity) }
        assertRefused("--input-size: expected integer multiple of 32 from 128 to 4096, found number 1000") { $0.set("--input-size", "detector", "input_size", 1000) }
        assertRefused("--coarse-input-size: expected 0 (off) or an integer multiple of 32 from 128 to 4096, found number 100") {
            $0.set("--coarse-input-size", "detector", "coarse_input_size", 100)
        }
        assertRefused("--full-input-every: expected integer from 1 to 60, found number 0") { $0.set("--full-input-every", "detector", "full_input_every", 0) }
        assertRefused(#"--engine: expected "openvino" or "opencv", found string "onnxruntime""#) { $0.set("--engine", "detector", "engine", "onnxruntime") }
        assertRefused("--crf: expected integer from 0 to 51, found number -1") { $0.set("--crf", "render", "crf", -1) }
        assertRefused("--padding: expected number from 0 to 2, found number 2.5") { $0.set("--padding", "render", "padding", 2.5) }
        assertRefused("--extend: expected integer from 0 to 60, found number 61") { $0.set("--extend", "tracker", "extend_frames", 61) }
    }
}

final class StrictJSONTests: XCTestCase {
    func testScalarsKeepTheirKinds() throws {
        let v = try StrictJSON.parse(Data(#"[true, 1, 1.0, -0, 1e2, "s", null, false]"#.utf8))
        guard case .array(let a) = v else { return XCTFail() }
        XCTAssertEqual(a[0], .bool(true))
        guard case .number(let one) = a[1], case .number(let oneDot) = a[2], case .number(let e2) = a[4] else { return XCTFail() }
        XCTAssertEqual(one.intValue, 1)
        XCTAssertNil(oneDot.intValue)
        XCTAssertEqual(oneDot.doubleValue, 1)
        XCTAssertNil(e2.intValue)
        XCTAssertEqual(e2.doubleValue, 100)
        XCTAssertEqual(a[5], .string("s"))
        XCTAssertEqual(a[6], .null)
        XCTAssertEqual(a[7], .bool(false))
    }

    func testStringEscapes() throws {
        let v = try StrictJSON.parse(Data(#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00é""#.utf8))
        XCTAssertEqual(v, .string("a\"\\/\u{8}\u{c}\n\r\té😀é"))
        XCTAssertThrowsError(try StrictJSON.parse(Data(#""\ud83d""#.utf8)))
        XCTAssertThrowsError(try StrictJSON.parse(Data(#""\ude00""#.utf8)))
        XCTAssertThrowsError(try StrictJSON.parse(Data(#""\x41""#.utf8)))
        XCTAssertThrowsError(try StrictJSON.parse(Data(#""\u12G4""#.utf8)))
    }

    func testObjectsKeepOrderAndDuplicates() throws {
        let v = try StrictJSON.parse(Data(#"{"b": 1, "a": 2, "b": 3}"#.utf8))
        guard case .object(let m) = v else { return XCTFail() }
        XCTAssertEqual(m.map(\.key), ["b", "a", "b"])
    }

    func testByteOrderMarkAndWhitespace() throws {
        var data = Data([0xEF, 0xBB, 0xBF])
        data.append(Data(" \t\r\n{ } \n".utf8))
        XCTAssertEqual(try StrictJSON.parse(data), .object([]))
    }

    func testDeepNestingRejected() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        XCTAssertThrowsError(try StrictJSON.parse(Data(deep.utf8))) { error in
            XCTAssertTrue("\(error)".contains("nested more than 256"), "\(error)")
        }
        let ok = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
        XCTAssertNoThrow(try StrictJSON.parse(Data(ok.utf8)))
    }

    func testSyntaxErrorPosition() {
        XCTAssertThrowsError(try StrictJSON.parse(Data("{\n  \"é\": tru\n}".utf8))) { error in
            guard let e = error as? StrictJSONSyntaxError else { return XCTFail("\(error)") }
            XCTAssertEqual(e.line, 2)
            XCTAssertEqual(e.column, 8)
            XCTAssertEqual(e.offset, 10)
            XCTAssertTrue(e.message.contains("invalid literal"), e.message)
        }
    }

    func testRejectsMalformedLiteralsAndNumbers() {
        for bad in ["truex", "nul", "-", "1.", ".5", "1e", "+1", "0x10", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[1 2]", "\"abc", "{", "1 2"] {
            XCTAssertThrowsError(try StrictJSON.parse(Data(bad.utf8)), bad)
        }
    }
}
