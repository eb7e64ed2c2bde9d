import XCTest
import Foundation
@testable import Engine
import Objectives

/// The discrete method's frozen-context screen proposes swaps; only exact scores may ever be recorded or kept.
final class ScreenTests: XCTestCase {
    func testScreenedSwapsAreScoredExactlyAndTheScreenCanBeTurnedOff() throws {
        let m = try defaultModel()
        let obj = SiteElement(site: Site(.attnOut, layer: 1), index: [2, 300])
        var o = DreamOptions(first: 2, last: 2)
        o.sentence = "i hate kickshaws"
        o.method = .discrete
        o.steps = 8; o.every = 1; o.seed = 3
        o.discrete.candidates = 32
        o.discrete.screen = 256
        o.discrete.screenAfterStale = 0   // screen from the first step
        let r = try runDream(model: m, objective: obj, options: o)
        XCTAssertEqual(r.screened, 8 * 256)
        let enc = m.tokenizer.encode(o.sentence)
        let alone = try RelaxedInput(model: m, ids: enc.ids, typeIds: enc.typeIds, first: 2, last: 2)
        for run in r.runs {
            let best = try XCTUnwrap(run.best)
            XCTAssertEqual(best.activation, try alone.discreteValues([[best.ids[2]]], objective: obj)[0], accuracy: 1e-4)
            for rec in run.iterations {
                let id = try XCTUnwrap(m.tokenizer.id(of: rec.tokens[2]))
                XCTAssertEqual(rec.activation, try alone.discreteValues([[id]], objective: obj)[0], accuracy: 1e-4, "step \(rec.number)")
            }
        }
        o.discrete.screen = 0
        XCTAssertEqual(try runDream(model: m, objective: obj, options: o).screened, 0)
        // An objective that reads another position than the dreamed one gets no screen (a frozen context says nothing).
        o.discrete.screen = 256
        XCTAssertEqual(try runDream(model: m, objective: SiteElement(site: Site(.attnOut, layer: 1), index: [3, 300]), options: o).screened, 0)
        // Nor one with a term at another position in a shallower layer (its deepest layer reads the dreamed one).
        let mixed = LinearCombination([(1, obj), (1, SiteElement(site: Site(.residPost, layer: 0), index: [3, 10]))])
        XCTAssertEqual(mixed.rowsAtDeepestLayer(T: 5), [2])
        XCTAssertEqual(try runDream(model: m, objective: mixed, options: o).screened, 0)
    }

    /// What the screen is for: its estimates must rank tokens much as exact scores do. On 400 seeded tokens at one
    /// position, an attention unit three layers deep: the estimates' correlation with the exact values, and where
    /// they put the sample's exact best.
    func testScreenEstimatesRankLikeExactScores() throws {
        let m = try defaultModel()
        let enc = m.tokenizer.encode("i hate kickshaws")
        let input = try RelaxedInput(model: m, ids: enc.ids, typeIds: enc.typeIds, first: 2, last: 2)
        var rng = SplitMix64(seed: 12)
        let banned = discreteBannedTokens(m)
        var tokens: [Int] = []
        while tokens.count < 400 {
            let t = Int(rng.next() % UInt64(m.config.vocabSize))
            if !banned.contains(t) && !tokens.contains(t) { tokens.append(t) }
        }
        for obj in [SiteElement(site: Site(.attnOut, layer: 3), index: [2, 300]), SiteElement(site: Site(.mlpPost, layer: 4), index: [2, 1000])] {
            let exact = try input.discreteValues(tokens.map { [$0] }, objective: obj)
            let estimate = try input.frozenContextValues([enc.ids[2]], at: 0, tokens: tokens, objective: obj)
            let n = Float(tokens.count)
            let me = exact.reduce(0, +) / n, ms = estimate.reduce(0, +) / n
            var sxy: Float = 0, sxx: Float = 0, syy: Float = 0
            for (x, y) in zip(exact, estimate) { sxy += (x - me) * (y - ms); sxx += (x - me) * (x - me); syy += (y - ms) * (y - ms) }
            let correlation = sxy / (sxx * syy).squareRoot()
            let best = exact.indices.max { exact[$0] < exact[$1] }!
            let rank = estimate.filter { $0 > estimate[best] }.count + 1
            print("screen \(obj): correlation with exact \(correlation), the sample's exact best ranks \(rank) of \(tokens.count)")
            XCTAssertGreaterThan(correlation, 0.6, "\(obj)")
            XCTAssertLessThanOrEqual(rank, 20, "\(obj)")
        }
    }
}
