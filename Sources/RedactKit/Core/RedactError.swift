import Foundation

/// Every failure redact reports. Each case carries what a user needs to find the problem
/// (a file, a frame number, a JSON path) and maps to one documented exit code.
public enum RedactError: Error, CustomStringConvertible, Equatable {
    /// The command line itself is wrong.
    case usage(String)
    /// An input file does not exist or cannot be opened for reading.
    case inputNotFound(path: String)
    /// An input path names something other than a regular file (`kind`: "a directory", "a FIFO",
    /// ...). A recorded file is read more than once (hashed, decoded, hashed again); a pipe or a
    /// device cannot be, and reading one could block a batch for good.
    case notAFile(path: String, kind: String)
    /// An input exists but is not usable media (not a video, truncated, no video stream...).
    case badMedia(path: String, detail: String)
    /// A JSON document (manifest, detections, tracks, receipt) is malformed; `jsonPath` is like `$.jobs[2].render.crf`.
    case badJSON(path: String, jsonPath: String, detail: String)
    /// The input's SHA-256 is not the one the manifest expects.
    case inputHashMismatch(path: String, expected: String, actual: String)
    /// Decoding failed part-way; `frame` is the 1-based frame index when known.
    case decode(path: String, frame: Int?, detail: String)
    /// The detector failed (model missing, wrong hash, inference error).
    case detector(path: String, frame: Int?, detail: String)
    /// Encoding or muxing failed.
    case encode(path: String, frame: Int?, detail: String)
    /// An output cannot be created or written (bad directory, would overwrite the input, a full disk...).
    case output(path: String, detail: String)
    /// A key file is missing or malformed.
    case key(path: String, detail: String)
    /// `verify` found that a receipt or output does not check out.
    case verificationFailed(path: String, reason: String)
    /// Some jobs of a batch failed (details were reported per job).
    case batchFailed(failed: Int, total: Int)
    /// The run was interrupted by a signal.
    case interrupted

    /// One line, naming the file, frame or JSON path.
    public var description: String {
        switch self {
        case .usage(let message):
            return "usage: \(message)"
        case .inputNotFound(let path):
            return "\(path): no such file or not readable"
        case .notAFile(let path, let kind):
            return "\(path): not a regular file (\(kind)); redact reads recorded files only"
        case .badMedia(let path, let detail):
            return "\(path): not usable as video: \(detail)"
        case .badJSON(let path, let jsonPath, let detail):
            return "\(path): \(jsonPath): \(detail)"
        case .inputHashMismatch(let path, let expected, let actual):
            return "\(path): SHA-256 is \(actual), manifest expects \(expected)"
        case .decode(let path, let frame, let detail):
            return "\(path)\(Self.frameSuffix(frame)): decode failed: \(detail)"
        case .detector(let path, let frame, let detail):
            return "\(path)\(Self.frameSuffix(frame)): detector failed: \(detail)"
        case .encode(let path, let frame, let detail):
            return "\(path)\(Self.frameSuffix(frame)): encode failed: \(detail)"
        case .output(let path, let detail):
            return "\(path): cannot write output: \(detail)"
        case .key(let path, let detail):
            return "\(path): bad key: \(detail)"
        case .verificationFailed(let path, let reason):
            return "\(path): verification FAILED: \(reason)"
        case .batchFailed(let failed, let total):
            return "\(failed) of \(total) jobs failed"
        case .interrupted:
            return "interrupted"
        }
    }

    /// The process exit code for this error; the table is in docs/exit-codes.md and README.md.
    public var exitCode: Int32 { ExitCode.forError(self).rawValue }

    private static func frameSuffix(_ frame: Int?) -> String {
        frame.map { ": frame \($0)" } ?? ""
    }
}

/// The documented exit codes (sysexits-style where one fits). The only place they are defined.
public enum ExitCode: Int32, CaseIterable {
    case success = 0
    /// `verify`: the receipt or output does not check out.
    case verificationFailed = 1
    /// `run`: at least one job of the batch failed; the others completed.
    case someJobsFailed = 2
    /// Interrupted by SIGINT, SIGTERM or SIGHUP (`run`, `render`, `mux`).
    case interrupted = 3
    case usage = 64
    /// Input exists but is unusable: bad media, bad JSON, hash mismatch, bad key.
    case badInput = 65
    case inputNotFound = 66
    /// Detector, decoder or encoder failure on otherwise valid input.
    case processingFailed = 70
    case cannotCreateOutput = 73

    public static func forError(_ error: RedactError) -> ExitCode {
        switch error {
        case .usage: return .usage
        case .inputNotFound, .notAFile: return .inputNotFound
        case .badMedia, .badJSON, .inputHashMismatch, .key: return .badInput
        // A decoder error on an input that opened is most often a damaged file: bad input.
        case .decode: return .badInput
        case .detector, .encode: return .processingFailed
        case .output: return .cannotCreateOutput
        case .verificationFailed: return .verificationFailed
        case .batchFailed: return .someJobsFailed
        case .interrupted: return .interrupted
        }
    }
}
