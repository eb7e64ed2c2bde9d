import Foundation
import XCTest
@testable import Engine

enum TestPaths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static var defaultModel: String {
        ProcessInfo.processInfo.environment["LAB_MODEL_DEFAULT"] ?? root + "/models/all-MiniLM-L6-v2"
    }
    static var golden: [String: Any] {
        let data = FileManager.default.contents(atPath: root + "/Tests/Golden/golden.json")!
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

nonisolated(unsafe) var sharedDefaultModel: BertModel? = nil
func defaultModel() throws -> BertModel {
    if let m = sharedDefaultModel { return m }
    guard FileManager.default.fileExists(atPath: TestPaths.defaultModel + "/model.safetensors") else {
        XCTFail("default model missing at \(TestPaths.defaultModel); run scripts/test, which fetches it")
        throw DreamlabError.missingModel("default model missing")
    }
    let m = try BertModel(directory: TestPaths.defaultModel)
    sharedDefaultModel = m
    return m
}

let tinyConfig = BertConfig(hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, vocabSize: 90, maxPositions: 32)
