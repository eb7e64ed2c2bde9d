import Foundation
import XCTest

/// scripts/fuzz itself: it must count a crash and a hang when they happen (a fuzzer that cannot fail proves nothing),
/// and a short seeded run on the real build must find none.
final class FuzzTests: DreamlabProcessTestCase {
    func fuzz(_ args: [String], env: [String: String] = [:]) throws -> Run {
        try dreamlab(args, env: env, executable: Self.root + "/scripts/fuzz")
    }

    func testTheFuzzerCountsACrashAndAHang() throws {
        let r = try fuzz(["--cases", "40"], env: ["DREAMLAB_FUZZ_SELFTEST": "crash:7,hang:23", "DREAMLAB_FUZZ_TIMEOUT": "8"])
        XCTAssertEqual(r.status, 1, r.out + r.err)
        XCTAssertTrue(r.out.contains("case 7 lua CRASH"), r.out)
        XCTAssertTrue(r.out.contains("case 23 model HANG"), r.out)
        XCTAssertTrue(r.out.contains("replay: scripts/fuzz --seed 1 --case 23"), r.out)
        // The cases after the crash and the hang still ran: 40 verdicts in all.
        XCTAssertTrue(r.out.contains("40 cases in"), r.out)
        if let kept = r.out.range(of: "work folder kept: ") {
            try? FileManager.default.removeItem(atPath: String(r.out[kept.upperBound...].prefix { $0 != "\n" }))
        }
    }

    func testASeededRunFindsNothing() throws {
        let r = try fuzz(["--cases", "300", "--seed", "11"])
        XCTAssertEqual(r.status, 0, r.out + r.err)
        XCTAssertTrue(r.out.contains("0 crashes, 0 hangs, 0 wrongly accepted"), r.out)
        print(r.out)
    }
}
