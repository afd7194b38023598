import Foundation

/// Settings given as command-line options (`redact detect --threshold 0.3`), checked by the
/// manifest's own rules for the same keys (`ManifestValidator.applySections`): one table of
/// ranges, so an option accepts exactly what its manifest key accepts (docs/manifest.md), and a
/// refusal is a usage error (exit 64) naming the option, e.g.
/// `--threshold: expected number greater than 0 and at most 1, found number 1.5`.
public struct SettingOptions {
    private struct Entry {
        var option: String
        var section: String
        var key: String
        var value: StrictJSONValue
    }

    private var entries: [Entry] = []

    public init() {}

    /// Records `--option VALUE` as `section.key`; nil (the option not given) records nothing.
    public mutating func set(_ option: String, _ section: String, _ key: String, _ value: Double?) {
        guard let value else { return }
        // Swift prints a Double as a JSON number literal ("0.5", "2.0", "1e-05"); infinities
        // and NaN print as "inf"/"nan", which the range check refuses.
        add(option, section, key, .number(StrictJSONNumber(literal: "\(value)")))
    }

    public mutating func set(_ option: String, _ section: String, _ key: String, _ value: Int?) {
        guard let value else { return }
        add(option, section, key, .number(StrictJSONNumber(literal: String(value))))
    }

    public mutating func set(_ option: String, _ section: String, _ key: String, _ value: String?) {
        guard let value else { return }
        add(option, section, key, .string(value))
    }

    public mutating func set(_ option: String, _ section: String, _ key: String, _ value: Bool?) {
        guard let value else { return }
        add(option, section, key, .bool(value))
    }

    private mutating func add(_ option: String, _ section: String, _ key: String, _ value: StrictJSONValue) {
        entries.append(Entry(option: option, section: section, key: key, value: value))
    }

    /// Applies the recorded options to `config`, in the order given; on error `config` is left
    /// unchanged.
    public func apply(to config: inout JobConfig) throws {
        var sections: [String: [StrictJSONMember]] = [:]
        var order: [String] = []
        for e in entries {
            if sections[e.section] == nil { order.append(e.section) }
            sections[e.section, default: []].append(StrictJSONMember(key: e.key, value: e.value))
        }
        let members = order.map { StrictJSONMember(key: $0, value: .object(sections[$0]!)) }
        var updated = config
        do {
            try ManifestValidator(path: "command line").applySections(members, at: "$", to: &updated)
        } catch RedactError.badJSON(_, let jsonPath, let detail) {
            let option = entries.first { "$.\($0.section).\($0.key)" == jsonPath }?.option ?? jsonPath
            throw RedactError.usage("\(option): \(detail)")
        }
        config = updated
    }
}
