import Foundation
import XCTest

/// Runs the release `dreamlab` binary as a user would (scripts/test builds it first). No tests of its own.
class DreamlabProcessTestCase: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    var binary: String { Self.root + "/.build/release/dreamlab" }

    struct Run { let status: Int32; let out: String; let err: String }

    /// Runs dreamlab to the end. `interruptAfter`: send SIGINT once stdout contains that text.
    /// `executable` runs another program the same way (scripts/fuzz).
    func dreamlab(_ args: [String], env: [String: String] = [:], cwd: String? = nil, interruptWhen marker: String? = nil,
                  executable: String? = nil) throws -> Run {
        let program = executable ?? binary
        guard FileManager.default.isExecutableFile(atPath: program) else {
            XCTFail("\(program) is missing; run scripts/test, which builds it")
            throw CocoaError(.fileNoSuchFile)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? Self.root)
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        let o = Pipe(), er = Pipe()
        p.standardOutput = o; p.standardError = er
        try p.run()
        var outData = Data()
        if let marker {
            // Read stdout until the marker shows, then interrupt, as Ctrl-C would.
            while !String(decoding: outData, as: UTF8.self).contains(marker) {
                let chunk = o.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                outData += chunk
            }
            kill(p.processIdentifier, SIGINT)
        }
        outData += o.fileHandleForReading.readDataToEndOfFile()
        let errData = er.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, out: String(decoding: outData, as: UTF8.self), err: String(decoding: errData, as: UTF8.self))
    }

    func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "dreamlab-cli-\(getpid())-\(name)"
        try? FileManager.default.removeItem(atPath: d)
        return d
    }

    func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any], path)
    }

    /// Renders a report in headless Chromium; fails on any JS error (the page records it in data-status).
    func renderInChromium(_ html: String, png: String) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            XCTFail("chromium is missing; scripts/test installs it (apt-get install chromium)")
            return
        }
        func chromium(_ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
            p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + NSTemporaryDirectory() + "dl-chromium-\(getpid())"] + args
            let o = Pipe()
            p.standardOutput = o; p.standardError = FileHandle.nullDevice
            try p.run()
            let d = o.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: d, as: UTF8.self)
        }
        let dom = try chromium(["--dump-dom", "file://" + html])
        XCTAssertTrue(dom.contains("data-status=\"rendered\""), "the report's script did not finish: \(dom.prefix(300)) ... \(dom.range(of: "data-status").map { String(dom[$0.lowerBound...].prefix(200)) } ?? "")")
        _ = try chromium(["--window-size=1100,2400", "--screenshot=" + png, "file://" + html])
        let size = (try FileManager.default.attributesOfItem(atPath: png)[.size] as? NSNumber)?.intValue ?? 0
        XCTAssertGreaterThan(size, 10_000, "the screenshot should show a rendered page")
    }
}
