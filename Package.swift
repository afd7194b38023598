// swift-tools-version:6.0
import Foundation
import PackageDescription

// Where Debian puts OpenCV 4.6's headers; only the C++ shim sees them.
let openCVInclude = "/usr/include/opencv4"

// OpenVINO's C API and CPU plugin, unpacked from its PyPI wheel by scripts/setup-openvino.sh
// (run by scripts/setup.sh, which every make target runs first). When it is there the shim is
// built with it and links it (RUNPATH: that folder, then ../lib/openvino beside the binary, for
// installs); without it the build still works and detector.engine "openvino" (the default) fails
// with a message saying how to get it.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
let openVINORoot = "\(packageRoot)/.cache/openvino"
let haveOpenVINO = FileManager.default.fileExists(atPath: "\(openVINORoot)/lib/libopenvino_c.so")
let openVINOCompile: [String] = haveOpenVINO ? ["-I\(openVINORoot)/include", "-DREDACT_HAVE_OPENVINO=1"] : []
let openVINOLink: [LinkerSetting] = haveOpenVINO
    ? [.unsafeFlags([
        "-L\(openVINORoot)/lib", "-lopenvino_c",
        // OpenVINO's own oneTBB (2021.13, what the wheel was built with), as a direct dependency so
        // the RUNPATH below finds it before OpenCV's dependency on Debian's older libtbb.so.12
        // (2021.8) is resolved: one soname, so the first found serves both. oneTBB runs binaries
        // built against an older TBB, not the reverse.
        "-Xlinker", "--push-state", "-Xlinker", "--no-as-needed", "-l:libtbb.so.12", "-Xlinker", "--pop-state",
        "-Xlinker", "-rpath", "-Xlinker", "\(openVINORoot)/lib",
        "-Xlinker", "-rpath", "-Xlinker", "$ORIGIN/../lib/openvino",
    ])]
    : []

let package = Package(
    name: "redact",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "redact", targets: ["redact"]),
        .library(name: "RedactKit", targets: ["RedactKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // 4.5.2 or later: the 3.x line has an open CVE.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        // FFmpeg 5.1 from Debian (libavformat-dev libavcodec-dev libswscale-dev libavutil-dev).
        .systemLibrary(
            name: "CFFmpeg",
            pkgConfig: "libavformat libavcodec libswscale libavutil",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]
        ),
        // OpenCV 4.6 behind a pure C header: prefixed names, opaque handles, no exception escapes.
        .target(
            name: "CRedactCV",
            cxxSettings: [.unsafeFlags(["-I\(openCVInclude)", "-O2"] + openVINOCompile)],
            linkerSettings: openVINOLink + [
                .linkedLibrary("opencv_core"),
                .linkedLibrary("opencv_imgproc"),
                .linkedLibrary("opencv_dnn"),
                .linkedLibrary("opencv_video"),
                .linkedLibrary("stdc++"),
            ]
        ),
        .target(
            name: "RedactKit",
            dependencies: [
                "CFFmpeg",
                "CRedactCV",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
        ),
        .executableTarget(
            name: "redact",
            dependencies: [
                "RedactKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "RedactKitTests",
            dependencies: ["RedactKit", "redact"]
        ),
    ],
    swiftLanguageModes: [.v5],
    cxxLanguageStandard: .cxx17
)
