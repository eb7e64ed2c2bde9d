import XCTest
import Foundation
@testable import Engine
import Objectives
import TestSupport

/// Scoring without gradients runs whole-sequence groups side by side; an objective that reads each sequence's place in
/// the batch (a sweep's per-unit objectives) must still see the whole batch, once.
final class GroupedScoringTests: XCTestCase {
    func testPerSequenceObjectiveScoresAGroupedBatch() throws {
        let m = try defaultModel()
        let enc = m.tokenizer.encode("i hate kickshaws and the rest of it")
        let R = 48, L = m.config.numLayers
        // Groups on any thread count of 2 or more: every thread gets its 256 rows' worth at 48 × 12 rows.
        let saved = sideBySideRows
        sideBySideRows = R * enc.ids.count / max(Threads.running, 1)
        defer { sideBySideRows = saved }
        let input = try RelaxedInput(model: m, ids: enc.ids, typeIds: enc.typeIds, first: 1, last: enc.ids.count - 2, restarts: R)
        let span = Array(enc.ids[1...(enc.ids.count - 2)])
        let spans = (0..<R).map { r in span.enumerated().map { $0.offset == r % span.count ? 2000 + 37 * r : $0.element } }
        let parts: [ActivationObjective] = (0..<R).map { PairActivation(layer: 3, word: 2, unit: ($0 * 7) % m.config.hiddenSize, normalize: true, numLayers: L) }
        let values = try input.discreteValues(spans, objective: PerSequenceObjective(parts))
        XCTAssertEqual(values.count, R)
        let single = try RelaxedInput(model: m, ids: enc.ids, typeIds: enc.typeIds, first: 1, last: enc.ids.count - 2, restarts: 1)
        var worst: Float = 0
        for r in 0..<R {
            let want = try single.discreteValues([spans[r]], objective: parts[r])[0]
            worst = max(worst, abs(values[r] - want) / max(abs(want), 1e-3))
        }
        print("per-sequence objective over \(R) grouped sequences: max rel |batch - single| \(worst)")
        XCTAssertLessThan(worst, 1e-4)
    }
}
