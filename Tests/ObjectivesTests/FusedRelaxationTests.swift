import XCTest
import Foundation
@testable import Engine
import Objectives
import TestSupport

/// The fused softmax step (one pass over E: softmax backward, Adam, next p·E) must run the same dream as the unfused
/// step it replaces: same curves, records, top-k, argmax inputs and final probabilities, up to the sums' order.
final class FusedRelaxationTests: XCTestCase {
    func dream(fused: Bool, options o: DreamOptions, objective: ActivationObjective, model: BertModel) throws -> DreamResult {
        let saved = fusedRelaxationRows
        defer { fusedRelaxationRows = saved }
        fusedRelaxationRows = fused ? 1_000 : 0
        return try runDream(model: model, objective: objective, options: o)
    }

    func testFusedStepRunsTheUnfusedDream() throws {
        // 2 restarts x 3 positions (6 rows), and 1 x 11 (row tiles of 4+4+3 for the dots and 5+6 for the mix).
        try compare(sentence: "i hate kickshaws", first: 1, last: 3, restarts: 2)
        try compare(sentence: "the quick brown fox jumps over the lazy dog again and again", first: 1, last: 11, restarts: 1)
    }

    /// The Gumbel forms draw noise each step: the fused loop must draw the same noise in the same order.
    func testFusedStepRunsTheUnfusedGumbelDreams() throws {
        try compare(sentence: "i hate kickshaws", first: 1, last: 3, restarts: 2, mode: .gumbel)
        try compare(sentence: "i hate kickshaws", first: 1, last: 3, restarts: 2, method: .hybrid)
    }

    func compare(sentence: String, first: Int, last: Int, restarts: Int, mode: RelaxationMode = .softmax, method: DreamMethod = .relaxed) throws {
        let model = try defaultModel()
        let obj = PairActivation(layer: 4, word: 2, unit: 77, normalize: true, numLayers: model.config.numLayers)
        var o = DreamOptions(first: first, last: last)
        o.sentence = sentence
        o.steps = 40; o.every = 10; o.topkEvery = 5; o.topk = 5; o.lr = 0.1
        o.restarts = restarts
        o.mode = mode
        o.method = method
        o.schedule = .anneal(start: 2.0, stop: 0.3, rate: 0.9, warmup: 5)   // the temperature changes between steps
        let a = try dream(fused: false, options: o, objective: obj, model: model)
        let b = try dream(fused: true, options: o, objective: obj, model: model)
        var curveDiff: Float = 0, probDiff: Float = 0, maxValueDiff: Float = 0
        for (ra, rb) in zip(a.runs, b.runs) {
            XCTAssertEqual(ra.curve.count, rb.curve.count)
            for (x, y) in zip(ra.curve, rb.curve) {
                XCTAssertEqual(x.temperature, y.temperature)
                curveDiff = max(curveDiff, abs(x.activation - y.activation) / max(1e-3, abs(x.activation)))
                XCTAssertEqual(x.idsActivation, y.idsActivation, accuracy: 1e-5 * max(1, abs(x.idsActivation)), "step \(x.step)")
            }
            XCTAssertEqual(ra.iterations.map(\.tokens), rb.iterations.map(\.tokens))
            for (x, y) in zip(ra.iterations, rb.iterations) {
                for (u, v) in zip(x.maxValues, y.maxValues) { maxValueDiff = max(maxValueDiff, abs(u - v)) }
            }
            for i in 0..<(last - first + 1) { XCTAssertEqual(ra.topK[i].map(\.indices), rb.topK[i].map(\.indices), "position \(i)") }
            XCTAssertEqual(ra.finalIds, rb.finalIds)
            for (x, y) in zip(ra.finalProbs, rb.finalProbs) { probDiff = max(probDiff, abs(x - y)) }
            XCTAssertEqual(ra.best?.ids, rb.best?.ids)
        }
        print(String(format: "fused vs unfused %@ dream (%@), 40 steps, %d restarts x %d positions: activation rel %.2e, max values %.2e, final probabilities %.2e",
                     method.rawValue, a.options.mode.rawValue, restarts, last - first + 1, curveDiff, maxValueDiff, probDiff))
        XCTAssertLessThan(curveDiff, 1e-4)
        XCTAssertLessThan(maxValueDiff, 1e-5)
        XCTAssertLessThan(probDiff, 1e-5)
        XCTAssertEqual(a.stepsDone, b.stepsDone)
    }
}
