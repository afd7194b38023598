import Foundation

/// The version of redact, recorded in every receipt as `predicate.tool.version`.
public let redactVersion = "0.1.0"

/// The SHA-256 (lowercase hex) of the running executable (`/proc/self/exe`), read once, when
/// first asked for: which build made a receipt (`tool.executable_sha256`) or a kept tracks file
/// (`executable_sha256`). The version names a release; two builds of one version can detect
/// differently. Nil where it cannot be read.
public let redactExecutableSHA256: String? = try? FileDigest.sha256(of: URL(fileURLWithPath: "/proc/self/exe"))
