import Engine
import Objectives
import XCTest

/// Arguments from a dictionary: how a front end without Lua (a plugin process, a test) builds objectives.
struct DictionaryArguments: ObjectiveArguments {
    let function: String
    let values: [String: Any]
    func int(_ key: String) throws -> Int? { values[key] as? Int }
    func number(_ key: String) throws -> Double? { values[key] as? Double }
    func string(_ key: String) throws -> String? { values[key] as? String }
    func bool(_ key: String) throws -> Bool? { values[key] as? Bool }
    func constant(_ key: String) throws -> (data: [Float], shape: [Int])? { (values[key] as? [Float]).map { ($0, [$0.count]) } }
}

/// Every objective kind builds from plain arguments, and refuses a coordinate the model lacks when it is made,
/// not later at evaluation.
final class ObjectiveKindTests: XCTestCase {
    func testEveryKindBuildsAndChecksItsCoordinatesUpFront() throws {
        let m = try RandomBert.model(tinyConfig, seed: 3, withMLM: true)
        let H = tinyConfig.hiddenSize
        let good: [String: [String: Any]] = [
            "neuron": ["layer": 1, "word": 2, "unit": 3], "layer": ["layer": 0],
            "site": ["site": "blocks.1.mlp.hook_post", "pos": 1, "unit": 23], "attention": ["layer": 1, "head": 1, "from": 1, "to": 2],
            "head": ["layer": 0, "head": 1, "word": 1], "entropy": ["layer": 1, "head": 0, "query": 1],
            "direction": ["site": "embed", "pos": 1, "vector": [Float](repeating: 0.5, count: H)],
            "mlm": ["word": 1, "token": 5], "reconstruct": ["site": "embed", "target": [Float](repeating: 0, count: H), "pos": 1],
            "diversity": [:],
        ]
        let bad: [String: ([String: Any], String)] = [
            "neuron": (["layer": 1, "unit": H], "unit \(H) is outside 0...\(H - 1)"), "layer": (["layer": 2], "layer 2 is outside 0...1"),
            "site": (["site": "blocks.1.mlp.hook_post", "pos": 1, "unit": 24], "unit 24 is outside 0...23"),
            "attention": (["layer": 1, "head": 2, "from": 1, "to": 2], "head 2 is outside 0...1"),
            "head": (["layer": 0, "head": 2, "word": 1], "head 2 is outside 0...1"), "entropy": (["layer": 1, "head": 0], "missing query="),
            "direction": (["site": "embed", "pos": 1, "vector": [Float(1)]], "vector has 1 numbers"),
            "mlm": (["word": 1, "token": 90], "token id 90 is outside 0...89"), "reconstruct": (["site": "embed"], "missing target="),
            "diversity": (["site": "blocks.9.hook_resid_post"], "layer 9"),
        ]
        XCTAssertEqual(Set(objectiveKinds.map(\.name)), Set(good.keys), "every kind is covered here")
        for kind in objectiveKinds {
            let args = try XCTUnwrap(good[kind.name])
            XCTAssertEqual(Set(args.keys).subtracting(kind.arguments), [], "\(kind.name) declares every argument it reads")
            let o = try kind.make(DictionaryArguments(function: "lab.objectives." + kind.name, values: args), m)
            try o.validate(model: m, T: 5)
            let (b, part) = try XCTUnwrap(bad[kind.name])
            assertThrows(try kind.make(DictionaryArguments(function: "lab.objectives." + kind.name, values: b), m), contains: [part])
        }
    }
}
