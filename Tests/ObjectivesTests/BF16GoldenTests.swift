import Foundation
import XCTest
@testable import Engine
@testable import Objectives

/// The opt-in bf16 mode against the fp32 goldens from transformers (golden.json): how far it is from the exact model,
/// printed with labels, and bounded. fp32 stays the default and keeps its own goldens (GoldenTests, GradientGoldenTests).
final class BF16GoldenTests: XCTestCase {
    func bf16Model() throws -> BertModel { try defaultModel().converted(to: .bf16) }

    func testSitesAgainstTheFP32Goldens() throws {
        let m = try bf16Model()
        for entry in TestPaths.golden["sites"] as! [[String: Any]] {
            let text = entry["text"] as! String
            let acts = try m.run(text)
            var worst: [String: (diff: Double, scale: Double)] = [:]
            for (name, spec) in entry["sites"] as! [String: [String: Any]] {
                let site = try Site.parse(name, config: m.config, hasMLM: false)
                let t = try acts.site(site)
                let kind = site.kind.rawValue
                var w = worst[kind] ?? (0, 0)
                for s in spec["samples"] as! [[Double]] {
                    w.diff = max(w.diff, abs(Double(t.data[Int(s[0])]) - s[1]))
                    w.scale = max(w.scale, abs(s[1]))
                }
                worst[kind] = w
            }
            for (k, w) in worst.sorted(by: { $0.key < $1.key }) {
                print(String(format: "bf16 vs fp32 golden %-18@ max |diff| %.2e, %.1e of the site's largest |value| (%@)", k, w.diff, w.diff / max(w.scale, 1e-12), text))
                // Attention probabilities are bounded by 1; every other site is compared with its own scale.
                XCTAssertLessThan(w.diff / max(w.scale, 1e-12), 0.05, "\(text) \(k)")
            }
        }
    }

    func testGradientsAgainstTheFP32Goldens() throws {
        let m = try bf16Model()
        let V = m.config.vocabSize
        for g in TestPaths.golden["gradients"] as! [[String: Any]] {
            let sentence = g["sentence"] as! String
            let obj = PairActivation(layer: g["layer"] as! Int, word: g["word"] as? Int, unit: g["unit"] as? Int,
                                     normalize: true, numLayers: m.config.numLayers)
            let e = m.tokenizer.encode(sentence)
            let input = try RelaxedInput(model: m, ids: e.ids, typeIds: e.typeIds, first: g["first"] as! Int, last: g["last"] as! Int)
            let (values, dz, _, _) = try input.valueAndGradient(input.oneHotLogits(), temperature: Float(g["temperature"] as! Double),
                                                             mode: .softmax, noise: nil, objective: obj)
            let want = g["value"] as! Double
            // PAIR's normalised activations are a few hundredths; one of these is near zero, so the bound is absolute.
            let valueErr = abs(Double(values[0]) - want)
            print(String(format: "bf16 gradient golden %@: value %.6f vs fp32 golden %.6f (|diff| %.1e, rel %.1e)", sentence, Double(values[0]), want,
                         valueErr, valueErr / abs(want)))
            XCTAssertLessThan(valueErr, 5e-4, "\(sentence) value")
            for (i, row) in (g["rows"] as! [[String: Any]]).enumerated() {
                let r = Array(dz[(i * V)..<((i + 1) * V)])
                let norm = sqrt(r.reduce(0.0) { $0 + Double($1) * Double($1) })
                let wantNorm = row["norm"] as! Double, wantTop = row["top5"] as! [Int]
                let top5 = Array(r.indices.sorted { r[$0] > r[$1] }.prefix(5))
                let shared = Set(top5).intersection(wantTop).count
                print(String(format: "bf16 gradient golden %@ pos %d: |dz| rel %.1e, top5 %@ vs fp32 %@ (%d of 5 shared)", sentence,
                             row["position"] as! Int, abs(norm - wantNorm) / wantNorm, "\(top5)", "\(wantTop)", shared))
                XCTAssertLessThan(abs(norm - wantNorm) / wantNorm, 0.05, "\(sentence) position \(row["position"]!) gradient norm")
                XCTAssertTrue(wantTop.contains(top5[0]), "\(sentence) position \(row["position"]!): bf16's best token \(top5[0]) is not in fp32's top 5 \(wantTop)")
            }
        }
    }
}
