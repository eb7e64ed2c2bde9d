import Foundation
import XCTest
@testable import Engine
@testable import Objectives

/// Objectives cross from a plugin's process to the host as data (ObjectiveRecipe). Each kind, sums, products and
/// traced graphs come back with the same value and the same input gradient; a hostile recipe is refused by name.
final class RecipeTests: XCTestCase {
    static let model = try! RandomBert.model(tinyConfig, seed: 7, withMLM: true)
    let ids = [2, 20, 21, 22, 23, 3]

    func roundTrip(_ o: ActivationObjective) throws -> ActivationObjective {
        let data = try JSONEncoder().encode(try ObjectiveRecipe(o))
        return try JSONDecoder().decode(ObjectiveRecipe.self, from: data).objective(for: Self.model)
    }

    func valueAndGradient(_ o: ActivationObjective) throws -> ([Float], [Float]) {
        let m = Self.model
        let input = try RelaxedInput(model: m, ids: ids, typeIds: [Int](repeating: 0, count: ids.count), first: 1, last: 3, restarts: 2)
        try o.validate(model: m, T: ids.count)
        var z = input.oneHotLogits()
        var rng = SplitMix64(seed: 5)
        for i in 0..<z.count { z[i] += Float(rng.nextDouble()) * 0.5 }
        let r = try input.valueAndGradient(z, temperature: 0.9, mode: .softmax, noise: nil, objective: o)
        return (r.values, r.1)
    }

    func testEveryObjectiveCrossesAsDataUnchanged() throws {
        let m = Self.model, H = tinyConfig.hiddenSize
        let args: [String: [String: Any]] = [
            "neuron": ["layer": 1, "word": 2, "unit": 3], "layer": ["layer": 0],
            "site": ["site": "blocks.1.mlp.hook_post", "pos": 1, "unit": 23], "attention": ["layer": 1, "head": 1, "from": 1, "to": 2],
            "head": ["layer": 0, "head": 1, "word": 1], "entropy": ["layer": 1, "head": 0, "query": 1],
            "direction": ["site": "embed", "pos": 1, "vector": (0..<H).map { Float($0) / Float(H) - 0.5 }],
            "mlm": ["word": 1, "token": 5], "reconstruct": ["site": "blocks.0.hook_resid_post", "target": [Float](repeating: 0.1, count: H), "pos": 2],
            "diversity": [:],
        ]
        var objectives: [(String, ActivationObjective)] = try objectiveKinds.map { kind in
            (kind.name, try kind.make(DictionaryArguments(function: kind.name, values: args[kind.name]!), m))
        }
        let a = objectives[0].1, b = objectives[2].1, c = objectives[4].1
        objectives.append(("sum", LinearCombination([(0.5, a), (-2, b)], constant: 1.5)))
        objectives.append(("product", ProductObjective(LinearCombination([(1, a)], constant: 3), c, divide: true)))
        objectives.append(("per-sequence", PerSequenceObjective([a, c])))
        let h = GraphNode(.site(Site(.residPost, layer: 1)))
        let graph = GraphNode(.div, [GraphNode(.index(300 % H), [GraphNode(.index(2), [h])]), GraphNode(.norm, [GraphNode(.slice(1, 3), [h])])])
        objectives.append(("graph", GraphObjective(graph, name: "custom")))
        for (name, o) in objectives {
            let back = try roundTrip(o)
            XCTAssertEqual(back.description, o.description, name)
            let (v0, g0) = try valueAndGradient(o), (v1, g1) = try valueAndGradient(back)
            XCTAssertEqual(v0, v1, "\(name): values")
            XCTAssertEqual(g0, g1, "\(name): gradients")
            print("recipe round trip \(name): value \(v0[0]) equal, gradient of \(g0.count) numbers equal")
        }
    }

    func testHostileRecipesAreRefused() throws {
        let m = Self.model
        func decode(_ json: String) throws -> ActivationObjective {
            try JSONDecoder().decode(ObjectiveRecipe.self, from: Data(json.utf8)).objective(for: m)
        }
        func node(_ op: String, _ inputs: [Int], _ extra: String = "") -> String { "{\"op\":\"\(op)\",\"inputs\":\(inputs)\(extra),\"origin\":\"\"}" }
        func graph(_ nodes: [String]) -> String { "{\"graph\":{\"nodes\":[\(nodes.joined(separator: ","))],\"name\":\"g\"}}" }
        let site = node("site", [], ",\"site\":\"embed\"")
        assertThrows(try decode(graph([site, node("sum", [1])])), contains: ["node 1 (sum) needs 1 inputs among the nodes before it"])
        assertThrows(try decode(graph([site, node("launch", [0])])), contains: ["unknown op \"launch\""])
        assertThrows(try decode(graph([node("constant", [], ",\"data\":[1,2],\"shape\":[3]")])), contains: ["shape [3] holds 2 numbers"])
        assertThrows(try decode(graph([node("constant", [], ",\"data\":[1],\"shape\":[4611686018427387904,4]")])), contains: ["constant"])
        assertThrows(try decode(graph([node("site", [], ",\"site\":\"blocks.9.hook_resid_post\"")])), contains: ["layer 9"])
        assertThrows(try decode(graph([])), contains: ["needs 1...1000000 nodes"])
        var deep = "{\"pair\":{\"layer\":0,\"normalize\":false,\"numLayers\":2}}"
        for _ in 0..<70 { deep = "{\"product\":{\"_0\":\(deep),\"_1\":\(deep.count < 200 ? deep : "{\"pair\":{\"layer\":0,\"normalize\":false,\"numLayers\":2}}"),\"divide\":false}}" }
        assertThrows(try decode(deep), contains: ["nests deeper than 64"])
        // Indices out of range pass decoding and are refused by validate, before any evaluation.
        let far = try decode("{\"element\":{\"site\":\"embed\",\"index\":[99,0],\"label\":\"far\"}}")
        assertThrows(try far.validate(model: m, T: 6), contains: ["coordinate 99 on axis 0"])
        let wrongModel = try decode("{\"pair\":{\"layer\":1,\"unit\":3,\"word\":1,\"normalize\":true,\"numLayers\":12}}")
        assertThrows(try wrongModel.validate(model: m, T: 6), contains: ["normalises over 12 layers"])
    }
}
