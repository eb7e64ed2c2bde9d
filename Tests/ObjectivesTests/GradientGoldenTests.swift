import Foundation
import XCTest
@testable import Engine
@testable import Objectives

/// d/dz of PAIR's normalised neuron on the real default model, against PyTorch autograd (scripts/golden.py).
final class GradientGoldenTests: XCTestCase {
    func testPairNeuronGradientMatchesPyTorch() throws {
        let m = try defaultModel()
        for g in TestPaths.golden["gradients"] as! [[String: Any]] {
            let sentence = g["sentence"] as! String
            let first = g["first"] as! Int, last = g["last"] as! Int
            let temp = Float(g["temperature"] as! Double)
            let obj = PairActivation(layer: g["layer"] as! Int, word: g["word"] as? Int, unit: g["unit"] as? Int,
                                     normalize: true, numLayers: m.config.numLayers)
            let e = m.tokenizer.encode(sentence)
            let input = try RelaxedInput(model: m, ids: e.ids, typeIds: e.typeIds, first: first, last: last)
            let (values, dz, _, _) = try input.valueAndGradient(input.oneHotLogits(), temperature: temp, mode: .softmax,
                                                             noise: nil, objective: obj)
            XCTAssertEqual(Double(values[0]), g["value"] as! Double, accuracy: 1e-5, "\(sentence) value")
            let V = m.config.vocabSize
            for (i, row) in (g["rows"] as! [[String: Any]]).enumerated() {
                let r = Array(dz[(i * V)..<((i + 1) * V)])
                let norm = Double(r.reduce(0) { $0 + $1 * $1 }.squareRoot())
                let want = row["norm"] as! Double
                let rel = abs(norm - want) / want
                let top5 = r.indices.sorted { r[$0] > r[$1] }.prefix(5).map { $0 }
                print(String(format: "gradient golden %@ pos %d T=%.1f: |dz| %.6e vs torch %.6e (rel %.1e), top5 %@", sentence, row["position"] as! Int, Double(temp), norm, want, rel, top5 == (row["top5"] as! [Int]) ? "identical" : "DIFFERENT"))
                XCTAssertLessThan(rel, 1e-4, "\(sentence) position \(row["position"]!) gradient norm")
                XCTAssertEqual(top5, row["top5"] as! [Int], "\(sentence) position \(row["position"]!) top-5 token ids")
            }
        }
    }
}
