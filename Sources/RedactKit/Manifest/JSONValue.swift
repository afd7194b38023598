import Foundation

/// A JSON value exactly as written in the document.
///
/// Unlike `JSONSerialization`, booleans are never numbers, integers (no fraction, no exponent)
/// are kept apart from decimals, and object members keep their document order, duplicates
/// included (the caller decides whether a duplicate key is an error).
public enum StrictJSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(StrictJSONNumber)
    case string(String)
    case array([StrictJSONValue])
    case object([StrictJSONMember])

    /// A short, single-line description for error messages: `string "18"`, `number 18.5`,
    /// `boolean true`, `null`, `array of 3 elements`, `object`.
    public var foundDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "boolean \(b)"
        case .number(let n): return "number \(StrictJSON.truncated(n.literal))"
        case .string(let s): return "string \(StrictJSON.quoted(s))"
        case .array(let a):
            return a.isEmpty ? "empty array" : "array of \(a.count) element\(a.count == 1 ? "" : "s")"
        case .object(let m): return m.isEmpty ? "empty object" : "object"
        }
    }
}

/// One `"key": value` member of a JSON object.
public struct StrictJSONMember: Equatable, Sendable {
    public var key: String
    public var value: StrictJSONValue
    public init(key: String, value: StrictJSONValue) {
        self.key = key
        self.value = value
    }
}

/// A JSON number, kept as its literal text.
public struct StrictJSONNumber: Equatable, Sendable {
    /// The number as written, e.g. `18`, `-0.5`, `1e3`.
    public let literal: String
    /// True when the literal has neither a fraction nor an exponent (`18`, not `18.0` or `1e1`).
    public var isIntegerLiteral: Bool {
        !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" })
    }
    /// The value as an `Int` if the literal is an integer literal that fits; otherwise nil.
    public var intValue: Int? { isIntegerLiteral ? Int(literal) : nil }
    /// The value as a `Double` (finite: the parser rejects literals that overflow).
    public var doubleValue: Double { Double(literal) ?? .nan }

    public init(literal: String) { self.literal = literal }
}

/// A JSON syntax error with its position. `description` is one line.
public struct StrictJSONSyntaxError: Error, Equatable, CustomStringConvertible, Sendable {
    /// 0-based byte offset of the offending byte.
    public var offset: Int
    /// 1-based line.
    public var line: Int
    /// 1-based column, counted in Unicode scalars.
    public var column: Int
    public var message: String

    public var description: String {
        "invalid JSON at line \(line), column \(column) (byte offset \(offset)): \(message)"
    }
}

/// A strict RFC 8259 JSON parser (UTF-8 input; a leading UTF-8 byte order mark is ignored).
public enum StrictJSON {
    /// Objects and arrays nested deeper than this are rejected (protects the stack).
    public static let defaultMaxDepth = 256

    public static func parse(_ data: Data, maxDepth: Int = defaultMaxDepth) throws -> StrictJSONValue {
        var parser = Parser(bytes: [UInt8](data), maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    /// `s` as a double-quoted, escaped, single-line string, truncated to `limit` characters.
    public static func quoted(_ s: String, limit: Int = 80) -> String {
        var out = "\""
        var count = 0
        for scalar in s.unicodeScalars {
            if count == limit {
                out += "..."
                break
            }
            count += 1
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                let v = scalar.value
                if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 {
                    out += String(format: "\\u%04X", v)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func truncated(_ s: String, limit: Int = 80) -> String {
        s.count <= limit ? s : String(s.prefix(limit)) + "..."
    }

    struct Parser {
        let bytes: [UInt8]
        let maxDepth: Int
        var i = 0

        init(bytes: [UInt8], maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        mutating func parseDocument() throws -> StrictJSONValue {
            if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
            skipWhitespace()
            let value = try parseValue(depth: 0)
            skipWhitespace()
            if i < bytes.count {
                throw error("unexpected \(foundHere()) after the end of the JSON value")
            }
            return value
        }

        // MARK: Values

        mutating func parseValue(depth: Int) throws -> StrictJSONValue {
            guard i < bytes.count else { throw error("unexpected end of input, expected a JSON value") }
            switch bytes[i] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw error("unexpected \(foundHere()), expected a JSON value")
            }
        }

        mutating func parseObject(depth: Int) throws -> StrictJSONValue {
            if depth > maxDepth { throw error("objects and arrays nested more than \(maxDepth) deep") }
            i += 1 // {
            var members: [StrictJSONMember] = []
            skipWhitespace()
            if peek(UInt8(ascii: "}")) {
                i += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard peek(UInt8(ascii: "\"")) else {
                    if members.isEmpty || !peek(UInt8(ascii: "}")) {
                        throw error("expected a double-quoted object key, found \(foundHere())")
                    }
                    throw error("trailing comma before '}' is not allowed")
                }
                let key = try parseString()
                skipWhitespace()
                guard peek(UInt8(ascii: ":")) else {
                    throw error("expected ':' after object key, found \(foundHere())")
                }
                i += 1
                skipWhitespace()
                let value = try parseValue(depth: depth)
                members.append(StrictJSONMember(key: key, value: value))
                skipWhitespace()
                if peek(UInt8(ascii: ",")) {
                    i += 1
                    continue
                }
                if peek(UInt8(ascii: "}")) {
                    i += 1
                    return .object(members)
                }
                throw error("expected ',' or '}' after object member, found \(foundHere())")
            }
        }

        mutating func parseArray(depth: Int) throws -> StrictJSONValue {
            if depth > maxDepth { throw error("objects and arrays nested more than \(maxDepth) deep") }
            i += 1 // [
            var elements: [StrictJSONValue] = []
            skipWhitespace()
            if peek(UInt8(ascii: "]")) {
                i += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                if !elements.isEmpty, peek(UInt8(ascii: "]")) {
                    throw error("trailing comma before ']' is not allowed")
                }
                elements.append(try parseValue(depth: depth))
                skipWhitespace()
                if peek(UInt8(ascii: ",")) {
                    i += 1
                    continue
                }
                if peek(UInt8(ascii: "]")) {
                    i += 1
                    return .array(elements)
                }
                throw error("expected ',' or ']' after array element, found \(foundHere())")
            }
        }

        mutating func expectLiteral(_ word: String) throws {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else {
                throw error("invalid literal, expected true, false or null")
            }
            i += w.count
            // `truex` must not parse as `true` followed by garbage reported elsewhere.
            if i < bytes.count, isIdentifierByte(bytes[i]) {
                throw error("invalid literal, expected true, false or null")
            }
        }

        mutating func parseNumber() throws -> StrictJSONNumber {
            let start = i
            if peek(UInt8(ascii: "-")) { i += 1 }
            guard i < bytes.count, isDigit(bytes[i]) else {
                throw error("invalid number: expected a digit, found \(foundHere())")
            }
            if bytes[i] == UInt8(ascii: "0") {
                i += 1
                if i < bytes.count, isDigit(bytes[i]) {
                    throw error("invalid number: leading zeros are not allowed")
                }
            } else {
                while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            }
            if peek(UInt8(ascii: ".")) {
                i += 1
                guard i < bytes.count, isDigit(bytes[i]) else {
                    throw error("invalid number: expected a digit after '.', found \(foundHere())")
                }
                while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            }
            if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
                i += 1
                if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { i += 1 }
                guard i < bytes.count, isDigit(bytes[i]) else {
                    throw error("invalid number: expected a digit in the exponent, found \(foundHere())")
                }
                while i < bytes.count, isDigit(bytes[i]) { i += 1 }
            }
            if i < bytes.count, isIdentifierByte(bytes[i]) || bytes[i] == UInt8(ascii: ".") {
                throw error("invalid number: unexpected \(foundHere())")
            }
            let literal = String(decoding: bytes[start..<i], as: UTF8.self)
            guard let d = Double(literal), d.isFinite else {
                i = start
                throw error("number \(StrictJSON.truncated(literal)) is too large")
            }
            return StrictJSONNumber(literal: literal)
        }

        mutating func parseString() throws -> String {
            i += 1 // opening quote
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw error("unterminated string") }
                let c = bytes[i]
                switch c {
                case UInt8(ascii: "\""):
                    i += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    i += 1
                    guard i < bytes.count else { throw error("unterminated string") }
                    let e = bytes[i]
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22); i += 1
                    case UInt8(ascii: "\\"): out.append(0x5C); i += 1
                    case UInt8(ascii: "/"): out.append(0x2F); i += 1
                    case UInt8(ascii: "b"): out.append(0x08); i += 1
                    case UInt8(ascii: "f"): out.append(0x0C); i += 1
                    case UInt8(ascii: "n"): out.append(0x0A); i += 1
                    case UInt8(ascii: "r"): out.append(0x0D); i += 1
                    case UInt8(ascii: "t"): out.append(0x09); i += 1
                    case UInt8(ascii: "u"):
                        let escapeStart = i - 1
                        i += 1
                        let first = try parseHex4()
                        var scalarValue = first
                        if (0xD800...0xDBFF).contains(first) {
                            guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                                i = escapeStart
                                throw error("invalid \\u escape: high surrogate not followed by a low surrogate")
                            }
                            i += 2
                            let second = try parseHex4()
                            guard (0xDC00...0xDFFF).contains(second) else {
                                i = escapeStart
                                throw error("invalid \\u escape: high surrogate not followed by a low surrogate")
                            }
                            scalarValue = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(first) {
                            i = escapeStart
                            throw error("invalid \\u escape: lone low surrogate")
                        }
                        guard let scalar = Unicode.Scalar(scalarValue) else {
                            i = escapeStart
                            throw error("invalid \\u escape")
                        }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default:
                        i -= 1
                        throw error("invalid escape sequence in string")
                    }
                default:
                    if c < 0x20 {
                        throw error(String(format: "unescaped control character U+%04X in string", c))
                    }
                    if c < 0x80 {
                        out.append(c)
                        i += 1
                    } else {
                        guard let n = validUTF8SequenceLength(at: i) else {
                            throw error(String(format: "invalid UTF-8 byte 0x%02X", c))
                        }
                        out.append(contentsOf: bytes[i..<(i + n)])
                        i += n
                    }
                }
            }
        }

        mutating func parseHex4() throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard i < bytes.count, let h = hexValue(bytes[i]) else {
                    throw error("invalid \\u escape: expected 4 hexadecimal digits")
                }
                v = v << 4 | h
                i += 1
            }
            return v
        }

        // MARK: Helpers

        mutating func skipWhitespace() {
            while i < bytes.count {
                switch bytes[i] {
                case 0x20, 0x09, 0x0A, 0x0D: i += 1
                default: return
                }
            }
        }

        func peek(_ b: UInt8) -> Bool { i < bytes.count && bytes[i] == b }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        func isIdentifierByte(_ b: UInt8) -> Bool {
            isDigit(b) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
        }
        func hexValue(_ b: UInt8) -> UInt32? {
            switch b {
            case 0x30...0x39: return UInt32(b - 0x30)
            case 0x41...0x46: return UInt32(b - 0x41 + 10)
            case 0x61...0x66: return UInt32(b - 0x61 + 10)
            default: return nil
            }
        }

        /// Length of the well-formed UTF-8 sequence starting at `at` (RFC 3629, Table 3-7), or nil.
        func validUTF8SequenceLength(at p: Int) -> Int? {
            func cont(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
                p + k < bytes.count && range.contains(bytes[p + k])
            }
            let b0 = bytes[p]
            switch b0 {
            case 0xC2...0xDF: return cont(1) ? 2 : nil
            case 0xE0: return cont(1, 0xA0...0xBF) && cont(2) ? 3 : nil
            case 0xE1...0xEC, 0xEE...0xEF: return cont(1) && cont(2) ? 3 : nil
            case 0xED: return cont(1, 0x80...0x9F) && cont(2) ? 3 : nil
            case 0xF0: return cont(1, 0x90...0xBF) && cont(2) && cont(3) ? 4 : nil
            case 0xF1...0xF3: return cont(1) && cont(2) && cont(3) ? 4 : nil
            case 0xF4: return cont(1, 0x80...0x8F) && cont(2) && cont(3) ? 4 : nil
            default: return nil
            }
        }

        /// What is at the current position, for messages: `'x'`, `U+00E9 'é'`, `byte 0xFF`, `end of input`.
        func foundHere() -> String {
            guard i < bytes.count else { return "end of input" }
            let b = bytes[i]
            if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
            if b < 0x80 { return String(format: "U+%04X", b) }
            if let n = validUTF8SequenceLength(at: i) {
                let s = String(decoding: bytes[i..<(i + n)], as: UTF8.self)
                if let scalar = s.unicodeScalars.first {
                    return String(format: "U+%04X", scalar.value) + " " + StrictJSON.quoted(s)
                }
            }
            return String(format: "byte 0x%02X", b)
        }

        func error(_ message: String) -> StrictJSONSyntaxError {
            let p = min(i, bytes.count)
            var line = 1
            var lineStart = 0
            for k in 0..<p where bytes[k] == 0x0A {
                line += 1
                lineStart = k + 1
            }
            var column = 1
            for k in lineStart..<p where bytes[k] & 0xC0 != 0x80 { column += 1 }
            return StrictJSONSyntaxError(offset: p, line: line, column: column, message: message)
        }
    }
}
