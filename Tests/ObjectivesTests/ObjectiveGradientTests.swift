import Foundation
import XCTest
@testable import Engine
@testable import Objectives

/// Every built-in objective and every graph rule: value checked another way, gradient against finite differences
/// through the whole model on a tiny random BERT (with an MLM head), at a point off the one-hot corner.
final class ObjectiveGradientTests: XCTestCase {
    static let model = try! RandomBert.model(tinyConfig, seed: 7, withMLM: true)
    let ids = [2, 20, 21, 22, 23, 3]   // [CLS] ... [SEP]

    func site(_ k: SiteKind, _ l: Int) -> GraphNode { GraphNode(.site(Site(k, layer: l))) }
    func c(_ x: Float) -> GraphNode { GraphNode.scalar(x) }
    func n(_ op: GraphNode.Op, _ xs: GraphNode...) -> GraphNode { GraphNode(op, xs) }

    /// max |analytic - numeric| relative to the largest gradient, over a sample of z coordinates.
    func checkGradient(_ obj: ActivationObjective, restarts: Int = 1, label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let m = Self.model
        let input = try RelaxedInput(model: m, ids: ids, typeIds: [Int](repeating: 0, count: ids.count), first: 1, last: 3, restarts: restarts)
        try obj.validate(model: m, T: ids.count)
        var rng = SplitMix64(seed: 99)
        var z = input.oneHotLogits()
        for i in 0..<z.count { z[i] += Float(rng.nextDouble()) * 0.5 }
        let temp: Float = 0.9
        let (values, dz, _, _) = try input.valueAndGradient(z, temperature: temp, mode: .softmax, noise: nil, objective: obj)
        XCTAssertTrue(values.allSatisfy(\.isFinite), "\(label): value \(values)", file: file, line: line)
        func f(_ zz: [Float]) -> Double {
            Double(try! input.valueAndGradient(zz, temperature: temp, mode: .softmax, noise: nil, objective: obj).values.reduce(0, +))
        }
        let (worst, scale) = finiteDifferenceError(dz, at: z, every: 5, eps: 3e-2, f)
        XCTAssertGreaterThan(scale, 0, "\(label): gradient is zero everywhere", file: file, line: line)
        print(String(format: "gradient check %-40@ max |analytic - numeric| %.2e (largest %.2e)", label, worst, scale))
        XCTAssertLessThan(worst, 3e-3 * max(1, scale), label, file: file, line: line)
    }

    func testEveryGraphRule() throws {
        let h = site(.residPost, 1), row = n(.index(2), site(.residPost, 1))
        let cases: [(String, GraphNode)] = [
            ("index+sum", n(.sum, row)),
            ("slice+mean", n(.mean, n(.slice(1, 3), h))),
            ("pow(number)", n(.sum, n(.pow, row, c(2)))),
            ("pow(node)", n(.sum, n(.pow, n(.exp, n(.mul, row, c(0.1))), n(.sigmoid, row)))),
            ("add/sub/neg", n(.sum, n(.sub, n(.add, row, c(1)), n(.neg, n(.index(1), h))))),
            ("mul/div nodes", n(.div, n(.sum, n(.mul, row, n(.index(3), h))), n(.add, n(.norm, row), c(1)))),
            ("abs", n(.sum, n(.abs, row))),
            ("exp", n(.sum, n(.exp, n(.mul, row, c(0.3))))),
            ("log", n(.sum, n(.log, n(.add, n(.mul, row, row), c(1))))),
            ("sqrt", n(.sum, n(.sqrt, n(.add, n(.mul, row, row), c(0.5))))),
            ("relu", n(.sum, n(.relu, row))),
            ("sigmoid", n(.sum, n(.sigmoid, row))),
            ("tanh", n(.sum, n(.tanh, row))),
            ("softmax", n(.index(3), n(.softmax, row))),
            ("max", n(.max, row)),
            ("norm", n(.norm, row)),
            ("dot", n(.dot, row, GraphNode(.constant((0..<16).map { Float($0) / 16 - 0.5 }, [16])))),
            ("entropy", n(.entropy, n(.index(2), n(.index(1), site(.pattern, 1))))),
            ("scores+z+mlp sites", n(.add, n(.sum, n(.index(1), n(.index(0), site(.scores, 0)))),
                                     n(.add, n(.sum, n(.index(2), site(.z, 1))), n(.mean, n(.index(4), site(.mlpPost, 0)))))),
        ]
        for (label, root) in cases { try checkGradient(GraphObjective(root, name: label), label: label) }
    }

    func testEveryBuiltIn() throws {
        let L = tinyConfig.numLayers
        var rng = SplitMix64(seed: 5)
        let target = Tensor(shape: [6, 16], data: (0..<96).map { _ in Float(rng.nextDouble()) })
        let cases: [(String, ActivationObjective)] = [
            ("neuron normalized", PairActivation(layer: 1, word: 2, unit: 5, normalize: true, numLayers: L)),
            ("neuron raw", PairActivation(layer: 0, word: 2, unit: 5, normalize: false, numLayers: L)),
            ("layer at word", PairActivation(layer: 1, word: 3, unit: nil, normalize: true, numLayers: L)),
            ("layer over words", PairActivation(layer: 1, word: nil, unit: nil, normalize: true, numLayers: L)),
            ("neuron over words", PairActivation(layer: 1, word: nil, unit: 4, normalize: true, numLayers: L)),
            ("site element", SiteElement(site: Site(.mlpPost, layer: 0), index: [2, 7])),
            ("attention", SiteElement(site: Site(.pattern, layer: 1), index: [1, 2, 3])),
            ("head norm", HeadNorm(layer: 1, head: 1, word: 2)),
            ("entropy", GraphBuiltins.entropy(layer: 1, head: 0, query: 2)),
            ("direction", GraphBuiltins.direction(site: Site(.residMid, layer: 1), pos: 2, vector: (0..<16).map { Float($0 % 3) - 1 })),
            ("mlm", GraphBuiltins.mlm(pos: 2, token: 30, label: "t", numLayers: L)),
            ("mlm probability", GraphBuiltins.mlm(pos: 2, token: 30, label: "t", numLayers: L, measure: .probability)),
            ("mlm logit", GraphBuiltins.mlm(pos: 2, token: 30, label: "t", numLayers: L, measure: .logit)),
            ("reconstruct", GraphBuiltins.reconstruct(site: Site(.residPost, layer: 1), target: target)),
            ("reconstruct sse", GraphBuiltins.reconstruct(site: Site(.residPost, layer: 1), target: target, loss: .sse)),
            ("linear combination", LinearCombination([(0.5, PairActivation(layer: 1, word: 2, unit: 5, normalize: true, numLayers: L)),
                                                      (-1, SiteElement(site: Site(.residPost, layer: 0), index: [2, 3]))], constant: 2)),
            ("product", ProductObjective(HeadNorm(layer: 0, head: 0, word: 1), SiteElement(site: Site(.attnOut, layer: 1), index: [2, 2]), divide: false)),
            ("quotient", ProductObjective(SiteElement(site: Site(.mlpPre, layer: 1), index: [2, 2]), HeadNorm(layer: 1, head: 1, word: 2), divide: true)),
        ]
        for (label, obj) in cases { try checkGradient(obj, label: label) }
        try checkGradient(DiversityObjective(site: Site(.embed)), restarts: 3, label: "diversity (3 restarts)")
        try checkGradient(PairActivation(layer: 1, word: 2, unit: 5, normalize: true, numLayers: L), restarts: 2, label: "neuron, 2 restarts")
    }

    /// An objective that reads a few rows at its deepest layer has that layer run and undone at those rows only
    /// (layerForwardRows, layerBackwardRows): values and input gradients equal the full pass's, for each site kind
    /// at the deepest layer, on a padded batch of two sequences. A wrong row (an index past what rowsRead declares)
    /// would trip the backward's assertion in this debug build.
    func testRowsOnlyDeepestLayerEqualsTheFullPass() throws {
        let m = Self.model, L = tinyConfig.numLayers, top = L - 1
        let batch = InputBatch(ids: [ids, [2, 40, 41, 3]], padId: 0)
        var rng = SplitMix64(seed: 31)
        let words = FloatBuffer((0..<(batch.B * batch.T * tinyConfig.hiddenSize)).map { _ in Float(rng.nextDouble() * 2 - 1) })
        let cases: [(String, ActivationObjective)] = [
            ("neuron normalized", PairActivation(layer: top, word: 2, unit: 5, normalize: true, numLayers: L)),
            ("layer at word", PairActivation(layer: top, word: 1, unit: nil, normalize: true, numLayers: L)),
            ("mlp_post", SiteElement(site: Site(.mlpPost, layer: top), index: [2, 7])),
            ("mlp_pre", SiteElement(site: Site(.mlpPre, layer: top), index: [1, 3])),
            ("mlp_out", SiteElement(site: Site(.mlpOut, layer: top), index: [2, 4])),
            ("resid_mid", SiteElement(site: Site(.residMid, layer: top), index: [3, 1])),
            ("attn_out", SiteElement(site: Site(.attnOut, layer: top), index: [2, 2])),
            ("pattern", SiteElement(site: Site(.pattern, layer: top), index: [1, 2, 3])),
            ("scores", SiteElement(site: Site(.scores, layer: top), index: [0, 3, 1])),
            ("head norm", HeadNorm(layer: top, head: 1, word: 2)),
            ("two rows", LinearCombination([(0.5, PairActivation(layer: top, word: 2, unit: 5, normalize: true, numLayers: L)),
                                            (-1, SiteElement(site: Site(.attnOut, layer: top), index: [3, 3])),
                                            (2, SiteElement(site: Site(.residPost, layer: 0), index: [1, 3]))])),
        ]
        for (label, obj) in cases {
            let rows = try XCTUnwrap(obj.rowsAtDeepestLayer(T: batch.T), label)
            func pass(_ limit: [Int]?) throws -> (values: [Float], dWord: [Float]) {
                let acts = try m.forward(batch, upTo: obj.deepestLayer, wordRows: words, lastLayerRows: limit)
                XCTAssertEqual(acts.deepestRows, limit, label)
                let grads = SiteGradients(B: batch.B, T: batch.T, config: m.config)
                let values = try obj.evaluate(acts, grads: grads)
                return (values, m.backward(acts, grads).array)
            }
            let full = try pass(nil), part = try pass(rows)
            let dv = Tensor.maxAbsDiff(full.values, part.values), dg = Tensor.maxAbsDiff(full.dWord, part.dWord)
            let scale = full.dWord.map(abs).max() ?? 0
            print(String(format: "rows-only deepest layer %-18@ rows %@: max |diff| value %.1e, input gradient %.1e (largest %.1e)",
                         label, rows.description, dv, dg, scale))
            XCTAssertGreaterThan(scale, 0, label)
            XCTAssertLessThan(dv, 1e-5, label)
            XCTAssertLessThan(dg, 1e-5 * max(1, scale), label)
        }
    }

    func testValuesComputedAnotherWay() throws {
        let m = Self.model
        let acts = try m.run(ids: ids)
        let h1 = try acts.site(Site(.residPost, layer: 1)), h0 = try acts.site(Site(.residPost, layer: 0))
        // PAIR's normalised neuron by hand.
        var sq: Float = 0
        for u in 0..<16 { sq += h0.data[2 * 16 + u] * h0.data[2 * 16 + u] + h1.data[2 * 16 + u] * h1.data[2 * 16 + u] }
        let pair = try PairActivation(layer: 1, word: 2, unit: 5, normalize: true, numLayers: 2).evaluate(acts, grads: nil)[0]
        XCTAssertEqual(pair, h1.data[2 * 16 + 5] / sq.squareRoot(), accuracy: 1e-6)
        // Entropy by hand.
        let p = try acts.site(Site(.pattern, layer: 1))
        let T = ids.count
        var ent: Float = 0
        for k in 0..<T { let v = p.data[(0 * T + 2) * T + k]; if v > 0 { ent -= v * logf(v) } }
        XCTAssertEqual(try GraphBuiltins.entropy(layer: 1, head: 0, query: 2).evaluate(acts, grads: nil)[0], ent, accuracy: 1e-6)
        // MLM log-probability by hand.
        let logits = try acts.site(Site(.mlmLogits, layer: 2))
        let r = Array(logits.data[(2 * 90)..<(3 * 90)])
        let mx = r.max()!
        let lse = mx + logf(r.reduce(0) { $0 + expf($1 - mx) })
        XCTAssertEqual(try GraphBuiltins.mlm(pos: 2, token: 30, label: "t", numLayers: 2).evaluate(acts, grads: nil)[0], r[30] - lse, accuracy: 1e-5)
        XCTAssertEqual(try GraphBuiltins.mlm(pos: 2, token: 30, label: "t", numLayers: 2, measure: .probability).evaluate(acts, grads: nil)[0], expf(r[30] - lse), accuracy: 1e-6)
        XCTAssertEqual(try GraphBuiltins.mlm(pos: 2, token: 30, label: "t", numLayers: 2, measure: .logit).evaluate(acts, grads: nil)[0], r[30], accuracy: 1e-6)
        // PAIR's reconstruction loss is F.mse_loss, the mean over elements; sse is the sum.
        let shifted = Tensor(shape: h1.shape, data: h1.data.enumerated().map { $0.element + Float($0.offset % 5) * 0.1 })
        let sse = zip(h1.data, shifted.data).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        XCTAssertEqual(try GraphBuiltins.reconstruct(site: Site(.residPost, layer: 1), target: shifted).evaluate(acts, grads: nil)[0], -sse / Float(h1.count), accuracy: 1e-6)
        XCTAssertEqual(try GraphBuiltins.reconstruct(site: Site(.residPost, layer: 1), target: shifted, loss: .sse).evaluate(acts, grads: nil)[0], -sse, accuracy: 1e-5)
        // Head norm by hand.
        let z = try acts.site(Site(.z, layer: 1))
        let hs = 8
        var hsq: Float = 0
        for d in 0..<hs { let v = z.data[2 * 16 + 8 + d]; hsq += v * v }
        let hn = hsq.squareRoot()
        XCTAssertEqual(try HeadNorm(layer: 1, head: 1, word: 2).evaluate(acts, grads: nil)[0], hn, accuracy: 1e-6)
        // Reconstructing the activation itself scores 0.
        XCTAssertEqual(try GraphBuiltins.reconstruct(site: Site(.residPost, layer: 1), target: h1).evaluate(acts, grads: nil)[0], 0, accuracy: 1e-9)
    }

    func testDescriptions() {
        let a = PairActivation(layer: 5, word: 2, unit: 414, normalize: true, numLayers: 6)
        let b = PairActivation(layer: 5, word: 2, unit: 100, normalize: true, numLayers: 6)
        XCTAssertEqual(LinearCombination([(0.5, a), (-1, b)]).description, "0.5*neuron(L5,w2,u414) - neuron(L5,w2,u100)")
        XCTAssertEqual(LinearCombination([(1, LinearCombination([(2, a)])), (1, b)], constant: -1).description, "2*neuron(L5,w2,u414) + neuron(L5,w2,u100) - 1")
    }

    func testShapeErrorsNameTheLine() throws {
        let bad = GraphObjective(GraphNode(.index(999), [GraphNode(.index(2), [GraphNode(.site(Site(.residPost, layer: 1)))])], origin: "probe.lua:7:"), name: "bad")
        XCTAssertThrowsError(try bad.validate(model: Self.model, T: 6)) { e in
            XCTAssertTrue("\(e)".contains("probe.lua:7:") && "\(e)".contains("0...15"), "\(e)")
        }
        let mismatch = GraphObjective(GraphNode(.sum, [GraphNode(.add, [GraphNode(.site(Site(.residPost, layer: 1))), GraphNode(.site(Site(.mlpPost, layer: 1)), origin: "x.lua:3:")], origin: "x.lua:3:")]), name: "m")
        XCTAssertThrowsError(try mismatch.validate(model: Self.model, T: 6)) { e in XCTAssertTrue("\(e)".contains("x.lua:3:") && "\(e)".contains("[6, 16]"), "\(e)") }
    }
}

/// A custom objective written to equal PAIR's normalised neuron, against the built-in, on the real default model.
final class CustomEqualsBuiltinTests: XCTestCase {
    func testCustomNormalisedNeuronEqualsBuiltin() throws {
        let m = try defaultModel()
        let L = m.config.numLayers
        var s: GraphNode = GraphNode.scalar(0)
        for l in 0..<L {
            let row = GraphNode(.index(2), [GraphNode(.site(Site(.residPost, layer: l)))])
            s = GraphNode(.add, [s, GraphNode(.sum, [GraphNode(.pow, [row, GraphNode.scalar(2)])])])
        }
        let h = GraphNode(.index(300), [GraphNode(.index(2), [GraphNode(.site(Site(.residPost, layer: 5)))])])
        let custom = GraphObjective(GraphNode(.div, [h, GraphNode(.sqrt, [s])]), name: "my neuron")
        let builtin = PairActivation(layer: 5, word: 2, unit: 300, normalize: true, numLayers: L)
        let e = m.tokenizer.encode("i hate kickshaws")
        let input = try RelaxedInput(model: m, ids: e.ids, typeIds: e.typeIds, first: 1, last: 3)
        let a = try input.valueAndGradient(input.oneHotLogits(), temperature: 1.3, mode: .softmax, noise: nil, objective: custom)
        let b = try input.valueAndGradient(input.oneHotLogits(), temperature: 1.3, mode: .softmax, noise: nil, objective: builtin)
        let scale = b.dz.map(abs).max()!
        let diff = Tensor.maxAbsDiff(a.dz, b.dz)
        print("custom vs built-in neuron: values \(a.values[0]) vs \(b.values[0]); max |dz diff| \(diff) (largest \(scale))")
        XCTAssertEqual(a.values[0], b.values[0], accuracy: 1e-6)
        XCTAssertLessThan(diff, 1e-4 * scale)
    }
}
