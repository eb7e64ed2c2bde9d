import XCTest
import Foundation
@testable import Engine

/// SharedFirstLayer computes layer 0 of a batch of single-token swaps from one shared part plus each swap's own key
/// and value. The plain forward (every row through every product) is the reference: every kept site of every later
/// layer must agree with it to float rounding, and batches it must not serve must not take it.
final class SharedFirstLayerTests: XCTestCase {
    private var enabledBefore = true
    override func setUp() { enabledBefore = SharedFirstLayer.enabled }
    override func tearDown() { SharedFirstLayer.enabled = enabledBefore }

    /// Max |a - b| over the site, relative to the site's largest |value|.
    func relativeDiff(_ a: Activations, _ b: Activations, _ site: Site, batch: Int) throws -> Float {
        let x = try a.site(site, batch: batch).data, y = try b.site(site, batch: batch).data
        let scale = max(y.map(abs).max() ?? 0, 1e-6)
        return zip(x, y).map { abs($0 - $1) }.max()! / scale
    }

    func testSwapsAtOnePositionMatchThePlainForward() throws {
        let m = try defaultModel()
        let saved = sideBySideRows
        sideBySideRows = 8   // the 120-sequence batches run as groups on any thread count
        defer { sideBySideRows = saved }
        let tok = m.tokenizer
        // One sentence (swap at 2), a pair (swap in the second segment), the swap at [CLS] and at the last position.
        let cases: [(String, String?, (Int) -> Int)] = [("i hate kickshaws", nil, { _ in 2 }), ("the cat sat", "on the mat", { $0 - 3 }),
                                                        ("a b c d", nil, { _ in 0 }), ("a b c d", nil, { $0 - 1 })]
        for (text, second, at) in cases {
            let e = tok.encode(text, second)
            let T = e.ids.count, s = at(T)
            let L = m.config.numLayers
            let kept: Set<Site> = [Site(.residPost, layer: 0), Site(.residPost, layer: 1), Site(.mlpPost, layer: 2), Site(.pattern, layer: 3),
                                   Site(.residPost, layer: L - 1), Site(.embed)]
            // 120 candidates run as groups side by side (two threads), 9 as one pass.
            for count in [120, 9] {
                let ids = (0..<count).map { c -> [Int] in var q = e.ids; q[s] = 1000 + 211 * c; return q }
                let batch = InputBatch(ids: ids, typeIds: [[Int]](repeating: e.typeIds, count: count))
                XCTAssertEqual(m.singleSwapPosition(batch), s)
                for rows in [nil, [s == 0 ? 1 : 0]] as [[Int]?] {
                    SharedFirstLayer.enabled = false
                    let plain = try m.forward(batch, upTo: L - 1, keep: kept, lastLayerRows: rows)
                    SharedFirstLayer.enabled = true
                    let shared = try m.forward(batch, upTo: L - 1, keep: kept, lastLayerRows: rows)
                    var worst: Float = 0
                    for b in 0..<count {
                        for site in kept where site.layer < L - 1 { worst = max(worst, try relativeDiff(shared, plain, site, batch: b)) }
                        if let r = rows?.first {
                            let H = m.config.hiddenSize
                            let x = try shared.site(Site(.residPost, layer: L - 1), batch: b).data, y = try plain.site(Site(.residPost, layer: L - 1), batch: b).data
                            let scale = y[(r * H)..<((r + 1) * H)].map(abs).max()!
                            for i in (r * H)..<((r + 1) * H) { worst = max(worst, abs(x[i] - y[i]) / scale) }
                        } else {
                            worst = max(worst, try relativeDiff(shared, plain, Site(.residPost, layer: L - 1), batch: b))
                        }
                    }
                    print("shared layer 0, \"\(text)\"\(second.map { " / \"\($0)\"" } ?? ""), swap at \(s), \(count) sequences, rows \(rows ?? []): max relative diff \(worst)")
                    XCTAssertLessThan(worst, 1e-5, "\(text) at \(s), \(count) sequences")
                    XCTAssertGreaterThan(worst, 0, "the shared path ran (its sums run in another order)")
                }
            }
        }
    }

    /// Scores far above and far below the shared rows' max (layer 0's Q and K scaled up on a random model), T=2 and
    /// T=3, a swap at every position: the one-more-term softmax must stay exact where exp under- or overflows.
    func testExtremeScoresAndShortSequences() throws {
        let c = BertConfig(hiddenSize: 64, numLayers: 2, numHeads: 2, intermediateSize: 96, vocabSize: 400)
        let m = try RandomBert.model(c, seed: 5)
        let lw = m.weights.layers[0]
        for w in [lw.query.weight, lw.key.weight] { for i in 0..<(c.hiddenSize * c.hiddenSize) { w.ptr[i] *= 12 } }
        let site = Site(.residPost, layer: 1)
        for base in [[1, 2], [1, 7, 2]] {
            for s in 0..<base.count {
                let batch = InputBatch(ids: (0..<60).map { t in var q = base; q[s] = 5 + (t * 37) % 390; return q })
                XCTAssertEqual(m.singleSwapPosition(batch), s)
                SharedFirstLayer.enabled = false
                let plain = try m.forward(batch, upTo: 1, keep: [site])
                SharedFirstLayer.enabled = true
                let shared = try m.forward(batch, upTo: 1, keep: [site])
                var worst: Float = 0, spread: Float = 0
                for b in 0..<batch.B {
                    worst = max(worst, try relativeDiff(shared, plain, site, batch: b))
                    XCTAssertTrue(try shared.site(site, batch: b).data.allSatisfy(\.isFinite))
                }
                // How extreme the scores were: the largest gap between one query's scores at layer 0.
                let probe = try m.forward(batch, upTo: 1, keep: [Site(.scores, layer: 0)])
                for b in 0..<batch.B { let x = try probe.site(Site(.scores, layer: 0), batch: b).data; spread = max(spread, x.max()! - x.min()!) }
                print("shared layer 0, random model with scaled Q and K, T=\(base.count), swap at \(s): max relative diff \(worst), score spread \(spread)")
                XCTAssertGreaterThan(spread, 200, "scores far apart enough that exp(score - max) underflows")
                XCTAssertLessThan(worst, 1e-5, "T=\(base.count), swap at \(s)")
            }
        }
    }

    func testBatchesItCannotServeTakeThePlainForward() throws {
        let m = try defaultModel()
        let e = m.tokenizer.encode("i hate kickshaws")
        func swaps(_ edit: (Int, inout [Int]) -> Void) -> InputBatch {
            InputBatch(ids: (0..<12).map { c in var q = e.ids; edit(c, &q); return q })
        }
        XCTAssertNil(m.singleSwapPosition(swaps { c, q in q[2] = 2000 + c; q[3] = 3000 + c }), "two positions")
        XCTAssertNil(m.singleSwapPosition(swaps { c, q in q[c % 2 == 0 ? 2 : 3] = 2000 + c }), "a different position per sequence")
        XCTAssertNil(m.singleSwapPosition(swaps { c, q in q[2] = 2000 + c; if c == 5 { q.removeLast() } }), "padding")
        XCTAssertNil(m.singleSwapPosition(InputBatch(ids: [e.ids])), "one sequence")
        var types = swaps { c, q in q[2] = 2000 + c }
        types.typeIds[3][4] = 1
        XCTAssertNil(m.singleSwapPosition(types), "segments differ")
        XCTAssertEqual(m.singleSwapPosition(swaps { _, _ in }), nil, "no position differs")
        // A kept layer-0 site other than resid_post needs every row's layer 0: the plain forward runs, bit for bit.
        let batch = swaps { c, q in q[2] = 2000 + c }
        let kept: Set<Site> = [Site(.pattern, layer: 0), Site(.residPost, layer: 2)]
        SharedFirstLayer.enabled = false
        let plain = try m.forward(batch, upTo: 2, keep: kept)
        SharedFirstLayer.enabled = true
        let again = try m.forward(batch, upTo: 2, keep: kept)
        for b in 0..<batch.B { for site in kept { XCTAssertEqual(try again.site(site, batch: b).data, try plain.site(site, batch: b).data) } }
        // The bf16 mode keeps its own products throughout.
        let bf = m.converted(to: .bf16)
        SharedFirstLayer.enabled = false
        let bfPlain = try bf.forward(batch, upTo: 2, keep: [Site(.residPost, layer: 2)])
        SharedFirstLayer.enabled = true
        let bfAgain = try bf.forward(batch, upTo: 2, keep: [Site(.residPost, layer: 2)])
        for b in 0..<batch.B { XCTAssertEqual(try bfAgain.site(Site(.residPost, layer: 2), batch: b).data, try bfPlain.site(Site(.residPost, layer: 2), batch: b).data) }
    }
}
