import Foundation

/// Reading and writing the JSON documents stages exchange (detections.json, tracks.json...).
enum JSONFiles {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// Writes `value` atomically, one line; returns the bytes written.
    @discardableResult
    static func write<T: Encodable>(_ value: T, to url: URL) throws -> Data {
        var data = try encoder().encode(value)
        data.append(0x0A)
        try AtomicFile.write(data, to: url)
        return data
    }

    /// Decodes a file, turning decoding errors into one-line errors with a JSON path.
    static func read<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
        try decode(type, from: try bytes(of: url), url: url)
    }

    /// `read`, and the SHA-256 of exactly the bytes decoded (what `sha256sum` prints for the file).
    static func readHashing<T: Decodable>(_ type: T.Type, from url: URL) throws -> (value: T, sha256: String) {
        let data = try bytes(of: url)
        return (try decode(type, from: data, url: url), FileDigest.sha256(of: data))
    }

    private static func bytes(of url: URL) throws -> Data {
        guard FileManager.default.isReadableFile(atPath: url.path) else { throw RedactError.inputNotFound(path: url.path) }
        do { return try Data(contentsOf: url) } catch { throw RedactError.inputNotFound(path: url.path) }
    }

    private static func decode<T: Decodable>(_ type: T.Type, from data: Data, url: URL) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx),
                let DecodingError.dataCorrupted(ctx) {
            throw RedactError.badJSON(path: url.path, jsonPath: jsonPath(ctx.codingPath), detail: ctx.debugDescription)
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw RedactError.badJSON(path: url.path, jsonPath: jsonPath(ctx.codingPath + [key]), detail: "missing required key")
        } catch {
            throw RedactError.badJSON(path: url.path, jsonPath: "$", detail: "\(error)")
        }
    }

    static func jsonPath(_ path: [CodingKey]) -> String {
        var s = "$"
        for k in path {
            if let i = k.intValue { s += "[\(i)]" } else { s += ".\(k.stringValue)" }
        }
        return s
    }
}

/// Which input a stage's JSON output describes.
public struct InputReference: Codable, Equatable, Sendable {
    public var path: String
    public var sha256: String
}

/// A model and its SHA-256, as recorded in stage outputs and receipts.
public struct ModelReference: Codable, Equatable, Sendable {
    public var id: String
    public var sha256: String
}
