import XCTest
import Foundation
@testable import Engine

/// The discrete method keeps each surviving member's one-hot gradient and value from the pass that first evaluated
/// it. Every recorded value and every step's top-k (built from those kept gradients) must equal what a fresh pass
/// over that member alone gives.
final class DiscreteTests: XCTestCase {
    func testKeptGradientsAndValuesMatchAFreshPassPerMember() throws {
        let model = try defaultModel()
        var rng = SplitMix64(seed: 4)
        let H = model.config.hiddenSize
        let obj = WeightedSite(Site(.residPost, layer: 2), weights: (0..<H).map { _ in Float(rng.nextDouble() * 2 - 1) })
        var o = DreamOptions(first: 2, last: 3)
        o.sentence = "i hate kickshaws"
        o.method = .discrete
        o.steps = 6; o.every = 1; o.topkEvery = 1; o.topk = 5; o.seed = 9
        o.discrete.population = 4
        o.discrete.candidates = 24
        let r = try runDream(model: model, objective: obj, options: o)
        let enc = model.tokenizer.encode(o.sentence)
        let alone = try RelaxedInput(model: model, ids: enc.ids, typeIds: enc.typeIds, first: 2, last: 3, restarts: 1)
        let V = model.config.vocabSize
        var checked = 0, survivors = 0
        for run in r.runs {
            var previous: [Int]? = nil
            for rec in run.iterations where rec.number < o.steps {
                let ids = rec.tokens.map { model.tokenizer.id(of: $0)! }
                let span = Array(ids[2...3])
                if span == previous { survivors += 1 }
                previous = span
                let (values, grad) = try alone.oneHotGradient([span], objective: obj)
                XCTAssertEqual(rec.activation, values[0], accuracy: 1e-4 * max(1, abs(values[0])), "run \(run.seed) step \(rec.number)")
                for i in 0..<2 {
                    let kept = try XCTUnwrap(run.topK[i].first { $0.number == rec.number })
                    var top = BestK<Int>(o.topk)
                    for j in 0..<V { top.offer(grad[i * V + j], j) }
                    XCTAssertEqual(kept.indices, top.items, "run \(run.seed) step \(rec.number) position \(i)")
                    for (a, b) in zip(kept.scores, top.scores) { XCTAssertEqual(a, b, accuracy: 1e-4 * max(1, abs(b))) }
                }
                checked += 1
            }
        }
        print("discrete: \(checked) member-steps checked against a fresh pass, \(survivors) of them members kept from the step before")
        XCTAssertEqual(checked, 4 * o.steps)
        XCTAssertGreaterThan(survivors, 0, "no member survived a step, so the kept gradients were never used")
    }

    /// The surrogate's fit: scores that are exactly linear in a position's unit-normalised token embedding (plus a
    /// constant) are recovered from scored samples, so its ranking puts the true best token first, and the fit keeps
    /// improving as batches arrive (the conjugate gradients warm-start from the last solution). With two positions each
    /// fit sees the other's term as noise (a marginal model): the true best stays among its first three.
    func testEmbeddingRidgeRanksTheBestTokenOfALinearScore() throws {
        let model = try RandomBert.model(BertConfig(hiddenSize: 16, numLayers: 1, numHeads: 2, intermediateSize: 24, vocabSize: 90,
                                                    maxPositions: 16), seed: 3)
        let V = model.config.vocabSize, H = model.config.hiddenSize, E = model.weights.wordEmbeddings.ptr
        var rng = SplitMix64(seed: 8)
        let excluded = (0..<V).map { $0 < 5 }
        let directions = (0..<2).map { _ in (0..<H).map { _ in Float(rng.nextDouble() * 2 - 1) } }
        func unitScore(_ i: Int, _ t: Int) -> Float {
            let row = (0..<H).map { E[t * H + $0] }
            let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return zip(row, directions[i]).reduce(0) { $0 + $1.0 * $1.1 } / norm
        }
        func token() -> Int { 5 + Int(rng.next() % UInt64(V - 5)) }
        for P in [1, 2] {
            let ridge = EmbeddingRidge(model: model, positions: P, excluded: excluded, listLength: 10)
            for batch in 0..<4 {
                let spans = (0..<40).map { _ in (0..<P).map { _ in token() } }
                ridge.add(spans, scores: spans.map { span in span.enumerated().reduce(3) { $0 + unitScore($1.offset, $1.element) } })
                ridge.refit()
                XCTAssertEqual(ridge.count, 40 * (batch + 1))
            }
            for i in 0..<P {
                let best = (5..<V).max { unitScore(i, $0) < unitScore(i, $1) }!
                if P == 1 { XCTAssertEqual(ridge.ranked[i].first, best) }
                else { XCTAssertTrue(ridge.ranked[i].prefix(3).contains(best), "position \(i) of \(P): \(ridge.ranked[i].prefix(3)) lacks \(best)") }
                XCTAssertFalse(ridge.ranked[i].contains { excluded[$0] }, "banned tokens are never ranked")
            }
        }
        // Long spans would need P·(H+1)² doubles: past 256 MB the surrogate stays off (its swaps follow the gradient).
        XCTAssertTrue(EmbeddingRidge.fits(positions: 200, hidden: 384))
        XCTAssertFalse(EmbeddingRidge.fits(positions: 510, hidden: 768))
    }

    /// The frozen-context screen: at layer 0 the other rows do not depend on the swapped token, so every layer-0 site
    /// at the swapped position equals the full forward's; deeper, a candidate equal to the base token reproduces the
    /// base everywhere, and every other row of a kept site holds the base's values. Once on one sentence with every
    /// site kept, once on a sentence pair (the swap in the second segment) keeping only attention sites at the last
    /// layer, where the screen skips that layer's MLP.
    func testFrozenContextIsExactAtLayerZeroAndAtTheBaseToken() throws {
        let model = try defaultModel()
        let all: [SiteKind] = [.pattern, .z, .attnOut, .residMid, .mlpPre, .mlpPost, .mlpOut, .residPost]
        try checkFrozenContext(model, model.tokenizer.encode("i hate kickshaws and the rest"), position: 2, deepestKinds: all)
        let pair = model.tokenizer.encode("i hate kickshaws", "the rest is fine")
        let second = try XCTUnwrap(pair.typeIds.firstIndex(of: 1)) + 1
        try checkFrozenContext(model, pair, position: second, deepestKinds: [.pattern, .z, .attnOut, .residMid])
    }

    private func checkFrozenContext(_ model: BertModel, _ enc: (ids: [Int], typeIds: [Int]), position p: Int, deepestKinds: [SiteKind]) throws {
        let T = enc.ids.count, deepest = 3
        let tokens = [enc.ids[p], 2023, 7592, 14590, 1988, 29000] + (0..<60).map { 1000 + 397 * $0 }
        let kinds: [SiteKind] = [.pattern, .z, .attnOut, .residMid, .mlpPre, .mlpPost, .mlpOut, .residPost]
        let keep = Set(kinds.map { Site($0, layer: 0) } + deepestKinds.map { Site($0, layer: deepest) })
        let base = try model.forward(InputBatch(ids: [enc.ids], typeIds: [enc.typeIds]), upTo: deepest)
        let frozen = try model.forwardFrozenContext(base: base, baseIds: enc.ids, typeIds: enc.typeIds, position: p, tokens: tokens, upTo: deepest, keep: keep)
        let ids = tokens.map { t in enc.ids.enumerated().map { $0.offset == p ? t : $0.element } }
        let exact = try model.forward(InputBatch(ids: ids, typeIds: [[Int]](repeating: enc.typeIds, count: ids.count)), upTo: deepest)
        for site in keep {
            let (f, per) = try XCTUnwrap(frozen.buffer(site)), (e, _) = try XCTUnwrap(exact.buffer(site)), (b, _) = try XCTUnwrap(base.buffer(site))
            let shape = site.shape(T: T, config: model.config)
            // Elements at the swapped position: a row of the (T,W) sites, a query row of each head's (T,T) pattern.
            func atSwapped(_ k: Int) -> Bool { site.kind == .pattern ? (k / T) % T == p : k / (per / T) == p }
            var worstLayer0: Float = 0, worstSame: Float = 0, worstContext: Float = 0
            for n in 0..<tokens.count {
                for k in 0..<per {
                    let fv = f.ptr[n * per + k], ev = e.ptr[n * per + k]
                    if n == 0 { worstSame = max(worstSame, abs(fv - ev)) }
                    if atSwapped(k) { if site.layer == 0 { worstLayer0 = max(worstLayer0, abs(fv - ev)) } }
                    else { worstContext = max(worstContext, abs(fv - b.ptr[k])) }
                }
            }
            // The three passes take different kernels (1, 66 and 66·T rows): sums differ in their last bits, up to
            // 1e-5 of the site's largest value (layer 0's mlp_out reaches about 190 in one dimension).
            let tolerance = 1e-5 * (0..<(tokens.count * per)).reduce(Float(0)) { max($0, abs(e.ptr[$1])) }
            print("frozen context T=\(T) p=\(p) \(site) \(shape): layer-0 swapped rows max |frozen - full| \(worstLayer0), base token \(worstSame), other rows vs base \(worstContext) (tolerance \(tolerance))")
            XCTAssertLessThan(worstLayer0, tolerance, "\(site)")
            XCTAssertLessThan(worstSame, tolerance, "\(site)")
            XCTAssertEqual(worstContext, 0, "\(site)")
        }
        // Deeper, the screen is an estimate: it must differ from the full forward somewhere (else it is not frozen).
        let (f3, per3) = try XCTUnwrap(frozen.buffer(Site(.attnOut, layer: deepest))), (e3, _) = try XCTUnwrap(exact.buffer(Site(.attnOut, layer: deepest)))
        let H = model.config.hiddenSize
        XCTAssertGreaterThan((0..<H).map { abs(f3.ptr[per3 + p * H + $0] - e3.ptr[per3 + p * H + $0]) }.max()!, 1e-4)
    }
}
