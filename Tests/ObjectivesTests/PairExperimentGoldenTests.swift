import Foundation
import XCTest
@testable import Engine
@testable import Objectives

/// Issue 13's references from transformers (golden.json "pair13", scripts/golden.py): dream_mlm's probability objective
/// and its gradient on the random MLM model, PAIR's MSE reconstruction loss and its gradient on the default model, and
/// the input-embedding neighbours of a word.
final class PairExperimentGoldenTests: XCTestCase {
    var golden: [String: Any] { get throws { try XCTUnwrap(TestPaths.golden["pair13"] as? [String: Any], "golden.json lacks pair13; rerun scripts/golden.py") } }

    /// Compares gradient rows (norm, top-5 ids) and prints the worst relative norm error with a label.
    func checkRows(_ dz: [Float], _ rows: [[String: Any]], V: Int, label: String) {
        var worst = 0.0
        for (i, row) in rows.enumerated() {
            let r = Array(dz[(i * V)..<((i + 1) * V)])
            let norm = sqrt(r.reduce(0.0) { $0 + Double($1) * Double($1) })
            worst = max(worst, abs(norm - (row["norm"] as! Double)) / (row["norm"] as! Double))
            XCTAssertEqual(Array(r.indices.sorted { r[$0] > r[$1] }.prefix(5)), row["top5"] as! [Int], "\(label): top-5 at position \(row["position"]!)")
        }
        print(String(format: "%@: gradient norm max rel err %.1e", label, worst))
        XCTAssertLessThan(worst, 1e-4, label)
    }

    func testReconstructionLossAndGradientMatchTransformers() throws {
        let g = try golden["reconstruct"] as! [String: Any]
        let m = try defaultModel()
        let site = Site(.residPost, layer: g["layer"] as! Int)
        let target = try m.run(ids: m.tokenizer.encode(g["target_sentence"] as! String).ids).site(site)
        let e = m.tokenizer.encode(g["sentence"] as! String)
        let input = try RelaxedInput(model: m, ids: e.ids, typeIds: e.typeIds, first: g["first"] as! Int, last: g["last"] as! Int)
        let (values, dz, _, _) = try input.valueAndGradient(input.oneHotLogits(), temperature: Float(g["temperature"] as! Double), mode: .softmax,
                                                         noise: nil, objective: GraphBuiltins.reconstruct(site: site, target: target))
        let want = g["loss"] as! Double
        print(String(format: "reconstruct golden: loss %.7f vs transformers %.7f (|diff| %.1e)", Double(-values[0]), want, abs(Double(-values[0]) - want)))
        XCTAssertEqual(Double(-values[0]), want, accuracy: 1e-5)
        checkRows(dz, g["rows"] as! [[String: Any]], V: m.config.vocabSize, label: "reconstruct golden")
    }

    func testDreamMLMProbabilityAndGradientMatchTransformers() throws {
        let g = try golden["dream_mlm"] as! [String: Any]
        let cfg = g["config"] as! [String: Int]
        let real = try defaultModel()
        let c = BertConfig(hiddenSize: cfg["hidden"]!, numLayers: cfg["layers"]!, numHeads: cfg["heads"]!, intermediateSize: cfg["intermediate"]!,
                           vocabSize: real.config.vocabSize, maxPositions: cfg["max_positions"]!)
        let mlm = try RandomBert.model(c, seed: UInt64(cfg["seed"]!), withMLM: true, tokenizer: real.tokenizer)
        let ids = g["ids"] as! [Int], positions = g["positions"] as! [Int]
        let input = try RelaxedInput(model: mlm, ids: ids, typeIds: [Int](repeating: 0, count: ids.count), positions: positions)
        let obj = GraphBuiltins.mlm(pos: g["word"] as! Int, token: g["token"] as! Int, label: "t", numLayers: c.numLayers, measure: .probability)
        let (values, dz, _, _) = try input.valueAndGradient(input.oneHotLogits(), temperature: Float(g["temperature"] as! Double), mode: .softmax,
                                                         noise: nil, objective: obj)
        let want = g["probability"] as! Double
        print(String(format: "dream_mlm golden: probability %.9e vs transformers %.9e (rel %.1e)", Double(values[0]), want, abs(Double(values[0]) - want) / want))
        XCTAssertEqual(Double(values[0]), want, accuracy: want * 1e-4)
        checkRows(dz, g["rows"] as! [[String: Any]], V: c.vocabSize, label: "dream_mlm golden (spans around a masked word)")
    }

    func testEmbeddingNeighboursMatchTorch() throws {
        let g = try golden["neighbours"] as! [String: Any]
        let m = try defaultModel()
        let id = try XCTUnwrap(m.tokenizer.id(of: g["token"] as! String))
        for (metric, key) in [(EmbeddingMetric.euclidean, "euclidean"), (.cosine, "cosine")] {
            let want = g[key] as! [String: Any]
            let got = try embeddingNeighbours(model: m, of: id, k: 10, metric: metric)
            XCTAssertEqual(got.map(\.id), want["ids"] as! [Int], key)
            // torch.pairwise_distance adds eps=1e-6 to the difference; the query itself is at 1e-6*sqrt(H), not 0.
            let diff = zip(got.map { Double($0.value) }, want["values"] as! [Double]).map { abs($0 - $1) }.max() ?? 0
            print(String(format: "neighbours golden (%@): same 10 ids, max |value diff| %.1e", key, diff))
            XCTAssertLessThan(diff, 1e-4, key)
        }
    }
}
