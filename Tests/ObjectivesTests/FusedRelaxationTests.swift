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
        // 2 restarts x 3 positions (6 rows), and 1 x 11 (row tiles of 3+4+4 for the dots and 5+6 for the mix).
        try compare(sentence: "i hate kickshaws", first: 1, last: 3, restarts: 2)
        try compare(sentence: "the quick brown fox jumps over the lazy dog again and again", first: 1, last: 11, restarts: 1)
    }

    /// Hidden size 40 runs the kernels' column tails (40 = 32 + 8 = 2·16 + 8); 2 x 5 rows run one mix tile of 10. The
    /// vocabulary (real, 30522 tokens) ends in a partial 64-token block and a partial range.
    func testFusedStepRunsTheUnfusedDreamAtOddShapes() throws {
        let real = try defaultModel()
        let odd = try RandomBert.model(BertConfig(hiddenSize: 40, numLayers: 2, numHeads: 2, intermediateSize: 56, vocabSize: real.config.vocabSize,
                                                  maxPositions: 64), seed: 5, tokenizer: real.tokenizer)
        try compare(sentence: "the quick brown fox jumps over the lazy dog", first: 1, last: 5, restarts: 2, model: odd, layer: 1)
    }

    /// The pass splits the vocabulary into fixed ranges, so the dream is bit for bit the same on 1 thread as on all.
    func testFusedDreamDoesNotDependOnTheThreadCount() throws {
        let model = try defaultModel()
        let obj = PairActivation(layer: 3, word: 2, unit: 5, normalize: true, numLayers: model.config.numLayers)
        var o = DreamOptions(first: 1, last: 3)
        o.steps = 15; o.every = 5; o.restarts = 2
        let saved = Threads.count
        defer { Threads.count = saved }
        let all = try runDream(model: model, objective: obj, options: o)
        Threads.count = 1
        let one = try runDream(model: model, objective: obj, options: o)
        for (a, b) in zip(all.runs, one.runs) {
            XCTAssertEqual(a.finalProbs, b.finalProbs)
            XCTAssertEqual(a.curve.map(\.activation), b.curve.map(\.activation))
        }
    }

    /// The Gumbel forms draw noise each step: the fused loop must draw the same noise in the same order.
    func testFusedStepRunsTheUnfusedGumbelDreams() throws {
        try compare(sentence: "i hate kickshaws", first: 1, last: 3, restarts: 2, mode: .gumbel)
        try compare(sentence: "i hate kickshaws", first: 1, last: 3, restarts: 2, method: .hybrid)
    }

    func compare(sentence: String, first: Int, last: Int, restarts: Int, mode: RelaxationMode = .softmax, method: DreamMethod = .relaxed,
                 model given: BertModel? = nil, layer: Int = 4) throws {
        let model = try given ?? defaultModel()
        let obj = PairActivation(layer: layer, word: 2, unit: 7, normalize: true, numLayers: model.config.numLayers)
        var o = DreamOptions(first: first, last: last)
        o.sentence = sentence
        o.steps = 40; o.every = 10; o.topkEvery = 5; o.topk = 5; o.lr = 0.1
        o.restarts = restarts
        o.mode = mode
        o.method = method
        o.schedule = .anneal(start: 2.0, stop: 0.3, rate: 0.9, warmup: 5)   // the temperature changes between steps
        let enc = model.tokenizer.encode(sentence)
        let input = try RelaxedInput(model: model, ids: enc.ids, typeIds: enc.typeIds, first: first, last: last, restarts: restarts)
        XCTAssertTrue(SoftmaxStepper.applies(to: input, mode: method == .hybrid ? .gumbelLogits : mode, fluency: false), "the fused path must run")
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
