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
