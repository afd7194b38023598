/// The version of redact, recorded in every receipt as `predicate.tool.version`.
public let redactVersion = "0.1.0"
