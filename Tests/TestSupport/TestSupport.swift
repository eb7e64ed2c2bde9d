import Foundation
import XCTest
import Engine

/// Paths and the real default model, shared by the test targets.
public enum TestPaths {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    public static var defaultModel: String {
        ProcessInfo.processInfo.environment["LAB_MODEL_DEFAULT"] ?? root + "/models/all-MiniLM-L6-v2"
    }
    public static var golden: [String: Any] {
        let data = FileManager.default.contents(atPath: root + "/Tests/Golden/golden.json")!
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
    public static func tempDir(_ name: String) -> String {
        let d = NSTemporaryDirectory() + "dreamlab-tests-\(getpid())/" + name
        try? FileManager.default.removeItem(atPath: d)
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// The real default model, loaded once per test process. scripts/test fetches it; a missing model fails loudly.
nonisolated(unsafe) var sharedDefaultModel: BertModel? = nil
public func defaultModel() throws -> BertModel {
    if let m = sharedDefaultModel { return m }
    guard FileManager.default.fileExists(atPath: TestPaths.defaultModel + "/model.safetensors") else {
        XCTFail("default model missing at \(TestPaths.defaultModel); run scripts/test, which fetches it")
        throw DreamlabError.missingModel("default model missing")
    }
    let m = try BertModel(directory: TestPaths.defaultModel)
    sharedDefaultModel = m
    return m
}

public func assertThrows(_ expr: @autoclosure () throws -> Any, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expr()
        XCTFail("expected an error containing \(parts)", file: file, line: line)
    } catch {
        let msg = "\(error)"
        for p in parts { XCTAssertTrue(msg.contains(p), "error \"\(msg)\" should mention \"\(p)\"", file: file, line: line) }
    }
}

/// Central finite difference of f at x[i], in double.
public func fd(_ x: [Float], _ i: Int, eps: Float = 1e-3, _ f: ([Float]) -> Double) -> Double {
    var a = x, b = x
    a[i] += eps; b[i] -= eps
    return (f(a) - f(b)) / Double(2 * eps)
}

/// An analytic gradient against central differences at every `every`-th coordinate of x: the largest
/// |analytic − numeric| and the largest |numeric| (the scale a tolerance is relative to).
public func finiteDifferenceError(_ analytic: [Float], at x: [Float], every: Int, eps: Float, _ f: ([Float]) -> Double) -> (worst: Double, scale: Double) {
    var worst = 0.0, scale = 0.0
    for i in stride(from: 0, to: x.count, by: every) {
        let numeric = fd(x, i, eps: eps, f)
        worst = max(worst, abs(Double(analytic[i]) - numeric)); scale = max(scale, abs(numeric))
    }
    return (worst, scale)
}
