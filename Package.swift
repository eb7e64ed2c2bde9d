// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Dreamlab",
    products: [
        .executable(name: "dreamlab", targets: ["Lab"]),
    ],
    targets: [
        .systemLibrary(name: "CLua", path: "Sources/CLua", pkgConfig: "lua5.4",
                       providers: [.apt(["liblua5.4-dev"])]),
        // No pkgConfig: readline.pc adds -D flags SwiftPM rejects (a warning on every build); the headers sit in /usr/include.
        .systemLibrary(name: "CReadline", path: "Sources/CReadline",
                       providers: [.apt(["libreadline-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // libmvec vectorises exp/erf; -fno-math-errno lets the compiler call it.
        .target(name: "CKernels", path: "Sources/CKernels",
                cSettings: [.unsafeFlags(["-O3", "-fno-math-errno", "-fveclib=libmvec"])],
                linkerSettings: [.linkedLibrary("mvec")]),
        .target(name: "Engine", dependencies: ["CBLAS", "CKernels"],
                // Bounds and overflow checks stay on in debug and test builds, where they catch bugs.
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "Objectives", dependencies: ["Engine"]),
        // Lua, HTML and JS live in their own files, embedded into the binary at build time.
        .executableTarget(name: "Lab", dependencies: ["Engine", "Objectives", "CLua", "CReadline"],
                          resources: [.embedInCode("Resources/help.lua"), .embedInCode("Resources/completion.lua"),
                                      .embedInCode("Resources/sandbox.lua"), .embedInCode("Resources/plugin_child.lua"),
                                      .embedInCode("Resources/report.html"),
                                      .embedInCode("Resources/report.js")]),
        .target(name: "TestSupport", dependencies: ["Engine"], path: "Tests/TestSupport"),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "TestSupport"]),
        .testTarget(name: "ObjectivesTests", dependencies: ["Objectives", "Engine", "TestSupport"]),
        .testTarget(name: "LabTests", dependencies: ["Lab", "Engine"]),
    ],
    swiftLanguageModes: [.v6]
)
