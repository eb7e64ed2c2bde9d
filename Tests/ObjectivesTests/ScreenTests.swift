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
    }
}
