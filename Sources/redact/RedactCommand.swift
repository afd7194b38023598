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
            70 detector/encoder failure; 73 cannot create output.
            """,
        version: redactVersion,
        subcommands: [Run.self, Probe.self, Detect.self, Track.self, Render.self, Review.self, Mux.self, Keygen.self, Sign.self, Verify.self, Eval.self]
    )
}

/// Runs a command body, printing a RedactError as one line on stderr and exiting with its code.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as RedactError {
        FileHandle.standardError.write(Data("redact: \(error)\n".utf8))
        throw ExitCode(error.exitCode)
    }
}

/// Prints an Encodable as sorted, pretty JSON on stdout.
func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
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

    func apply(to config: inout DetectorConfig) throws {
        if let t = threshold {
            guard t > 0 && t <= 1 else { throw RedactError.usage("--threshold must be in (0, 1]") }
            config.threshold = t
        }
        if let s = inputSize {
            guard s >= 128 && s <= 4096 && s % 32 == 0 else { throw RedactError.usage("--input-size must be a multiple of 32 in 128...4096") }
            config.inputSize = s
        }
        if let s = coarseInputSize {
            guard s == 0 || (s >= 128 && s <= 4096 && s % 32 == 0) else {
                throw RedactError.usage("--coarse-input-size must be 0 or a multiple of 32 in 128...4096")
            }
            config.coarseInputSize = s
        }
        if let n = fullInputEvery {
            guard (1...60).contains(n) else { throw RedactError.usage("--full-input-every must be in 1...60") }
            config.fullInputEvery = n
        }
        if let e = every {
            guard (1...10).contains(e) else { throw RedactError.usage("--every must be in 1...10") }
            config.every = e
        }
        if let e = engine { config.engine = try choice(e, for: "--engine") }
        if let p = precision { config.precision = try choice(p, for: "--precision") }
        if noSecondLook { config.secondLook = false }
        if noWindows { config.windows = false }
    }
}

/// The case of `T` named `value`, or a usage error listing the choices ("--style must be one of
/// fill, pixelate, blur").
func choice<T: CaseIterable & RawRepresentable>(_ value: String, for option: String) throws -> T where T.RawValue == String {
    guard let chosen = T(rawValue: value) else {
        throw RedactError.usage("\(option) must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return chosen
}

struct RenderOptions: ParsableArguments {
    @Option(help: "fill (default, irreversible), pixelate or blur (weaker).") var style: String?
    @Option(help: "Outline of face redactions: ellipse (default) or box. Plates are always boxes.") var shape: String?
    @Option(help: "Grow each box by this fraction per side.") var padding: Double?
    @Option(help: "libx264 CRF (0-51).") var crf: Int?
    @Option(help: "libx264 preset.") var preset: String?
    @Flag(name: .customLong("no-audio"), help: "Drop audio instead of copying it.") var noAudio = false

    func apply(to config: inout RenderConfig) throws {
        if let s = style { config.style = try choice(s, for: "--style") }
        if let s = shape { config.shape = try choice(s, for: "--shape") }
        if let p = padding {
            guard p >= 0 && p <= 2 else { throw RedactError.usage("--padding must be in 0...2") }
            config.padding = p
        }
        if let c = crf {
            guard (0...51).contains(c) else { throw RedactError.usage("--crf must be in 0...51") }
            config.crf = c
        }
        if let p = preset {
            let presets = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
            guard presets.contains(p) else { throw RedactError.usage("--preset must be one of \(presets.joined(separator: ", "))") }
            config.preset = p
        }
        if noAudio { config.keepAudio = false }
    }
}
