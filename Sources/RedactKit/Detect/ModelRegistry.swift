import Foundation

/// One entry of models/registry.json: where a model comes from and the hash it must have.
public struct ModelEntry: Codable, Equatable, Sendable {
    public var id: String
    public var file: String
    public var sha256: String
    public var licence: String
    public var source: [String: String]
}

struct ModelRegistryFile: Codable {
    var version: Int
    var models: [ModelEntry]
}

/// A model file that was found and whose SHA-256 matched the registry.
public struct VerifiedModel: Sendable, Equatable {
    public var id: String
    public var url: URL
    public var sha256: String
}

/// Finds models and checks them against the registry before any use (fail closed).
public final class ModelRegistry: @unchecked Sendable {
    public let directory: URL
    private let entries: [ModelEntry]
    private var verified: [String: VerifiedModel] = [:]
    private let lock = NSLock()

    /// Looks in `explicit`, then $REDACT_MODELS, then `models/` next to the executable's package
    /// checkout, then `./models`.
    public static func locate(explicit: String? = nil) throws -> ModelRegistry {
        var candidates: [URL] = []
        if let e = explicit { candidates.append(URL(fileURLWithPath: e)) }
        if let env = ProcessInfo.processInfo.environment["REDACT_MODELS"] { candidates.append(URL(fileURLWithPath: env)) }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent("models"))
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models"))
        for c in candidates where FileManager.default.fileExists(atPath: c.appendingPathComponent("registry.json").path) {
            return try ModelRegistry(directory: c)
        }
        let searched = candidates.map(\.path).joined(separator: ", ")
        throw RedactError.detector(path: "models/registry.json", frame: nil, detail: "model registry not found (looked in \(searched)); run `make setup` or pass --models")
    }

    public init(directory: URL) throws {
        self.directory = directory
        let registryURL = directory.appendingPathComponent("registry.json")
        let data: Data
        do { data = try Data(contentsOf: registryURL) } catch {
            throw RedactError.inputNotFound(path: registryURL.path)
        }
        do {
            entries = try JSONDecoder().decode(ModelRegistryFile.self, from: data).models
        } catch {
            throw RedactError.badJSON(path: registryURL.path, jsonPath: "$", detail: "not a model registry: \(error)")
        }
    }

    public func entry(_ id: String) -> ModelEntry? { entries.first { $0.id == id } }

    /// The model file, after checking its SHA-256 (once per process).
    public func model(_ id: String) throws -> VerifiedModel {
        lock.lock()
        defer { lock.unlock() }
        if let v = verified[id] { return v }
        guard let entry = entry(id) else {
            throw RedactError.detector(path: directory.appendingPathComponent("registry.json").path, frame: nil, detail: "no model \"\(id)\" in the registry")
        }
        let url = directory.appendingPathComponent(entry.file)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw RedactError.detector(path: url.path, frame: nil, detail: "model file missing; run `make setup` to fetch it")
        }
        let actual = try FileDigest.sha256(of: url)
        guard actual == entry.sha256 else {
            throw RedactError.detector(path: url.path, frame: nil, detail: "SHA-256 is \(actual), registry expects \(entry.sha256)")
        }
        let v = VerifiedModel(id: id, url: url, sha256: actual)
        verified[id] = v
        return v
    }
}
