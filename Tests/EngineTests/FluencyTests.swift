import XCTest
import Foundation
@testable import Engine

/// Pseudo-log-likelihood against the same quantity computed another way (one full MLM pass per masked position),
/// its gradients against finite differences, and the fluency term inside the dream methods.
final class FluencyTests: XCTestCase {
    let c = BertConfig(hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, vocabSize: 60, maxPositions: 16)
    let ids = [2, 7, 8, 9, 10, 3]   // [CLS] i hate love kick [SEP] in RandomBert.vocab

    func scorer(_ mlm: BertModel, dream: BertModel, first: Int = 2, last: Int = 4) throws -> FluencyScorer {
        try FluencyScorer(model: mlm, dreamModel: dream, ids: ids, typeIds: [Int](repeating: 0, count: ids.count), first: first, last: last)
    }

    /// Mask one position, run the whole model with its MLM head over every row, log-softmax in double.
    func naivePLL(_ m: BertModel, span: [Int], first: Int) throws -> Double {
        var total = 0.0
        for i in 0..<span.count {
            var s = ids
            for j in 0..<span.count { s[first + j] = span[j] }
            s[first + i] = m.tokenizer.maskId!
            let acts = try m.forward(InputBatch(ids: [s]), withMLM: true)
            let row = Array(UnsafeBufferPointer(start: acts.mlm!.logits.ptr + (first + i) * c.vocabSize, count: c.vocabSize)).map(Double.init)
            let mx = row.max()!
            let lse = mx + log(row.map { exp($0 - mx) }.reduce(0, +))
            total += row[span[i]] - lse
        }
        return total / Double(span.count)
    }

    func testPLLMatchesOneMaskedPassPerPosition() throws {
        let mlm = try RandomBert.model(c, seed: 11, withMLM: true)
        let dreamModel = try RandomBert.model(c, seed: 12)
        let sc = try scorer(mlm, dream: dreamModel)
        let spans = [[9, 10, 11], [30, 5, 41], [22, 22, 7]]
        let fast = try sc.pll(spans)
        for (k, span) in spans.enumerated() {
            let naive = try naivePLL(mlm, span: span, first: 2)
            print(String(format: "pll span %@: fast %.7f naive %.7f |diff| %.2e", "\(span)", fast[k], naive, abs(Double(fast[k]) - naive)))
            XCTAssertEqual(Double(fast[k]), naive, accuracy: 1e-5)
        }
        // Different spans give different values: the check above is not comparing constants.
        XCTAssertGreaterThan(abs(fast[0] - fast[1]), 1e-4)
    }

    func rand(_ n: Int, _ rng: inout SplitMix64) -> [Float] { (0..<n).map { _ in Float(rng.nextDouble()) } }

    /// d pll / d input for a soft input (any non-negative p, rows not renormalised) against central differences,
    /// and the one-hot (ids) path equal to the soft path at a one-hot p.
    func testPLLGradientFiniteDifference() throws {
        let mlm = try RandomBert.model(c, seed: 13, withMLM: true)
        let sc = try scorer(mlm, dream: mlm)
        let R = 2, P = 3, V = c.vocabSize
        var rng = SplitMix64(seed: 9)
        var p = rand(R * P * V, &rng)
        for row in 0..<(R * P) { let s = p[(row * V)..<((row + 1) * V)].reduce(0, +); for v in 0..<V { p[row * V + v] /= s } }
        let ev = try sc.evaluate(.soft(p), rows: sc.rows(soft: p, R: R), R: R, gradient: true)
        func f(_ q: [Float]) -> Double {
            Double(try! sc.evaluate(.soft(q), rows: sc.rows(soft: q, R: R), R: R, gradient: false).pll.reduce(0, +))
        }
        let (worst, scale) = finiteDifferenceError(ev.dInput!, at: p, every: 5, eps: 1e-2, f)
        print(String(format: "pll soft gradient: max |analytic - numeric| %.2e (largest %.2e)", worst, scale))
        XCTAssertLessThan(worst, 2e-3 * max(1, scale))
        XCTAssertGreaterThan(scale, 1e-3)

        let spans = [[9, 10, 11], [30, 5, 41]]
        var onehot = [Float](repeating: 0, count: R * P * V)
        for r in 0..<R { for i in 0..<P { onehot[(r * P + i) * V + spans[r][i]] = 1 } }
        let hard = try sc.evaluate(.ids(spans), rows: sc.rows(spans: spans), R: R, gradient: true)
        let soft = try sc.evaluate(.soft(onehot), rows: sc.rows(soft: onehot, R: R), R: R, gradient: true)
        XCTAssertLessThan(Tensor.maxAbsDiff(hard.pll, soft.pll), 1e-5)
        XCTAssertLessThan(Tensor.maxAbsDiff(hard.dInput!, soft.dInput!), 1e-4)
    }

    /// The relaxed loop's dz with fluency = d(activation + λ·pll)/dz, through a second model that shares the vocabulary.
    func testRelaxedGradientWithFluencyFiniteDifference() throws {
        let dreamModel = try RandomBert.model(c, seed: 14)
        let mlm = try RandomBert.model(c, seed: 15, withMLM: true)
        let sc = try scorer(mlm, dream: dreamModel)
        var rng = SplitMix64(seed: 10)
        let obj = WeightedSite(Site(.residPost, layer: 1), weights: (0..<40).map { _ in Float(rng.nextDouble() * 2 - 1) })
        let input = try RelaxedInput(model: dreamModel, ids: ids, typeIds: [Int](repeating: 0, count: ids.count), first: 2, last: 4)
        var z = input.oneHotLogits()
        for i in 0..<z.count { z[i] += Float(rng.nextDouble()) * 0.5 }
        let lambda: Float = 3
        let (_, dz, _, _) = try input.valueAndGradient(z, temperature: 0.8, mode: .softmax, noise: nil, objective: obj, fluency: (sc, lambda))
        func f(_ zz: [Float]) -> Double {
            let r = try! input.valueAndGradient(zz, temperature: 0.8, mode: .softmax, noise: nil, objective: obj, fluency: (sc, lambda))
            return Double(r.values[0] + lambda * r.pll![0])
        }
        let (worst, scale) = finiteDifferenceError(dz, at: z, every: 7, eps: 3e-2, f)
        print(String(format: "relaxed dz with fluency: max |analytic - numeric| %.2e (largest %.2e)", worst, scale))
        XCTAssertLessThan(worst, 2e-3 * max(1, scale))
    }

    /// Discrete: a large λ trades activation for PLL; the kept best carries its exact PLL and score.
    func testDiscreteDreamTradesActivationForPLL() throws {
        let dreamModel = try RandomBert.model(c, seed: 16)
        let mlm = try RandomBert.model(c, seed: 17, withMLM: true)
        let obj = WeightedSite(Site(.residPost, layer: 1), weights: [1, -0.5, 0.25])
        var o = DreamOptions(first: 2, last: 4)
        o.sentence = "i hate love kick"
        o.method = .discrete
        o.steps = 12; o.every = 4; o.seed = 3
        o.discrete.candidates = 48
        var results: [DreamResult] = []
        for lambda: Float in [0, 50] {
            o.fluency = FluencyTerm(model: mlm, lambda: lambda)
            results.append(try runDream(model: dreamModel, objective: obj, options: o))
        }
        let sc = try scorer(mlm, dream: dreamModel)
        for (r, lambda) in zip(results, [Float(0), 50]) {
            let b = try XCTUnwrap(r.best)
            let pll = try sc.pll([Array(b.ids[2...4])])[0]
            XCTAssertEqual(try XCTUnwrap(b.pll), pll, accuracy: 1e-5)
            XCTAssertEqual(b.score, b.activation + lambda * pll, accuracy: 1e-4)
            XCTAssertNotNil(r.runs[0].iterations.last?.idsPLL)
        }
        let (plain, fluent) = (results[0].best!, results[1].best!)
        print("discrete λ=0: act \(plain.activation) pll \(plain.pll!); λ=50: act \(fluent.activation) pll \(fluent.pll!)")
        XCTAssertGreaterThan(fluent.pll!, plain.pll!)
        XCTAssertGreaterThanOrEqual(plain.activation, fluent.activation)
    }

    func testFluencyModelErrorsNameTheFix() throws {
        let noHead = try RandomBert.model(c, seed: 18)
        XCTAssertThrowsError(try scorer(noHead, dream: noHead)) { XCTAssertTrue("\($0)".contains("has no MLM head") && "\($0)".contains("fluency_model=")) }
        let other = try RandomBert.model(BertConfig(hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 24, vocabSize: 70, maxPositions: 16),
                                         seed: 19, withMLM: true)
        XCTAssertThrowsError(try scorer(other, dream: noHead)) { XCTAssertTrue("\($0)".contains("different vocabulary")) }
        XCTAssertThrowsError(try scorer(other, dream: other, first: 0, last: 2)) { XCTAssertTrue("\($0)".contains("must lie inside")) }
    }
}

/// PLL and its one-hot gradient against transformers' BertForMaskedLM (golden.json "fluency", scripts/golden.py), on
/// the random MLM model `dreamlab random-model` writes with the default model's vocabulary, rebuilt here in memory.
final class FluencyGoldenTests: XCTestCase {
    func testPLLAndGradientMatchTransformers() throws {
        let g = try XCTUnwrap(TestPaths.golden["fluency"] as? [String: Any], "golden.json lacks fluency goldens; rerun scripts/golden.py")
        let cfg = g["config"] as! [String: Int]
        let real = try defaultModel()
        let c = BertConfig(hiddenSize: cfg["hidden"]!, numLayers: cfg["layers"]!, numHeads: cfg["heads"]!, intermediateSize: cfg["intermediate"]!,
                           vocabSize: real.config.vocabSize, maxPositions: cfg["max_positions"]!)
        let mlm = try RandomBert.model(c, seed: UInt64(cfg["seed"]!), withMLM: true, tokenizer: real.tokenizer)
        let V = c.vocabSize
        for case_ in g["cases"] as! [[String: Any]] {
            let ids = case_["ids"] as! [Int], first = case_["first"] as! Int, last = case_["last"] as! Int
            XCTAssertEqual(real.tokenizer.encode(case_["sentence"] as! String).ids, ids)
            let sc = try FluencyScorer(model: mlm, dreamModel: real, ids: ids, typeIds: [Int](repeating: 0, count: ids.count), first: first, last: last)
            let span = Array(ids[first...last])
            let ev = try sc.evaluate(.ids([span]), rows: sc.rows(spans: [span]), R: 1, gradient: true)
            let want = case_["pll"] as! Double
            var worstPos = 0.0
            for (i, w) in (case_["per_position"] as! [Double]).enumerated() { worstPos = max(worstPos, abs(Double(ev.logProbs[i * V + span[i]]) - w)) }
            var worstNorm = 0.0
            for row in case_["gradient"] as! [[String: Any]] {
                let i = (row["position"] as! Int) - first
                let grad = Array(ev.dInput![(i * V)..<((i + 1) * V)])
                let norm = sqrt(grad.reduce(0.0) { $0 + Double($1) * Double($1) })
                worstNorm = max(worstNorm, abs(norm - (row["norm"] as! Double)) / (row["norm"] as! Double))
                let top = grad.indices.sorted { grad[$0] > grad[$1] }.prefix(5)
                XCTAssertEqual(Array(top), row["top5"] as! [Int], "top-5 gradient tokens at position \(i + first)")
            }
            print(String(format: "pll golden %@ %d...%d: %.6f vs transformers %.6f (|diff| %.1e), per position max |diff| %.1e, gradient norm rel err %.1e",
                         case_["sentence"] as! String, first, last, ev.pll[0], want, abs(Double(ev.pll[0]) - want), worstPos, worstNorm))
            XCTAssertEqual(Double(ev.pll[0]), want, accuracy: 1e-4)
            XCTAssertLessThan(worstPos, 1e-4)
            XCTAssertLessThan(worstNorm, 1e-4)
        }
    }
}

final class ParetoTests: XCTestCase {
    /// The sorted scan against the definition: a point is on the frontier iff no other point is at least as good on
    /// both axes and better on one (exact duplicates count once).
    func testFrontierMatchesPairwiseDefinition() {
        var rng = SplitMix64(seed: 4)
        for n in [0, 1, 2, 7, 40, 200] {
            // Coarse values so ties on one axis and exact duplicates occur.
            let pts = (0..<n).map { _ in (x: Float(Int(rng.next() % 12)), y: Float(Int(rng.next() % 12))) }
            let fast = paretoFrontier(pts)
            var naive: [Int] = []
            for i in pts.indices {
                let dominated = pts.indices.contains { j in
                    j != i && pts[j].x >= pts[i].x && pts[j].y >= pts[i].y && (pts[j].x > pts[i].x || pts[j].y > pts[i].y)
                }
                let earlierTwin = pts.indices.contains { j in j < i && pts[j].x == pts[i].x && pts[j].y == pts[i].y }
                if !dominated && !earlierTwin { naive.append(i) }
            }
            XCTAssertEqual(Set(fast), Set(naive), "n=\(n)")
            XCTAssertEqual(fast.map { pts[$0].x }, fast.map { pts[$0].x }.sorted(), "ordered by x")
        }
    }
}
