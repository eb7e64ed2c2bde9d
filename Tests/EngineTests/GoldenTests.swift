import Foundation
import XCTest
import CKernels
@testable import Engine

/// The real default model against Hugging Face transformers (Tests/Golden/golden.json, made by scripts/golden.py).
final class GoldenTests: XCTestCase {
    func testTokenizerMatchesBertTokenizer() throws {
        let m = try defaultModel()
        let cases = TestPaths.golden["tokenize"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        var failures = 0
        for c in cases {
            let text = c["text"] as! String, want = c["ids"] as! [Int]
            let got = m.tokenizer.encode(text).ids
            if got != want {
                failures += 1
                XCTFail("tokenize \(text.debugDescription): got \(got.map { m.tokenizer.idToToken[$0] }) want \(want.map { m.tokenizer.idToToken[$0] })")
            }
        }
        print("tokenizer: \(cases.count - failures)/\(cases.count) strings identical to BertTokenizer")
        let pair = TestPaths.golden["tokenize_pair"] as! [String: Any]
        let e = m.tokenizer.encode(pair["a"] as! String, pair["b"] as? String)
        XCTAssertEqual(e.ids, pair["ids"] as! [Int])
        XCTAssertEqual(e.typeIds, pair["type_ids"] as! [Int])
    }

    func testEverySiteKindMatchesTransformers() throws {
        let m = try defaultModel()
        for entry in TestPaths.golden["sites"] as! [[String: Any]] {
            let text = entry["text"] as! String
            XCTAssertEqual(m.tokenizer.encode(text).ids, entry["ids"] as! [Int])
            let acts = try m.run(text)
            var worst: [String: Float] = [:]
            for (name, spec) in entry["sites"] as! [String: [String: Any]] {
                let site = try Site.parse(name, config: m.config, hasMLM: false)
                let t = try acts.site(site)
                XCTAssertEqual(t.shape, spec["shape"] as! [Int], name)
                let tol: Float = site.kind == .pattern ? 1e-5 : 1e-4
                var maxDiff: Float = 0
                for s in spec["samples"] as! [[Double]] {
                    let d = abs(t.data[Int(s[0])] - Float(s[1]))
                    maxDiff = max(maxDiff, d)
                }
                XCTAssertLessThanOrEqual(maxDiff, tol, "\(text) \(name)")
                let kind = site.kind.rawValue
                worst[kind] = max(worst[kind] ?? 0, maxDiff)
            }
            for (k, v) in worst.sorted(by: { $0.key < $1.key }) { print(String(format: "golden %-18@ max |diff| %.2e  (%@)", k, v, text)) }
        }
    }

    func testDoneWhenValue() throws {
        let m = try defaultModel()
        let check = TestPaths.golden["check"] as! [String: Any]
        let acts = try m.run(check["text"] as! String)
        let v = try acts.site(Site.parse(check["site"] as! String, config: m.config, hasMLM: false)).get([2, 300])
        XCTAssertEqual(Double(v), check["value"] as! Double, accuracy: 1e-5)
    }

    func testPaddedBatchEqualsSingleRuns() throws {
        let m = try defaultModel()
        let texts = ["i hate kickshaws", "a much longer sentence about dogs and cats and birds", "hi"]
        let enc = texts.map { m.tokenizer.encode($0).ids }
        let batch = try m.forward(InputBatch(ids: enc))
        for (b, ids) in enc.enumerated() {
            let single = try m.run(ids: ids)
            for site in [Site(.residPost, layer: 5), Site(.pattern, layer: 2), Site(.mlpPost, layer: 4)] {
                let d = Tensor.maxAbsDiff(try batch.site(site, batch: b).data, try single.site(site).data)
                XCTAssertLessThan(d, 2e-5, "\(site) sequence \(b)")
            }
        }
    }

    /// A batch past the streaming kernels' row limit runs its products against packed weights (gemm.c; OpenBLAS where
    /// the CPU lacks AVX-512), split across threads; every site must equal the single runs, which take the streaming
    /// path, to 2e-6 of the site's largest value (about 16 ulp: the two sum K products in different orders, and a
    /// 1536-term FFN sum of values up to 22 differs by 2.5e-5 packed, 1.3e-5 in OpenBLAS). The deepest layer's rows-only pass (search, discrete scoring) is checked on the same batch.
    func testBatchOnTheBLASPathEqualsSingleRuns() throws {
        let m = try defaultModel()
        let texts = (0..<8).map { "sentence number \($0) about the weather and the sea" }
        let enc = texts.map { m.tokenizer.encode($0).ids }
        XCTAssertGreaterThan(enc.count * enc[0].count, smallMThreshold, "the batch must reach the BLAS path")
        let batch = try m.forward(InputBatch(ids: enc))
        let site5 = Site(.residPost, layer: 5)
        let rows = try m.forward(InputBatch(ids: enc), keep: [site5], lastLayerRows: [3])
        for (b, ids) in enc.enumerated() {
            let single = try m.run(ids: ids)
            for site in [Site(.attnOut, layer: 1), Site(.mlpPre, layer: 2), Site(.mlpPost, layer: 3), Site(.mlpOut, layer: 4),
                         Site(.residMid, layer: 5), site5] {
                let want = try single.site(site).data
                let d = Tensor.maxAbsDiff(try batch.site(site, batch: b).data, want)
                XCTAssertLessThan(d, 2e-6 * max(1, want.map(abs).max()!), "\(site) sequence \(b)")
            }
            let want = try single.site(site5).data, got = try rows.site(site5, batch: b).data
            let H = m.config.hiddenSize
            XCTAssertLessThan(Tensor.maxAbsDiff(Array(got[(3 * H)..<(4 * H)]), Array(want[(3 * H)..<(4 * H)])), 2e-5, "rows-only pass, sequence \(b)")
        }
    }

    /// A forward without gradients runs whole-sequence groups side by side (token search, the discrete method's
    /// candidates, batches that keep sites): forced into 1, 2 and 3 groups (so on any thread count), every kept site,
    /// the rows-only deepest layer and the MLM head equal the one-group pass bit for bit, and a bad token anywhere is
    /// reported with its place in the whole batch.
    /// Query row r of every head of a (NH,T,T) attention site.
    func queryRow(_ p: [Float], _ r: Int, heads: Int, T: Int) -> [Float] {
        var out: [Float] = []
        for h in 0..<heads { let start = (h * T + r) * T; out += p[start..<(start + T)] }
        return out
    }

    func testGroupedForwardEqualsTheOnePassForward() throws {
        let fp = try defaultModel()
        let enc = (0..<96).map { fp.tokenizer.encode("sentence \($0) of a batch scored side by side").ids }
        let batch = InputBatch(ids: enc)
        let site = Site(.residPost, layer: 4), mid = Site(.mlpPost, layer: 2), pattern = Site(.pattern, layer: 4)
        let sharedBefore = SharedFirstLayer.enabled
        defer { PackedLinear.enabled = dl_gemm_packed_available() != 0; dl_bf16_use_native(1); SharedFirstLayer.enabled = sharedBefore }
        // The packed products with and without the shared layer 0 (these sentences differ at one position only),
        // OpenBLAS's (CPUs without AVX-512), and the bf16 mode's fp32 route.
        for route in ["packed", "packed, every layer 0 in full", "OpenBLAS", "bf16"] {
            SharedFirstLayer.enabled = route != "packed, every layer 0 in full"

            PackedLinear.enabled = route != "OpenBLAS" && dl_gemm_packed_available() != 0
            dl_bf16_use_native(route == "bf16" ? 0 : 1)
            let m = route == "bf16" ? fp.converted(to: .bf16) : fp
            for rows in [nil, [3]] as [[Int]?] {
                let one = try m.forward(batch, upTo: 4, withMLM: false, wordRows: nil, keep: [site, mid, pattern], lastLayerRows: rows, groups: 1)
                for groups in [2, 3] {
                    let g = try m.forward(batch, upTo: 4, withMLM: false, wordRows: nil, keep: [site, mid, pattern], lastLayerRows: rows, groups: groups)
                    let label = "\(route), \(groups) groups, rows \(rows ?? [])"
                    XCTAssertEqual(g.deepestRows, one.deepestRows, label)
                    for b in 0..<batch.B {
                        XCTAssertEqual(try g.site(mid, batch: b).data, try one.site(mid, batch: b).data, "\(label), sequence \(b)")
                        var want = try one.site(site, batch: b).data, got = try g.site(site, batch: b).data
                        var wantP = try one.site(pattern, batch: b).data, gotP = try g.site(pattern, batch: b).data
                        if let rows {   // the rows-only layer sets its rows alone: (T,H) at row r, (NH,T,T) at query r
                            let H = m.config.hiddenSize, T = batch.T, r = rows[0]
                            want = Array(want[(r * H)..<((r + 1) * H)]); got = Array(got[(r * H)..<((r + 1) * H)])
                            wantP = queryRow(wantP, r, heads: m.config.numHeads, T: T); gotP = queryRow(gotP, r, heads: m.config.numHeads, T: T)
                        }
                        XCTAssertEqual(got, want, "\(label), sequence \(b)")
                        XCTAssertEqual(gotP, wantP, "\(label), pattern, sequence \(b)")
                    }
                }
            }
        }
        let m = fp
        // The MLM head after grouped layers (a random model with one).
        let rm = try RandomBert.model(BertConfig(hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 48, vocabSize: 300), seed: 3, withMLM: true)
        let ids = (0..<40).map { s in [1] + (0..<10).map { (s * 7 + $0 * 13) % 290 + 5 } + [2] }
        let one = try rm.forward(InputBatch(ids: ids), upTo: nil, withMLM: true, wordRows: nil, keep: [], lastLayerRows: nil, groups: 1)
        let three = try rm.forward(InputBatch(ids: ids), upTo: nil, withMLM: true, wordRows: nil, keep: [], lastLayerRows: nil, groups: 3)
        XCTAssertEqual(three.mlm!.logits.array, one.mlm!.logits.array, "MLM logits after grouped layers")
        var bad = enc
        bad[90][2] = m.config.vocabSize
        XCTAssertThrowsError(try m.forward(InputBatch(ids: bad), upTo: 4, withMLM: false, wordRows: nil, keep: [site], lastLayerRows: nil, groups: 2)) { e in
            XCTAssertTrue("\(e)".contains("token id \(m.config.vocabSize) at sequence 90"), "\(e)")
        }
    }

    /// Where nothing reads a layer's mlp_pre or mlp_post, its MLP runs in row blocks with the intermediate in L2
    /// (BertModel.mlpForward): the same kernels on the same rows, so every kept site is the same bit for bit, grouped
    /// or not, with the shared layer 0 or not; a kept mlp_post still holds every row.
    func testBlockedMLPGivesTheStoredMLPNumbers() throws {
        let m = try defaultModel()
        let (blockedBefore, sharedBefore) = (BertModel.blockedMLP, SharedFirstLayer.enabled)
        defer { BertModel.blockedMLP = blockedBefore; SharedFirstLayer.enabled = sharedBefore }
        let saved = sideBySideRows
        defer { sideBySideRows = saved }
        let L = m.config.numLayers
        let kept: Set<Site> = [Site(.residPost, layer: 1), Site(.mlpPost, layer: 2), Site(.residPost, layer: L - 1)]
        // One pass blocks its MLP from two blocks of 112 rows a thread (about 12 rows a sentence here); a group always.
        let onePass = 2 * 112 * Threads.running / 10 + 4
        for (label, count, side) in [("one pass", onePass, Int.max / 4), ("grouped", 100, 8), ("one pass, one block a thread: split products", 8, Int.max / 4)] {
            sideBySideRows = side
            let batch = InputBatch(ids: (0..<count).map { m.tokenizer.encode("the blocked mlp, sentence \($0)" + String(repeating: " again", count: $0 % 4)).ids })
            for rows in [nil, [2]] as [[Int]?] {
                BertModel.blockedMLP = false
                let stored = try m.forward(batch, upTo: L - 1, keep: kept, lastLayerRows: rows)
                BertModel.blockedMLP = true
                let before = BertModel.blockedMLPPasses.load(ordering: .relaxed)
                let blocked = try m.forward(batch, upTo: L - 1, keep: kept, lastLayerRows: rows)
                let passes = BertModel.blockedMLPPasses.load(ordering: .relaxed) - before
                if label.hasSuffix("split products") { XCTAssertEqual(passes, 0, label) } else { XCTAssertGreaterThan(passes, 0, label) }
                for b in 0..<count {
                    for site in kept where site.layer < L - 1 {
                        XCTAssertEqual(try blocked.site(site, batch: b).data, try stored.site(site, batch: b).data, "\(label), \(site), sequence \(b)")
                    }
                    let x = try blocked.site(Site(.residPost, layer: L - 1), batch: b).data, y = try stored.site(Site(.residPost, layer: L - 1), batch: b).data
                    if let r = rows?.first {
                        let H = m.config.hiddenSize
                        XCTAssertEqual(Array(x[(r * H)..<((r + 1) * H)]), Array(y[(r * H)..<((r + 1) * H)]), "\(label), rows-only last layer, sequence \(b)")
                    } else {
                        XCTAssertEqual(x, y, "\(label), last layer, sequence \(b)")
                    }
                }
            }
        }
    }

    func testBalancedGroupsFollowTheMeasuredSpeedsAndChangeNoNumber() throws {
        let balance = GroupBalance.shared
        defer { balance.reset() }
        balance.reset()
        XCTAssertEqual(balance.bounds(B: 100, groups: 2), [0, 50, 100], "nothing measured: even shares")
        balance.reset(rates: [1100, 1000])
        XCTAssertEqual(balance.bounds(B: 100, groups: 2), [0, 50, 100], "within the dead band (noise on a calm machine): even shares")
        balance.reset(rates: [3000, 1000])
        XCTAssertEqual(balance.bounds(B: 100, groups: 2), [0, 75, 100], "a thread three times as fast takes three quarters")
        balance.reset(rates: [100_000, 1])
        XCTAssertEqual(balance.bounds(B: 100, groups: 2), [0, 80, 100], "a stale estimate still leaves the slow thread 20% (half an even share, then normalised)")
        XCTAssertEqual(balance.bounds(B: 2, groups: 2), [0, 1, 2], "every group keeps a sequence")
        balance.reset(rates: [1, 1, 100_000])
        XCTAssertEqual(balance.bounds(B: 3, groups: 3), [0, 1, 2, 3])
        // Measures move the estimate halfway.
        balance.reset()
        balance.record(chunk: 1, rows: 100, seconds: 1)
        balance.record(chunk: 0, rows: 300, seconds: 1)
        balance.record(chunk: 1, rows: 300, seconds: 1)
        XCTAssertEqual(balance.measuredRates, [300, 200])

        balance.reset(rates: [1000, 100])
        XCTAssertEqual(balance.bounds(B: 96, groups: 2), [0, 75, 96], "ten times as fast: the slow share is raised to half an even share (0.25), then both are normalised")

        // A forward whose groups follow skewed speeds gives the one-pass numbers bit for bit, with layer 0 in full
        // (sentences of different tokens) and shared (one position differs), on any number of threads.
        let m = try defaultModel()
        let saved = sideBySideRows
        sideBySideRows = 8   // groups form on any thread count
        defer { sideBySideRows = saved }
        let site = Site(.residPost, layer: 3)
        for (label, text) in [("layer 0 in full", { (i: Int) in "sentence \(i) of a batch split unevenly" + String(repeating: " more", count: i % 3) }),
                              ("shared layer 0", { (i: Int) in "sentence \(i) of a batch split unevenly" })] {
            let batch = InputBatch(ids: (0..<96).map { m.tokenizer.encode(text($0)).ids })
            XCTAssertEqual(m.singleSwapPosition(batch) != nil, label == "shared layer 0", label)
            let one = try m.forward(batch, upTo: 3, withMLM: false, wordRows: nil, keep: [site], lastLayerRows: nil, groups: 1)
            balance.reset()
            _ = try m.forward(batch, upTo: 3, keep: [site])
            if Threads.running >= 2 { XCTAssertEqual(balance.measuredRates.filter { $0 > 0 }.count, Threads.running, "\(label): the grouped path measured each thread") }
            balance.reset(rates: [1000] + [Double](repeating: 100, count: max(1, Threads.running - 1)))
            let skewed = try m.forward(batch, upTo: 3, keep: [site])
            for b in 0..<batch.B { XCTAssertEqual(try skewed.site(site, batch: b).data, try one.site(site, batch: b).data, "\(label), sequence \(b)") }
        }
    }

    func testTruncatedForwardStopsAtLayer() throws {
        let m = try defaultModel()
        let full = try m.run("i hate kickshaws")
        let part = try m.forward(InputBatch(ids: [m.tokenizer.encode("i hate kickshaws").ids]), upTo: 2)
        XCTAssertEqual(part.layers.count, 3)
        XCTAssertEqual(try part.site(Site(.residPost, layer: 2)).data, try full.site(Site(.residPost, layer: 2)).data)
        assertThrows(try part.site(Site(.residPost, layer: 4)), contains: ["not computed"])
    }

    func testForwardOnlyModeKeepsAskedSitesExact() throws {
        let m = try defaultModel()
        let ids = m.tokenizer.encode("keep only what is asked for").ids
        let full = try m.run(ids: ids)
        let lean = try m.forward(InputBatch(ids: [ids]), keep: [Site(.residPost, layer: 2), Site(.pattern, layer: 4)])
        XCTAssertEqual(try lean.site(Site(.residPost, layer: 2)).data, try full.site(Site(.residPost, layer: 2)).data)
        XCTAssertEqual(try lean.site(Site(.pattern, layer: 4)).data, try full.site(Site(.pattern, layer: 4)).data)
        XCTAssertEqual(try lean.site(Site(.residPost, layer: 5)).data, try full.site(Site(.residPost, layer: 5)).data)
        assertThrows(try lean.site(Site(.mlpPost, layer: 1)), contains: ["not computed"])
    }

    func testLastLayerRowsMatchTheFullPass() throws {
        let m = try defaultModel()
        let seqs = ["i hate kickshaws", "a longer sentence with padding in the batch", "hi"].map { m.tokenizer.encode($0).ids }
        let batch = InputBatch(ids: seqs)
        let full = try m.forward(batch)
        let lean = try m.forward(batch, keep: [Site(.residPost, layer: 5), Site(.pattern, layer: 5)], lastLayerRows: [0, 2])
        for b in 0..<3 {
            let f = try full.site(Site(.residPost, layer: 5), batch: b), l = try lean.site(Site(.residPost, layer: 5), batch: b)
            for row in [0, 2] {
                XCTAssertLessThan(Tensor.maxAbsDiff(Array(f.data[(row * 384)..<((row + 1) * 384)]), Array(l.data[(row * 384)..<((row + 1) * 384)])), 1e-5)
            }
            let fp = try full.site(Site(.pattern, layer: 5), batch: b), lp = try lean.site(Site(.pattern, layer: 5), batch: b)
            let T = seqs[b].count
            for h in 0..<12 { for j in 0..<T {
                XCTAssertEqual(fp.data[(h * T + 2) * T + j], lp.data[(h * T + 2) * T + j], accuracy: 1e-6)
            } }
        }
        // Earlier layers are untouched by the pruning.
        XCTAssertEqual(try lean.site(Site(.residPost, layer: 3), batch: 1).data, try full.site(Site(.residPost, layer: 3), batch: 1).data)
    }
}
