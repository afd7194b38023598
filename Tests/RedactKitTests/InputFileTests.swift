import Foundation
import XCTest
@testable import RedactKit

/// What an input may be: a regular file holding its own media. The receipt names the input by
/// the SHA-256 of the file's bytes, so the pictures redacted must come from those bytes.
final class InputFileTests: TempDirectoryTestCase {
    override func setUpWithError() throws {
        try Fixtures.requireSetup()
        try super.setUpWithError()
    }

    private func key() throws -> URL { try Fixtures.makeKey(in: dir) }

    private func clip(_ name: String, frames: Int) throws -> Fixtures.Clip {
        var o = Fixtures.ClipOptions()
        o.name = name
        o.frames = frames
        return try Fixtures.makeClip(in: dir, o)
    }

    /// A one-job manifest per input, in `dir`; returns the manifest and the jobs' outputs.
    private func manifest(_ inputs: [(id: String, input: String)]) throws -> (URL, [String: URL]) {
        var outputs: [String: URL] = [:]
        var jobs: [String] = []
        for (id, input) in inputs {
            let out = dir.appendingPathComponent("out/\(id).mp4")
            outputs[id] = out
            jobs.append(#"{"id": "\#(id)", "input": "\#(input)", "output": "\#(out.path)"}"#)
        }
        let url = dir.appendingPathComponent("m.json")
        try Data(#"{"version": 1, "jobs": [\#(jobs.joined(separator: ", "))]}"#.utf8).write(to: url)
        return (url, outputs)
    }

    /// `clip` copied to inbox/case.mp4: an input the test may move, replace or write over.
    private func inboxCopy(of clip: Fixtures.Clip) throws -> URL {
        let input = dir.appendingPathComponent("inbox/case.mp4")
        try FileManager.default.createDirectory(at: input.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: clip.url, to: input)
        return input
    }

    /// The manifest `name`.json in `dir` with one job, `case`, of `input`: its output out/case.mp4
    /// and tracks file out/case.tracks.json (out/ made), and `evidence` as its evidence directory.
    private func trackedJob(_ name: String, input: URL, evidence: URL? = nil) throws -> (manifest: URL, out: URL, tracks: URL) {
        let outDir = dir.appendingPathComponent("out")
        let out = outDir.appendingPathComponent("case.mp4"), tracks = outDir.appendingPathComponent("case.tracks.json")
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        let evidenceDirs = evidence.map { #""evidence_dirs": ["\#($0.path)"], "# } ?? ""
        let m = dir.appendingPathComponent("\(name).json")
        try Data(#"{"version": 1, \#(evidenceDirs)"jobs": [{"id": "case", "input": "\#(input.path)", "output": "\#(out.path)", "tracks": "\#(tracks.path)"}]}"#.utf8).write(to: m)
        return (m, out, tracks)
    }

    private func events(_ stdout: String) -> [[String: Any]] {
        stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// A file that is a concat script or an HLS playlist naming another video: libavformat opened
    /// the video it names, so the job redacted that video and signed a receipt naming the text
    /// file's SHA-256 as its input (checked on the previous build: the concat job was `done`
    /// with the 30 frames of `other`; this playlist failed only when its MP4 segment would not
    /// read as MPEG-TS, and one naming a TS file would have been redacted). Now each fails as
    /// bad media (65), naming the format, and writes nothing.
    func testAnInputThatNamesOtherFilesIsRefused() throws {
        let other = try clip("other", frames: 30)
        let concat = dir.appendingPathComponent("evidence.mp4")
        try Data("ffconcat version 1.0\nfile '\(other.url.lastPathComponent)'\n".utf8).write(to: concat)
        let playlist = dir.appendingPathComponent("evidence2.mp4")
        try Data("#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:2.0,\n\(other.url.lastPathComponent)\n#EXT-X-ENDLIST\n".utf8).write(to: playlist)
        let (m, outputs) = try manifest([("concat", concat.path), ("hls", playlist.path)])
        let r = try Fixtures.redact(["run", m.path, "--key", try key().path, "--json"])
        XCTAssertEqual(r.status, 2, r.stderr)
        let failed = events(r.stdoutText).filter { $0["event"] as? String == "job_failed" }
        XCTAssertEqual(failed.map { $0["job"] as? String }, ["concat", "hls"], r.stdoutText)
        for (event, (path, format)) in zip(failed, [(concat.path, "`concat`"), (playlist.path, "`hls`")]) {
            XCTAssertEqual(event["exit_code"] as? Int, 65)
            let message = event["error"] as? String ?? ""
            XCTAssertTrue(message.hasPrefix("\(path): not usable as video: ") && message.contains(format), message)
        }
        XCTAssertEqual(Fixtures.listing(outputs["concat"]!.deletingLastPathComponent()), [], "a refused input left files")
        let detect = try Fixtures.redact(["detect", concat.path, "-o", dir.appendingPathComponent("d.json").path])
        XCTAssertEqual(detect.status, 65, detect.stderr)
    }

    /// A file whose name looks like a libavformat protocol (`concat:other.mp4`, given as a
    /// relative path) is that file: `probe` read it as the concat protocol, i.e. other.mp4.
    func testAFileNameIsNeverReadAsAProtocol() throws {
        let other = try clip("other", frames: 30)
        let mine = try clip("mine", frames: 12)
        let oddName = "concat:\(other.url.lastPathComponent)"
        try FileManager.default.copyItem(at: mine.url, to: dir.appendingPathComponent(oddName))
        let r = try Fixtures.redact(["probe", oddName, "--json"], currentDirectory: dir)
        XCTAssertEqual(r.status, 0, r.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(r.stdoutText.utf8)) as? [String: Any]
        XCTAssertEqual(report?["size_bytes"] as? Int, try FileManager.default.attributesOfItem(atPath: mine.url.path)[.size] as? Int)
        let video = (report?["streams"] as? [[String: Any]])?.first { $0["type"] as? String == "video" }
        XCTAssertEqual(video?["frame_count"] as? Int, mine.frameCount, "probe read another file: \(r.stdoutText)")
    }

    /// A FIFO or a device named as an input: a character device was hashed without end and a
    /// FIFO blocked opening, and SIGTERM stopped neither. Now each job fails at once (66) naming
    /// what the path is, as does a directory, and the batch ends.
    func testAnInputThatIsNotARegularFileFailsAtOnce() throws {
        let fifo = dir.appendingPathComponent("recorder.mp4")
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let directory = dir.appendingPathComponent("folder.mp4")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let (m, outputs) = try manifest([("fifo", fifo.path), ("device", "/dev/zero"), ("dir", directory.path)])
        let p = Process()
        p.executableURL = try Fixtures.requireBinary()
        p.arguments = ["run", m.path, "--key", try key().path, "--json"]
        p.environment = ProcessInfo.processInfo.environment.merging(["REDACT_MODELS": Fixtures.modelsDirectory.path]) { $1 }
        let stdout = Pipe()
        p.standardOutput = stdout
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // No timing assertion: a generous deadline only keeps a hang from stalling the suite.
        let deadline = Date().addingTimeInterval(300)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTFail("redact run hung on an input that is not a regular file")
            return
        }
        let text = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 2, text)
        let failed = events(text).filter { $0["event"] as? String == "job_failed" }
        let expected = [("fifo", fifo.path, "a FIFO"), ("device", "/dev/zero", "a character device"), ("dir", directory.path, "a directory")]
        XCTAssertEqual(failed.count, expected.count, text)
        for (event, (id, path, kind)) in zip(failed, expected) {
            XCTAssertEqual(event["job"] as? String, id)
            XCTAssertEqual(event["exit_code"] as? Int, 66)
            XCTAssertEqual(event["error"] as? String, "\(path): not a regular file (\(kind)); redact reads recorded files only")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: outputs["fifo"]!.deletingLastPathComponent().path + "/fifo.mp4"))
        let probe = try Fixtures.redact(["probe", fifo.path])
        XCTAssertEqual(probe.status, 66, probe.stderr)
    }

    /// An input swapped during a job (an adversarial review's finding): the job with a tracks
    /// file waits for that file's lock after hashing its input, a different video is moved over
    /// the input's name meanwhile, and the original is moved back once decoding has begun. The
    /// job hashed the original at both ends but decoded the other video: its receipt named the
    /// original's SHA-256 for another video's redaction, and the tracks file it sealed as the
    /// original's held the other video's boxes, which later jobs on the original reused (checked
    /// on the previous build: output and tracks had the other clip's 40 frames). Now the job
    /// decodes the file it opened and hashed, and fails closed because the input's name was moved
    /// meanwhile, before it seals a tracks file; the next run detects again and verifies.
    func testAnInputSwappedDuringAJobIsNotWhatIsRedacted() throws {
        let original = try clip("original", frames: 90)
        let other = try clip("other", frames: 40)
        let input = try inboxCopy(of: original)
        let aside = dir.appendingPathComponent("inbox/aside.mp4")
        let (m, out, tracks) = try trackedJob("swap", input: input)
        // Moved aside and replaced while the job waits; moved back once it writes its output.
        let p = try startWaitingOnTracksLock(manifest: m, tracks: tracks, input: input) { _ in
            XCTAssertEqual(rename(input.path, aside.path), 0)
            try FileManager.default.copyItem(at: other.url, to: input)
        } whenWriting: {
            try FileManager.default.removeItem(at: input)
            XCTAssertEqual(rename(aside.path, input.path), 0)
        }
        let signing = dir.appendingPathComponent("signing.key")  // made by the helper

        XCTAssertEqual(p.status, 2, p.log)
        XCTAssertTrue(p.log.contains("\(input.path): not usable as video: changed while it was being redacted"), p.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tracks.path), "a tracks file was sealed for an input that changed")

        let again = try Fixtures.redact(["run", m.path, "--key", signing.path])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try JSONFiles.read(TracksFile.self, from: tracks).frameCount, original.frameCount)
        XCTAssertEqual(try Fixtures.redact(["verify", out.path, "--input", input.path]).status, 0)
        let frames = try Fixtures.run("/usr/bin/ffprobe", ["-v", "error", "-count_packets", "-select_streams", "v:0",
                                                           "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", out.path])
        XCTAssertEqual(frames.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), "\(original.frameCount)")
    }

    /// The same, with the other video written into the input's own file (same inode, read through
    /// the job's descriptor) and the original written back once the tracks are written: a second
    /// review found the job failed but left a tracks file sealed as the original's holding the
    /// other video's boxes, which the next run reused on the original. Now nothing is sealed for
    /// an input that changed.
    func testAnInputWrittenOverInPlaceLeavesNoTracksFile() throws {
        let original = try clip("original", frames: 90)
        let other = try clip("other", frames: 40)
        let input = try inboxCopy(of: original)
        let (m, out, tracks) = try trackedJob("inplace", input: input)
        // Truncated and written through the same inode (not a new file renamed over it).
        func overwrite(with source: URL) throws {
            let handle = try FileHandle(forWritingTo: input)
            try handle.truncate(atOffset: 0)
            try handle.write(contentsOf: try Data(contentsOf: source))
            try handle.close()
        }
        let inode = try FileManager.default.attributesOfItem(atPath: input.path)[.systemFileNumber] as? NSNumber
        // The original written back once the tracks file is there (the previous build wrote it,
        // sealed, after decoding and before its last check) or the job has ended.
        let p = try startWaitingOnTracksLock(manifest: m, tracks: tracks, input: input,
                                             until: { FileManager.default.fileExists(atPath: tracks.path) }) { _ in
            try overwrite(with: other.url)
        } whenWriting: {
            try overwrite(with: original.url)
        }
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: input.path)[.systemFileNumber] as? NSNumber, inode)
        // It fails closed either way: on the other video's bytes (a decode error where they end
        // mid-stream) or on the change found at the end.
        XCTAssertEqual(p.status, 2, p.log)
        XCTAssertTrue(p.log.contains("redact: job case failed: \(input.path): "), p.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tracks.path), "a tracks file was sealed for an input that changed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }

    /// The output's directory swapped, during the job, for a link into an evidence directory
    /// holding an original of the same name: a second review's job renamed its output over the
    /// original. The evidence rule is checked again before anything is written at a final path.
    func testAnOutputDirectorySwappedForAnEvidenceLinkIsRefused() throws {
        let original = try clip("original", frames: 60)
        let evidence = dir.appendingPathComponent("evidence")
        try FileManager.default.createDirectory(at: evidence, withIntermediateDirectories: true)
        let kept = evidence.appendingPathComponent("case.mp4")
        try FileManager.default.copyItem(at: original.url, to: kept)
        let before = try FileDigest.sha256(of: kept)
        let input = try inboxCopy(of: original)
        let (m, out, tracks) = try trackedJob("swapdir", input: input, evidence: evidence)
        let outDir = out.deletingLastPathComponent()
        let p = try startWaitingOnTracksLock(manifest: m, tracks: tracks, input: input) { _ in
            XCTAssertEqual(rename(outDir.path, self.dir.appendingPathComponent("out.real").path), 0)
            try FileManager.default.createSymbolicLink(at: outDir, withDestinationURL: evidence)
        } whenWriting: {}
        XCTAssertEqual(p.status, 2, p.log)
        XCTAssertTrue(p.log.contains("is inside evidence directory"), p.log)
        XCTAssertEqual(try FileDigest.sha256(of: kept), before, "the original in the evidence directory was replaced")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: evidence.path).filter { !$0.hasPrefix(".") }, ["case.mp4"])
    }

    /// A job runs with transparent huge pages off (`TransparentHugePages`, set in `redact`'s
    /// main): the kernel's view of the running job, `THP_enabled` in /proc/PID/status, while it
    /// waits on its tracks lock. The test process itself has them on, so the job did it.
    func testAJobRunsWithoutTransparentHugePages() throws {
        func thpEnabled(_ pid: Int32) -> String? {
            guard let status = procFile(pid, "status") else { return nil }
            return status.split(separator: "\n").first { $0.hasPrefix("THP_enabled:") }
                .map { $0.dropFirst("THP_enabled:".count).trimmingCharacters(in: .whitespaces) }
        }
        guard let own = thpEnabled(getpid()) else { throw XCTSkip("this kernel does not report THP_enabled (Linux 5.0 and later do)") }
        XCTAssertEqual(own, "1", "the test process must have them on for this test to show anything")
        let input = try clip("pages", frames: 30).url
        let (m, out, tracks) = try trackedJob("pages", input: input)
        var job: String?
        let p = try startWaitingOnTracksLock(manifest: m, tracks: tracks, input: input) { pid in
            job = thpEnabled(pid)
        } whenWriting: {}
        XCTAssertEqual(p.status, 0, p.log)
        XCTAssertEqual(job, "0", "transparent huge pages are on in the running job")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
    }

    /// A job's inference runs on the oneTBB OpenVINO's wheel was built with and ships (2021.13),
    /// not on Debian's older libtbb.so.12 (2021.8) that OpenCV depends on: both have one soname,
    /// so one process holds only one, and oneTBB runs binaries built against an older version of
    /// it, not against a newer one. Read from the running job's memory map.
    func testAJobRunsOnOpenVINOsOwnThreadingLibrary() throws {
        func mappedFiles(_ pid: Int32) -> Set<String> {
            guard let maps = procFile(pid, "maps") else { return [] }
            // address perms offset dev inode path: the path is the rest of the line from its "/".
            return Set(maps.split(separator: "\n").compactMap { line in
                line.range(of: " /").map { String(line[line.index(after: $0.lowerBound)...]) }
            })
        }
        let input = try clip("threads", frames: 10).url
        let (m, _, tracks) = try trackedJob("threads", input: input)
        var files: Set<String> = []
        let p = try startWaitingOnTracksLock(manifest: m, tracks: tracks, input: input) { pid in
            files = mappedFiles(pid)
        } whenWriting: {}
        XCTAssertEqual(p.status, 0, p.log)
        XCTAssertFalse(files.isEmpty, "nothing read from the job's memory map")
        func folders(named prefix: String) -> [String] {
            files.filter { URL(fileURLWithPath: $0).lastPathComponent.hasPrefix(prefix) }
                .map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }.sorted()
        }
        let openVINO = folders(named: "libopenvino_c.so")
        guard openVINO.count == 1 else { throw XCTSkip("this build does not link OpenVINO (\(openVINO))") }
        XCTAssertEqual(folders(named: "libtbb.so"), openVINO, "the job's threading library is not OpenVINO's")
    }

    /// /proc/PID/`name` read to its end (String(contentsOfFile:) stops at 4 KiB of a /proc
    /// file, whose size reads as 0); nil when it cannot be read.
    private func procFile(_ pid: Int32, _ name: String) -> String? {
        guard let handle = try? FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/\(pid)/\(name)")),
              let bytes = try? handle.readToEnd() else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Runs `redact run MANIFEST` while this process holds the lock of `tracks`, so the job waits
    /// with its input open; then calls `meanwhile` with its process id, releases the lock, waits until `until` (by
    /// default: the job writes its output) or the job ends, and calls `whenWriting`. Polling, no
    /// timing assertion.
    private func startWaitingOnTracksLock(manifest: URL, tracks: URL, input: URL, until: (() -> Bool)? = nil,
                                          meanwhile: (Int32) throws -> Void,
                                          whenWriting: () throws -> Void) throws -> (status: Int32, log: String) {
        let lockURL = tracks.deletingLastPathComponent().appendingPathComponent(".\(tracks.lastPathComponent).lock")
        let held = try XCTUnwrap(try LockFile.lock(lockURL, waiting: true, reportPath: tracks.path))
        let p = Process()
        p.executableURL = try Fixtures.requireBinary()
        p.arguments = ["run", manifest.path, "--key", try key().path]
        p.environment = ProcessInfo.processInfo.environment.merging(["REDACT_MODELS": Fixtures.modelsDirectory.path]) { $1 }
        let log = dir.appendingPathComponent("\(manifest.lastPathComponent).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = try FileHandle(forWritingTo: log)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(300)
        func hasInputOpen() -> Bool {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(p.processIdentifier)/fd")) ?? []
            return fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(p.processIdentifier)/fd/\($0)")) == input.path }
        }
        while p.isRunning && Date() < deadline && !hasInputOpen() { usleep(20_000) }
        XCTAssertTrue(p.isRunning, "the job ended before it waited on the tracks lock")
        try meanwhile(p.processIdentifier)
        flock(held, LOCK_UN)
        close(held)
        let outDir = tracks.deletingLastPathComponent()
        let writing = until ?? { Fixtures.listing(outDir).contains { $0.contains(".partial-") } }
        while p.isRunning && Date() < deadline && !writing() { usleep(20_000) }
        try whenWriting()
        p.waitUntilExit()
        return (p.terminationStatus, (try? String(contentsOf: log, encoding: .utf8)) ?? "")
    }
}
