import CKernels
import Foundation

/// Fluency of a dreamed span: its pseudo-log-likelihood (PLL, Salazar et al. 2020) under a BERT with an MLM head.
/// Each dreamed position is replaced by [MASK] in turn and the token there scored by the head; all R·P masked copies
/// share one batched pass. The value is the mean log-probability per dreamed token (nats, ≤ 0), so a fluency weight λ
/// means the same thing for any span length. The scorer may be another model than the dreamed one, as long as the
/// vocabularies are identical (bert-base-uncased next to MiniLM, say): inputs are token ids or distributions over them.
public final class FluencyScorer: @unchecked Sendable {
    public let model: BertModel
    public let ids: [Int], typeIds: [Int]
    public let first: Int, last: Int
    public var P: Int { last - first + 1 }
    var T: Int { ids.count }
    var V: Int { model.config.vocabSize }
    let maskId: Int

    /// `dreamModel`: the model being dreamed, whose vocabulary the span's ids and distributions index.
    public init(model: BertModel, dreamModel: BertModel, ids: [Int], typeIds: [Int], first: Int, last: Int) throws {
        let name = (model.directory as NSString).lastPathComponent
        guard model.hasMLM else {
            throw DreamlabError.invalidArgument("\(name) has no MLM head (no cls.predictions.* weights), so it cannot score pseudo-log-likelihood; use a BERT that has one and the same vocabulary: fluency_model=\"bert-base-uncased\" in lab.dream, --fluency_model bert-base-uncased on the command line")
        }
        guard model.tokenizer.idToToken == dreamModel.tokenizer.idToToken else {
            throw DreamlabError.invalidArgument("fluency model \(name) has a different vocabulary (\(model.config.vocabSize) tokens) from the dreamed model \((dreamModel.directory as NSString).lastPathComponent) (\(dreamModel.config.vocabSize)); PLL needs the same token ids: pick a fluency model with the same vocab.txt (e.g. bert-base-uncased for uncased BERTs)")
        }
        guard let mask = model.tokenizer.maskId else {
            throw DreamlabError.invalidArgument("fluency model \(name) has no [MASK] token in its vocabulary; pick a BERT trained with masked language modelling")
        }
        guard first >= 1, last < ids.count - 1, first <= last else {
            throw DreamlabError.outOfRange("fluency span first=\(first), last=\(last) must lie inside 1...\(ids.count - 2)")
        }
        guard ids.count <= model.config.maxPositions else {
            throw DreamlabError.outOfRange("sequence of \(ids.count) tokens is longer than the fluency model's \(model.config.maxPositions) positions")
        }
        self.model = model; self.ids = ids; self.typeIds = typeIds; self.first = first; self.last = last; maskId = mask
    }

    /// The dreamed rows in the fluency model's embedding space, (R,P,H): E_f[id] for ids.
    public func rows(spans: [[Int]]) -> FloatBuffer {
        let H = model.config.hiddenSize, E = model.weights.wordEmbeddings.ptr
        let out = FloatBuffer(uninitialized: spans.count * P * H)
        for (r, span) in spans.enumerated() { for i in 0..<P { (out.ptr + (r * P + i) * H).update(from: E + span[i] * H, count: H) } }
        return out
    }

    /// The dreamed rows for distributions p (R,P,V): p·E_f.
    public func rows(soft p: [Float], R: Int) -> FloatBuffer {
        let H = model.config.hiddenSize
        let out = FloatBuffer(count: R * P * H)
        p.withUnsafeBufferPointer { model.weights.embeddingMix(out.ptr, $0.baseAddress!, M: R * P) }
        return out
    }

    /// What a dreamed position holds: a token id per (r,i), or a distribution (R,P,V).
    public enum Targets {
        case ids([[Int]])
        case soft([Float])
    }

    public struct Evaluation {
        public let pll: [Float]        // (R) mean log-probability per dreamed token
        public let logProbs: FloatBuffer   // (R,P,V) log q at each masked position: the exact gain of a one-token swap's own term
        public let dInput: [Float]?    // (R,P,V) d pll / d(one-hot or soft input), when asked
    }

    /// PLL of R spans; with `gradient`, also d pll / d input (R,P,V) through every masked copy (the context terms) plus
    /// each position's own log q (the scored term).
    public func evaluate(_ targets: Targets, rows dreamRows: FloatBuffer, R: Int, gradient: Bool) throws -> Evaluation {
        let c = model.config, H = c.hiddenSize, V = self.V, P = self.P, T = self.T, L = c.numLayers
        guard let head = model.weights.mlm else { throw DreamlabError.invalidArgument("fluency model lost its MLM head") }
        let E = model.weights.wordEmbeddings.ptr
        let B = R * P   // copy (r,i): member r with position first+i masked
        let word = FloatBuffer(uninitialized: B * T * H)
        var seqIds = [[Int]](), seqTypes = [[Int]]()
        for r in 0..<R { for i in 0..<P {
            let b = r * P + i
            for t in 0..<T {
                let dst = word.ptr + (b * T + t) * H
                if t == first + i { dst.update(from: E + maskId * H, count: H) }
                else if t >= first && t <= last { dst.update(from: dreamRows.ptr + (r * P + t - first) * H, count: H) }
                else { dst.update(from: E + ids[t] * H, count: H) }
            }
            var s = ids; s[first + i] = maskId
            seqIds.append(s); seqTypes.append(typeIds)
        } }
        let batch = InputBatch(ids: seqIds, typeIds: seqTypes, padId: model.tokenizer.padId)
        let top = Site(.residPost, layer: L - 1)
        let acts = try model.forward(batch, upTo: L - 1, wordRows: word, keep: gradient ? nil : [top],
                                     lastLayerRows: gradient ? nil : Array(first...last))
        guard let (hidden, _) = acts.buffer(top) else { throw DreamlabError.invalidArgument("fluency forward kept no final layer") }

        // The MLM head at the B masked rows only.  x (B,H) -> log q (B,V)
        let x = FloatBuffer(uninitialized: B * H)
        for b in 0..<B { (x.ptr + b * H).update(from: hidden.ptr + (b * T + first + b % P) * H, count: H) }
        let headActs = head.forward(x.ptr, rows: B, c: c)
        let logq = headActs.logits
        logSoftmaxRows(logq.ptr, rows: B, V: V)

        // pll[r] = mean_i Σ_v target(r,i,v) · log q(r,i,v)
        var pll = [Float](repeating: 0, count: R)
        for r in 0..<R {
            var s: Double = 0
            for i in 0..<P {
                let b = r * P + i
                switch targets {
                case .ids(let spans): s += Double(logq[b * V + spans[r][i]])
                case .soft(let p):
                    var acc: Double = 0
                    for v in 0..<V where p[b * V + v] != 0 { acc += Double(p[b * V + v]) * Double(logq[b * V + v]) }
                    s += acc
                }
            }
            pll[r] = Float(s / Double(P))
        }
        guard gradient else { return Evaluation(pll: pll, logProbs: logq, dInput: nil) }

        // d pll / d logits(b) = (target − q · Σ target) / P
        let scale = 1 / Float(P)
        let dLogits = FloatBuffer(count: B * V)
        for b in 0..<B {
            let d = dLogits.ptr + b * V
            var mass: Float = 1
            switch targets {
            case .ids(let spans): d[spans[b / P][b % P]] = scale
            case .soft(let p):
                mass = 0
                for v in 0..<V { d[v] = p[b * V + v] * scale; mass += p[b * V + v] }
            }
            for v in 0..<V { d[v] -= expf(logq[b * V + v]) * mass * scale }
        }
        let dx = FloatBuffer(count: B * H)
        head.backward(dx.ptr, dLogits.ptr, headActs, c: c)
        let grads = SiteGradients(B: B, T: T, config: c)
        let g = grads.buffer(top)
        for b in 0..<B { (g.ptr + (b * T + first + b % P) * H).update(from: dx.ptr + b * H, count: H) }
        let dWord = model.backward(acts, grads)

        // Position j of member r feeds every copy but its own (there it is [MASK]).
        let dRows = FloatBuffer(count: R * P * H)
        for r in 0..<R { for i in 0..<P { for j in 0..<P where j != i {
            let src = dWord.ptr + ((r * P + i) * T + first + j) * H, dst = dRows.ptr + (r * P + j) * H
            for h in 0..<H { dst[h] += src[h] }
        } } }
        var dIn = [Float](repeating: 0, count: R * P * V)
        dIn.withUnsafeMutableBufferPointer { model.weights.embeddingDots($0.baseAddress!, dRows.ptr, M: R * P) }
        for k in 0..<(R * P * V) { dIn[k] += logq[k] * scale }
        return Evaluation(pll: pll, logProbs: logq, dInput: dIn)
    }

    /// PLL of discrete spans, forward only.
    public func pll(_ spans: [[Int]]) throws -> [Float] {
        var out: [Float] = []
        var s0 = 0
        let chunk = max(1, 256 / P)   // at most ~256 masked copies per pass
        while s0 < spans.count {
            let part = Array(spans[s0..<min(s0 + chunk, spans.count)])
            out += try evaluate(.ids(part), rows: rows(spans: part), R: part.count, gradient: false).pll
            s0 += part.count
        }
        return out
    }
}

/// In-place log-softmax of each row.  x (rows,V) -> log softmax(x) (rows,V)
func logSoftmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, V: Int) {
    parallelHalves(rows, work: rows * V * 20) { r0, r1 in
        for r in r0..<r1 {
            let row = x + r * V
            var mx = -Float.infinity
            for v in 0..<V { mx = max(mx, row[v]) }
            var s: Double = 0
            for v in 0..<V { s += Double(expf(row[v] - mx)) }
            let lse = mx + Float(log(s))
            for v in 0..<V { row[v] -= lse }
        }
    }
}

/// A fluency term in a dream: score = activation + λ · PLL.
public struct FluencyTerm: @unchecked Sendable {
    public let model: BertModel
    public let lambda: Float
    public init(model: BertModel, lambda: Float) { self.model = model; self.lambda = lambda }

    /// The scorer for one dream's input, with λ beside it (checks the MLM head, vocabulary and span).
    func scorer(dreamModel: BertModel, ids: [Int], typeIds: [Int], first: Int, last: Int) throws -> (scorer: FluencyScorer, lambda: Float) {
        (try FluencyScorer(model: model, dreamModel: dreamModel, ids: ids, typeIds: typeIds, first: first, last: last), lambda)
    }
}

/// Indices of the points that no other point beats on both axes (both maximised), ordered by x ascending.
/// Exact duplicates count once (the first).
public func paretoFrontier(_ points: [(x: Float, y: Float)]) -> [Int] {
    let order = points.indices.sorted { points[$0].x != points[$1].x ? points[$0].x > points[$1].x : (points[$0].y != points[$1].y ? points[$0].y > points[$1].y : $0 < $1) }
    var keep: [Int] = []
    var bestY = -Float.infinity
    for i in order where points[i].y > bestY { keep.append(i); bestY = points[i].y }
    return keep.reversed()
}
