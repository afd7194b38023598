import CRedactCV

/// Transparent huge pages, turned off for a `redact` process (its `main`, before anything runs).
///
/// libx264 advises the kernel to back each of its buffers of 1.75 MB and more with huge pages,
/// and the kernel then fills those buffers' regions with whole 2 MiB pages: a 1080p job held
/// 137 MB in 21 such regions. With them off for the process, dev04 (1080p) peaks 6.5 MB lower
/// (582,508-582,916 -> 576,020-576,812 KiB, three runs each, alternating) in the same CPU time
/// (user s 43.7, 49.9, 50.5 against 43.3, 49.6, 44.7): docs/performance.md, "Memory". On
/// systems set to `always` every large buffer (OpenVINO's, the decoder's) is backed that way:
/// there dev04 peaked at 602,332-604,980 KiB with them and 576,100-576,284 without, user time
/// again within noise.
public enum TransparentHugePages {
    /// Turns them off for this process and the processes it starts. Returns 0, or the errno of a
    /// failure (a kernel before 3.15): the job then only holds more memory.
    @discardableResult
    public static func disable() -> Int32 { rcv_disable_transparent_huge_pages() }
}
