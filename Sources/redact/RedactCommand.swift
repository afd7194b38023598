import ArgumentParser
import Foundation
import RedactKit

@main
struct Redact: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redact",
        abstract: "Redact third-party faces in body-worn and in-car camera video; sign every output.",
        discussion: """
            Exit codes: 0 success; 1 verification failed; 2 some jobs of a batch failed; 3 interrupted;
            64 usage error; 65 bad input (media, JSON, hash mismatch, key); 66 input not found;
            70 detector/encoder failure; 73 cannot create or write output.
            """,
        version: redactVersion,
        subcommands: [Run.self, Probe.self, Detect.self, Track.self, Render.self, Review.self, Mux.self, Keygen.self, Sign.self, Verify.self, Eval.self]
    )

    /// SIGXFSZ is ignored before anything runs: past a file-size limit (`ulimit -f` in a cron
    /// job's environment) a write then fails with EFBIG, which fails the job like a full disk
    /// (73, its temporary output removed), instead of the signal killing the process mid-write.
    /// SIGPIPE likewise: a closed stdout or stderr pipe then fails that write (EPIPE) and
    /// `Console` drops the stream, instead of the signal killing a job half-way. Transparent huge
    /// pages are turned off: a job's peak memory is lower for the same speed (`TransparentHugePages`).
    static func main() {
        signal(SIGXFSZ, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        TransparentHugePages.disable()
        main(nil)
    }
}

/// Runs a command body, printing a RedactError as one line on stderr and exiting with its code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as RedactError {
        Console.error("redact: \(error)\n")
        throw ExitCode(error.exitCode)
    }
}

/// Prints an Encodable as sorted, pretty JSON on stdout.
func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    Console.output(data + Data("\n".utf8))
}

struct ModelOptions: ParsableArguments {
    @Option(help: "Directory holding registry.json and the model files (default: $REDACT_MODELS, then ./models).")
    var models: String?
}

struct DetectorOptions: ParsableArguments {
    @Option(help: "Minimum face score (0-1].") var threshold: Double?
    @Option(name: .customLong("input-size"), help: "Detector input: longer side in pixels (multiple of 32).") var inputSize: Int?
    @Option(name: .customLong("coarse-input-size"), help: "Detector input of the whole-frame runs between full-size ones: longer side in pixels (multiple of 32; 0: every run at --input-size).") var coarseInputSize: Int?
    @Option(name: .customLong("full-input-every"), help: "A whole-frame run at --input-size when none was in the last n frames (1-60).") var fullInputEvery: Int?
    @Option(help: "Run the detector on every n-th frame (1-10).") var every: Int?
    @Option(help: "Inference engine: openvino (default) or opencv (slower).") var engine: String?
    @Option(help: "Inference precision: auto (default: bfloat16 where the CPU computes it natively) or f32.") var precision: String?
    @Flag(name: .customLong("no-second-look"), help: "Do not look again, closer, at small doubtful detections (docs/models.md).") var noSecondLook = false
    @Flag(name: .customLong("no-windows"), help: "Look at the whole frame on every detector run, never only at windows around faces (docs/manifest.md).") var noWindows = false
    @Option(name: .customLong("video-stream"), help: "The video stream to detect and redact, numbered as `redact probe` lists them (default: the file's main one). One camera per output: a file holding two is redacted once per camera.") var videoStream: Int?

    /// Checked by the manifest's rules for the same `detector` keys (`SettingOptions`).
    func apply(to config: inout JobConfig) throws {
        var options = SettingOptions()
        options.set("--threshold", "detector", "threshold", threshold)
        options.set("--input-size", "detector", "input_size", inputSize)
        options.set("--coarse-input-size", "detector", "coarse_input_size", coarseInputSize)
        options.set("--full-input-every", "detector", "full_input_every", fullInputEvery)
        options.set("--every", "detector", "every", every)
        options.set("--engine", "detector", "engine", engine)
        options.set("--precision", "detector", "precision", precision)
        options.set("--video-stream", "detector", "video_stream", videoStream)
        if noSecondLook { options.set("--no-second-look", "detector", "second_look", false) }
        if noWindows { options.set("--no-windows", "detector", "windows", false) }
        try options.apply(to: &config)
    }
}

struct RenderOptions: ParsableArguments {
    @Option(help: "fill (default, irreversible), pixelate or blur (weaker).") var style: String?
    @Option(help: "Outline of face redactions: ellipse (default) or box. Plates are always boxes.") var shape: String?
    @Option(help: "Grow each box by this fraction per side.") var padding: Double?
    @Option(help: "libx264 CRF (0-51).") var crf: Int?
    @Option(help: "libx264 preset.") var preset: String?
    @Flag(name: .customLong("no-audio"), help: "Drop audio instead of copying it.") var noAudio = false

    /// Checked by the manifest's rules for the same `render` keys (`SettingOptions`).
    func apply(to config: inout JobConfig) throws {
        var options = SettingOptions()
        options.set("--style", "render", "style", style)
        options.set("--shape", "render", "shape", shape)
        options.set("--padding", "render", "padding", padding)
        options.set("--crf", "render", "crf", crf)
        options.set("--preset", "render", "preset", preset)
        if noAudio { options.set("--no-audio", "render", "keep_audio", false) }
        try options.apply(to: &config)
    }
}
