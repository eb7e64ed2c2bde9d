import CKernels
import Foundation
import Synchronization

/// A BERT checkpoint loaded from a Hugging Face directory: config, weights, tokenizer.
public final class BertModel: @unchecked Sendable {
    public let config: BertConfig
    public let weights: BertWeights
    public let tokenizer: WordPieceTokenizer
    public let directory: String
    public var hasMLM: Bool { weights.mlm != nil }

    public init(config: BertConfig, weights: BertWeights, tokenizer: WordPieceTokenizer, directory: String) {
        self.config = config; self.weights = weights; self.tokenizer = tokenizer; self.directory = directory
    }

    /// Loads `config.json`, `model.safetensors` and the tokenizer from a model directory.
    public convenience init(directory: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw DreamlabError.missingModel("\(directory): no such model directory; give a Hugging Face BERT directory (config.json, vocab.txt, model.safetensors), or run scripts/lab once to fetch the default model")
        }
        let config = try BertConfig.load(path: directory + "/config.json")
        let stPath = directory + "/model.safetensors"
        guard fm.fileExists(atPath: stPath) else {
            let hint = fm.fileExists(atPath: directory + "/pytorch_model.bin") ? " (this directory has only pytorch_model.bin; convert it with `save_pretrained(..., safe_serialization=True)`)" : ""
            throw DreamlabError.missingModel("\(stPath): not found; Dreamlab reads safetensors weights\(hint)")
        }
        let file = try SafetensorsFile(path: stPath)
        let weights = try BertWeights.load(file, config: config)
        let tokenizer = try WordPieceTokenizer.load(directory: directory)
        guard tokenizer.vocabSize == config.vocabSize else {
            throw DreamlabError.badConfig("\(directory): the vocabulary has \(tokenizer.vocabSize) tokens but config.json says vocab_size \(config.vocabSize); the tokenizer files do not belong to this model")
        }
        self.init(config: config, weights: weights, tokenizer: tokenizer, directory: directory)
    }
}

/// Sequences padded to a common length T. `lengths[b]` is each sequence's real length; keys past it are masked.
public struct InputBatch: Sendable {
    public var ids: [[Int]]
    public var typeIds: [[Int]]
    public let T: Int
    public var lengths: [Int]
    public var B: Int { ids.count }

    public init(ids: [[Int]], typeIds: [[Int]]? = nil, padId: Int = 0) {
        let T = ids.map(\.count).max() ?? 0
        self.T = T
        self.lengths = ids.map(\.count)
        self.ids = ids.map { $0 + [Int](repeating: padId, count: T - $0.count) }
        let types = typeIds ?? ids.map { [Int](repeating: 0, count: $0.count) }
        self.typeIds = types.map { $0 + [Int](repeating: 0, count: T - $0.count) }
    }
}

/// Everything one layer's forward saves: every site, plus what the backward needs (LayerNorm mean/rstd, q, k, v).
public final class LayerActivations: @unchecked Sendable {
    public let q, k, v: FloatBuffer          // (B,T,H)
    public let scores, pattern: FloatBuffer  // (B,NH,T,T)
    public let z: FloatBuffer                // (B,T,H) = (B,T,NH,hs)
    public let attnOut: FloatBuffer          // (B,T,H)
    public let sum1: FloatBuffer             // (B,T,H) x + attn_out, before LayerNorm 1
    public let residMid: FloatBuffer         // (B,T,H)
    public let ln1Mean, ln1Rstd: FloatBuffer // (B,T)
    public let mlpPre, mlpPost: FloatBuffer  // (B,T,I)
    public let mlpOut: FloatBuffer           // (B,T,H)
    public let sum2: FloatBuffer             // (B,T,H) resid_mid + mlp_out, before LayerNorm 2
    public let residPost: FloatBuffer        // (B,T,H)
    public let ln2Mean, ln2Rstd: FloatBuffer // (B,T)

    init(B: Int, T: Int, c: BertConfig) {
        let BTH = B * T * c.hiddenSize, BTI = B * T * c.intermediateSize, att = B * c.numHeads * T * T
        q = FloatBuffer(uninitialized: BTH); k = FloatBuffer(uninitialized: BTH); v = FloatBuffer(uninitialized: BTH)
        scores = FloatBuffer(uninitialized: att); pattern = FloatBuffer(uninitialized: att)
        z = FloatBuffer(uninitialized: BTH); attnOut = FloatBuffer(uninitialized: BTH); residMid = FloatBuffer(uninitialized: BTH)
        sum1 = FloatBuffer(uninitialized: BTH); sum2 = FloatBuffer(uninitialized: BTH)
        ln1Mean = FloatBuffer(uninitialized: B * T); ln1Rstd = FloatBuffer(uninitialized: B * T)
        mlpPre = FloatBuffer(uninitialized: BTI); mlpPost = FloatBuffer(uninitialized: BTI)
        mlpOut = FloatBuffer(uninitialized: BTH); residPost = FloatBuffer(uninitialized: BTH)
        ln2Mean = FloatBuffer(uninitialized: B * T); ln2Rstd = FloatBuffer(uninitialized: B * T)
    }

    /// A layer that writes its scratch into `shared`'s buffers and keeps only resid_post (and its LayerNorm stats) of
    /// its own: enough for the next layer's input and for objectives that read resid_post (PAIR's normalisation).
    init(sharing shared: LayerActivations, B: Int, T: Int, c: BertConfig) {
        q = shared.q; k = shared.k; v = shared.v; scores = shared.scores; pattern = shared.pattern; z = shared.z
        attnOut = shared.attnOut; residMid = shared.residMid; sum1 = shared.sum1; sum2 = shared.sum2
        ln1Mean = shared.ln1Mean; ln1Rstd = shared.ln1Rstd; mlpPre = shared.mlpPre; mlpPost = shared.mlpPost; mlpOut = shared.mlpOut
        residPost = FloatBuffer(uninitialized: B * T * c.hiddenSize)
        ln2Mean = FloatBuffer(uninitialized: B * T); ln2Rstd = FloatBuffer(uninitialized: B * T)
    }
}

/// The MLM head's record at N rows: every row of a batch (N = B·T), or only the rows a caller scores.
public final class MLMActivations: @unchecked Sendable {
    public let N: Int
    public let pre, post, normed: FloatBuffer  // (N,H)
    public let mean, rstd: FloatBuffer         // (N)
    public let logits: FloatBuffer             // (N,V)
    init(rows N: Int, c: BertConfig) {
        let NH = N * c.hiddenSize
        self.N = N
        pre = FloatBuffer(count: NH); post = FloatBuffer(count: NH); normed = FloatBuffer(count: NH)
        mean = FloatBuffer(count: N); rstd = FloatBuffer(count: N)
        logits = FloatBuffer(count: N * c.vocabSize)
    }
}

extension MLMHeadWeights {
    /// logits = LN(gelu(x W^T + b)) · D^T + bias.  x (N,H) -> (N,V), with the caches its backward needs.
    func forward(_ x: CFPtr, rows N: Int, c: BertConfig) -> MLMActivations {
        let m = MLMActivations(rows: N, c: c), H = c.hiddenSize
        transform.forward(m.pre.ptr, x, rows: N)
        geluForward(m.post.ptr, m.pre.ptr, N: N * H)
        layernormForward(m.normed.ptr, m.mean.ptr, m.rstd.ptr, m.post.ptr, ln.gamma.ptr, ln.beta.ptr, N: N, C: H, eps: c.layerNormEps)
        decode(m.logits.ptr, m.normed.ptr, rows: N, V: c.vocabSize, H: H)
        return m
    }

    /// dLogits (N,V) -> dx (N,H), accumulated.
    func backward(_ dx: FPtr, _ dLogits: CFPtr, _ m: MLMActivations, c: BertConfig) {
        let N = m.N, H = c.hiddenSize
        let dNormed = FloatBuffer(count: N * H), dPost = FloatBuffer(count: N * H), dPre = FloatBuffer(count: N * H)
        decodeBackward(dNormed.ptr, dLogits, rows: N, V: c.vocabSize, H: H)
        layernormBackward(dPost.ptr, dNormed.ptr, m.post.ptr, m.mean.ptr, m.rstd.ptr, ln.gamma.ptr, N: N, C: H)
        geluBackward(dPre.ptr, dPost.ptr, m.pre.ptr, N: N * H)
        transform.backward(dx, dPre.ptr, rows: N)
    }
}

/// The forward pass's record: every site for layers 0...deepestLayer, for every sequence in the batch.
public final class Activations: @unchecked Sendable {
    public let B: Int, T: Int
    public let config: BertConfig
    public let lengths: [Int]
    public let deepestLayer: Int
    public let embedSum: FloatBuffer            // (B,T,H) word + position + type, before the LayerNorm
    public let embed: FloatBuffer               // (B,T,H)
    public let embMean, embRstd: FloatBuffer    // (B,T)
    public let layers: [LayerActivations]
    public var mlm: MLMActivations?
    /// Set when the deepest layer ran at these positions only (`lastLayerRows`): its per-position buffers hold those
    /// rows (keys and values every row), and the backward undoes it at those rows (layerBackwardRows).
    public internal(set) var deepestRows: [Int]? = nil

    /// Layers whose sites were not asked for (`keep`) share one set of buffers, so a forward-only pass over a big
    /// batch holds one layer's activations, not all of them. Only the kept layers' sites can be read afterwards.
    public let keptLayers: Set<Int>?
    /// Layers with buffers of their own (a site besides resid_post kept, or the deepest); nil: every layer.
    let ownBuffers: Set<Int>?
    /// Whether anything may read layer l's sites besides resid_post (the MLP may skip storing mlp_pre and mlp_post).
    func storesSites(ofLayer l: Int) -> Bool { ownBuffers?.contains(l) ?? true }

    init(B: Int, T: Int, config c: BertConfig, lengths: [Int], deepestLayer: Int, keep: Set<Site>? = nil) {
        self.B = B; self.T = T; self.config = c; self.lengths = lengths; self.deepestLayer = deepestLayer
        embedSum = FloatBuffer(uninitialized: B * T * c.hiddenSize); embed = FloatBuffer(uninitialized: B * T * c.hiddenSize)
        embMean = FloatBuffer(uninitialized: B * T); embRstd = FloatBuffer(uninitialized: B * T)
        if let keep {
            // Layers whose only kept site is resid_post share the scratch buffers; layers with other kept sites get
            // their own. Every layer keeps its own resid_post: the next layer reads it.
            let full = Set(keep.filter { $0.kind != .residPost && $0.kind != .embed && $0.kind != .mlmLogits }.map(\.layer)).union([deepestLayer])
            keptLayers = Set(keep.map(\.layer)).union([deepestLayer])
            ownBuffers = full
            let shared = LayerActivations(B: B, T: T, c: c)
            layers = (0..<(deepestLayer + 1)).map {
                full.contains($0) ? LayerActivations(B: B, T: T, c: c) : LayerActivations(sharing: shared, B: B, T: T, c: c)
            }
        } else {
            keptLayers = nil
            ownBuffers = nil
            layers = (0..<(deepestLayer + 1)).map { _ in LayerActivations(B: B, T: T, c: c) }
        }
    }

    /// The buffer behind a site, with the per-sequence element count.
    public func buffer(_ site: Site) -> (FloatBuffer, Int)? {
        let c = config
        let th = T * c.hiddenSize, ti = T * c.intermediateSize, tt = c.numHeads * T * T
        if site.kind == .embed { return (embed, th) }
        if site.kind == .mlmLogits { return mlm.map { ($0.logits, T * c.vocabSize) } }
        guard site.layer >= 0 && site.layer < layers.count else { return nil }
        // A layer without buffers of its own kept resid_post alone; its other sites are another layer's scratch (or
        // never written: the blocked MLP skips mlp_pre and mlp_post there).
        if let own = ownBuffers, !own.contains(site.layer) && site.kind != .residPost { return nil }
        let a = layers[site.layer]
        switch site.kind {
        case .scores: return (a.scores, tt)
        case .pattern: return (a.pattern, tt)
        case .z: return (a.z, th)
        case .attnOut: return (a.attnOut, th)
        case .residMid: return (a.residMid, th)
        case .mlpPre: return (a.mlpPre, ti)
        case .mlpPost: return (a.mlpPost, ti)
        case .mlpOut: return (a.mlpOut, th)
        case .residPost: return (a.residPost, th)
        case .embed, .mlmLogits: return nil
        }
    }

    /// One sequence's site as a tensor, trimmed to that sequence's real length.
    public func site(_ site: Site, batch b: Int = 0) throws -> Tensor {
        guard let (buf, per) = buffer(site) else {
            throw DreamlabError.invalidArgument("site \(site) was not computed (or not kept) in this pass, which ran to layer \(deepestLayer); run the full model")
        }
        let L = lengths[b]
        let full = Array(UnsafeBufferPointer(start: buf.ptr + b * per, count: per))
        let shape = site.shape(T: T, config: config)
        if L == T { return Tensor(shape: shape, data: full) }
        // Trim padding: copy the leading L entries of each T-sized axis.
        let trimmed = site.shape(T: L, config: config)
        var out = [Float](); out.reserveCapacity(trimmed.reduce(1, *))
        switch site.kind {
        case .scores, .pattern:
            for h in 0..<config.numHeads { for i in 0..<L { for j in 0..<L { out.append(full[(h * T + i) * T + j]) } } }
        default:
            let row = per / T
            out.append(contentsOf: full[0..<(L * row)])
        }
        return Tensor(shape: trimmed, data: out)
    }
}

extension BertModel {
    /// Forward pass over a padded batch. Runs layers 0...upTo (all by default) and the MLM head when asked.
    /// `wordRows` (B,T,H), when given, replaces the word-embedding lookup: the dream loop passes p·E there.
    /// `keep`: the sites the caller will read; other layers share buffers (forward-only use). nil keeps everything,
    /// which the backward pass needs.
    /// `lastLayerRows`: compute the deepest layer only at these positions (its other rows stay unset); the backward
    /// then takes the objective's gradient at those rows only, as a `RowLimitedObjective` promises.
    public func forward(_ batch: InputBatch, upTo: Int? = nil, withMLM: Bool = false, wordRows: FloatBuffer? = nil,
                        keep: Set<Site>? = nil, lastLayerRows: [Int]? = nil) throws -> Activations {
        try forward(batch, upTo: upTo, withMLM: withMLM, wordRows: wordRows, keep: keep, lastLayerRows: lastLayerRows, groups: nil)
    }

    /// `groups`: how many whole-sequence groups run side by side (nil: as many as pay, see below; tests force more).
    func forward(_ batch: InputBatch, upTo: Int?, withMLM: Bool, wordRows: FloatBuffer?, keep: Set<Site>?, lastLayerRows: [Int]?,
                 groups forced: Int?) throws -> Activations {
        let c = config
        let deepest = min(upTo ?? (c.numLayers - 1), c.numLayers - 1)
        let B = batch.B, T = batch.T
        guard T <= c.maxPositions else {
            throw DreamlabError.outOfRange("sequence of \(T) tokens is longer than the model's \(c.maxPositions) positions; shorten the text")
        }
        for (b, row) in batch.ids.enumerated() {
            for (t, id) in row.enumerated() where id < 0 || id >= c.vocabSize {
                throw DreamlabError.outOfRange("token id \(id) at sequence \(b), position \(t) is outside 0...\(c.vocabSize - 1)")
            }
            for t in 0..<T where batch.typeIds[b][t] < 0 || batch.typeIds[b][t] >= c.typeVocabSize {
                throw DreamlabError.outOfRange("segment id \(batch.typeIds[b][t]) is outside 0...\(c.typeVocabSize - 1)")
            }
        }
        let acts = Activations(B: B, T: T, config: c, lengths: batch.lengths, deepestLayer: deepest, keep: keep)
        let w = weights
        let N = B * T

        // Batches scored without gradients (token search, the discrete method's candidates, a forward that keeps only
        // the sites it reads), at sideBySideRows rows a thread or more: whole sequences per thread, every product of a group
        // on its own thread. Splitting each product between the threads instead costs a hand-off and a wait per
        // product (the pool's waits were 9% of a search). Each product's kernel is the one the whole batch would take
        // (`kernelRows`), so the result is bit for bit the one-pass result under any thread count (tested).
        // Only when every thread gets a group: a node with more threads than groups would leave cores idle, and
        // there the split products use them all.
        let threads = Threads.running
        let groups = forced ?? (keep != nil && B >= threads && N >= threads * sideBySideRows ? threads : 1)
        let rowsOnly = lastLayerRows.flatMap { rows in !withMLM && rows.count < T ? rows : nil }
        // Single-token swaps at one position (token search, the discrete method at one position) share most of layer 0
        // (SharedFirstLayer), where no layer-0 site but resid_post is kept, in fp32 with the packed kernels.
        let shared = keep.flatMap { keep in
            wordRows == nil && deepest >= 1 && precision == .fp32 && SharedFirstLayer.enabled && PackedLinear.enabled && !keep.contains { $0.layer == 0 && $0.kind != .residPost } ? singleSwapPosition(batch) : nil
        }.map { sharedFirstLayer(batch, position: $0) }
        if groups < 2 {
            encode(acts, batch, sequences: 0..<B, wordRows: wordRows, deepest: deepest, lastLayerRows: rowsOnly, shared: shared)
        } else {
            if forced == nil {
                // One group a thread, sized by the threads' measured speeds (GroupBalance).
                runBalanced(B, chunks: groups, workPerItem: Double(T), balance: .shared) { b0, b1 in
                    self.encode(acts, batch, sequences: b0..<b1, wordRows: wordRows, deepest: deepest, lastLayerRows: rowsOnly, shared: shared)
                }
            } else {
                let bounds = (0...groups).map { $0 * B / groups }
                parallelChunks(groups, work: Int.max / 2) { _, g0, g1 in
                    for g in g0..<g1 {
                        self.encode(acts, batch, sequences: bounds[g]..<bounds[g + 1], wordRows: wordRows, deepest: deepest, lastLayerRows: rowsOnly, shared: shared)
                    }
                }
            }
        }
        if deepest >= 0, let rowsOnly { acts.deepestRows = rowsOnly }
        let x = deepest >= 0 ? acts.layers[deepest].residPost.ptr : acts.embed.ptr

        if withMLM {
            guard let head = w.mlm else {
                throw DreamlabError.invalidArgument("this checkpoint has no MLM head (cls.predictions.*); load one that has it, such as bert-base-uncased")
            }
            guard deepest == c.numLayers - 1 else { throw DreamlabError.invalidArgument("the MLM head needs every layer") }
            acts.mlm = head.forward(x, rows: N, c: c)
        }
        return acts
    }

    /// The embeddings and layers 0...deepest for sequences `seqs` of the batch (rows seqs·T), into `acts`.
    /// `lastLayerRows`: the deepest layer at these positions only (nil: every row).
    /// `shared`: layer 0 from a single-swap batch's shared part (SharedFirstLayer).
    private func encode(_ acts: Activations, _ batch: InputBatch, sequences seqs: Range<Int>, wordRows: FloatBuffer?, deepest: Int,
                        lastLayerRows: [Int]?, shared: SharedFirstLayer?) {
        let c = config, w = weights
        let T = batch.T, H = c.hiddenSize, NH = c.numHeads
        let B = seqs.count, N = B * T, r0 = seqs.lowerBound * T   // this group's sequences and its first row
        var firstLayer = 0
        if let shared {
            firstLayerOfSwaps(acts, batch, sequences: seqs, shared: shared)
            firstLayer = 1
        } else {
            // Embeddings: word (or the caller's p·E rows) + position + segment, then LayerNorm.
            let sum = acts.embedSum.ptr
            for b in seqs {
                for t in 0..<T {
                    let o = sum + (b * T + t) * H
                    let word = wordRows.map { $0.ptr + (b * T + t) * H } ?? (w.wordEmbeddings.ptr + batch.ids[b][t] * H)
                    let pos = w.positionEmbeddings.ptr + t * H
                    let typ = w.typeEmbeddings.ptr + batch.typeIds[b][t] * H
                    for i in 0..<H { o[i] = word[i] + pos[i] + typ[i] }
                }
            }
            parallelHalves(N, work: N * H * 8) { n0, n1 in
                let (n0, n1) = (n0 + r0, n1 + r0)
                layernormForward(acts.embed.ptr + n0 * H, acts.embMean.ptr + n0, acts.embRstd.ptr + n0, sum + n0 * H, w.embLN.gamma.ptr, w.embLN.beta.ptr,
                                 N: n1 - n0, C: H, eps: c.layerNormEps)
            }
        }

        var x = (firstLayer == 0 ? acts.embed.ptr : acts.layers[0].residPost.ptr) + r0 * H
        for l in firstLayer..<(deepest + 1) {
            let a = acts.layers[l], lw = w.layers[l]
            if l == deepest, let rows = lastLayerRows {
                layerForwardRows(a, lw, input: x, rows: rows, batch: batch, sequences: seqs)
                break
            }
            let rH = r0 * H, whole = batch.B * T
            lw.query.forward(a.q.ptr + rH, x, rows: N, kernelRows: whole)
            lw.key.forward(a.k.ptr + rH, x, rows: N, kernelRows: whole)
            lw.value.forward(a.v.ptr + rH, x, rows: N, kernelRows: whole)
            // Sequences are independent: the two cores take half the batch each.
            parallelHalves(B, work: B * NH * T * T * c.headDim * 4) { b0, b1 in
                let (b0, b1) = (b0 + seqs.lowerBound, b1 + seqs.lowerBound)
                let off = b0 * T * H, aoff = b0 * NH * T * T
                attentionForward(a.z.ptr + off, a.scores.ptr + aoff, a.pattern.ptr + aoff, a.q.ptr + off, a.k.ptr + off, a.v.ptr + off,
                                 lengths: Array(batch.lengths[b0..<b1]), B: b1 - b0, T: T, NH: NH, hs: c.headDim)
            }
            lw.attnOut.forward(a.attnOut.ptr + rH, a.z.ptr + rH, rows: N, kernelRows: whole)
            layerAfterAttention(acts, layer: l, input: x, firstRow: r0, rows: N, kernelRows: whole)
            x = a.residPost.ptr + rH
        }
    }

    /// Layer l after its attention output, for rows firstRow ..< firstRow+N: the residual and LayerNorm, the MLP, the
    /// residual and LayerNorm again, into resid_mid, mlp_out and resid_post. `input` is the layer's input at firstRow.
    func layerAfterAttention(_ acts: Activations, layer l: Int, input x: CFPtr, firstRow r0: Int, rows N: Int, kernelRows: Int) {
        let c = config, lw = weights.layers[l], a = acts.layers[l], H = c.hiddenSize, I = c.intermediateSize
        let rH = r0 * H, rI = r0 * I
        parallelHalves(N, work: N * H * 8) { n0, n1 in
            residualLayernormForward(a.residMid.ptr + rH + n0 * H, a.ln1Mean.ptr + r0 + n0, a.ln1Rstd.ptr + r0 + n0, a.sum1.ptr + rH + n0 * H,
                                     x + n0 * H, a.attnOut.ptr + rH + n0 * H, lw.ln1.gamma.ptr, lw.ln1.beta.ptr, N: n1 - n0, C: H, eps: c.layerNormEps)
        }
        mlpForward(a.mlpOut.ptr + rH, pre: a.mlpPre.ptr + rI, post: a.mlpPost.ptr + rI, a.residMid.ptr + rH, lw, rows: N, kernelRows: kernelRows,
                   stored: acts.storesSites(ofLayer: l))
        parallelHalves(N, work: N * H * 8) { n0, n1 in
            residualLayernormForward(a.residPost.ptr + rH + n0 * H, a.ln2Mean.ptr + r0 + n0, a.ln2Rstd.ptr + r0 + n0, a.sum2.ptr + rH + n0 * H,
                                     a.residMid.ptr + rH + n0 * H, a.mlpOut.ptr + rH + n0 * H, lw.ln2.gamma.ptr, lw.ln2.beta.ptr, N: n1 - n0, C: H, eps: c.layerNormEps)
        }
    }

    /// Off: the MLP always stores mlp_pre and mlp_post (tests compare the two; DREAMLAB_BLOCKED_MLP=0 turns it off).
    nonisolated(unsafe) static var blockedMLP = ProcessInfo.processInfo.environment["DREAMLAB_BLOCKED_MLP"] != "0"
    /// MLP passes that ran blocked (tests check that a case took that path).
    static let blockedMLPPasses = Atomic<Int>(0)

    /// mlp_out (N,H) = W2·GELU(W1·x + b1) + b2 for x (N,H), through pre and post (N,I). `stored` false (nothing reads
    /// the layer's mlp_pre or mlp_post): blocks of rows go through both products and the GELU with their (rows,I)
    /// intermediates kept in L2 (112 rows, 2 x 688 KB, on MiniLM; 56 on bert-base, where 112 measured 6-17% slower),
    /// so the (N,I) arrays never travel to memory and back; each row sums in the same kernel as the plain products
    /// (rows are independent), so the numbers are the same bit for bit.
    func mlpForward(_ out: FPtr, pre: FPtr, post: FPtr, _ x: CFPtr, _ lw: BertLayerWeights, rows N: Int, kernelRows: Int, stored: Bool) {
        let H = config.hiddenSize, I = config.intermediateSize
        // Rows a block: the two (rows,I) intermediates within 1.3 MB of L2 (112 rows on MiniLM, 56 on bert-base).
        let block = min(112, max(14, 112 * 1536 / I / 14 * 14)), blocks = (N + block - 1) / block
        // Blocks go to the threads whole: a pass that is not one group of a side-by-side batch (N below the batch's
        // rows) needs two blocks a thread, or the split products would use the cores better (the argmax inputs'
        // forward at restarts=8, 96 rows: 14.0-14.6 ms in one block against 9.2-11.3 split).
        let oneThread = N < kernelRows
        guard !stored, BertModel.blockedMLP, lw.ffnIn.bf16 == nil, packs(rows: kernelRows, bf16: false),
              oneThread || blocks >= 2 * Threads.count else {
            lw.ffnIn.forward(pre, x, rows: N, kernelRows: kernelRows)
            parallelHalves(N, work: N * I * 8) { n0, n1 in geluForward(post + n0 * I, pre + n0 * I, N: (n1 - n0) * I) }
            lw.ffnOut.forward(out, post, rows: N, kernelRows: kernelRows)
            return
        }
        BertModel.blockedMLPPasses.add(1, ordering: .relaxed)
        let up = lw.ffnIn.packed.forward(lw.ffnIn.weight, out: I, inp: H), down = lw.ffnOut.packed.forward(lw.ffnOut.weight, out: H, inp: I)
        parallelHalves(blocks, work: N * H * I * 2) { b0, b1 in
            // Two buffers: the vectorised GELU falls back to scalar code when its output overlaps its input.
            let blockPre = FloatBuffer(uninitialized: block * I), blockPost = FloatBuffer(uninitialized: block * I)
            for b in b0..<b1 {
                let m0 = b * block, m = min(block, N - m0)
                dl_gemm_packed(blockPre.ptr, x + m0 * H, up.ptr, lw.ffnIn.bias.ptr, Int32(I), Int32(H), 0, Int32(m), 0, Int32((I + 31) / 32), 0)
                geluForward(blockPost.ptr, blockPre.ptr, N: m * I)
                dl_gemm_packed(out + m0 * H, blockPost.ptr, down.ptr, lw.ffnOut.bias.ptr, Int32(H), Int32(I), 0, Int32(m), 0, Int32((H + 31) / 32), 0)
            }
        }
    }

    /// One layer at the given positions only (the deepest layer, when the objective reads only those rows; its
    /// backward is layerBackwardRows): keys and values come from every position, everything else from the chosen rows.
    /// Results land in those rows of the layer's buffers. `sequences`: the batch's sequences to run (x holds their
    /// rows); each product takes the kernel the whole batch's rows would, so a group sums as one pass does.
    func layerForwardRows(_ a: LayerActivations, _ lw: BertLayerWeights, input x: UnsafeMutablePointer<Float>, rows: [Int], batch: InputBatch,
                          sequences seqs: Range<Int>) {
        let c = config, B = seqs.count, b0 = seqs.lowerBound, T = batch.T, H = c.hiddenSize, I = c.intermediateSize, NH = c.numHeads, hs = c.headDim
        let R = rows.count, N = B * T, NR = B * R, wholeNR = batch.B * R
        let rH = b0 * T * H
        let scale = 1 / Float(hs).squareRoot()
        func gather(_ src: UnsafeMutablePointer<Float>, _ width: Int) -> FloatBuffer { gatherRows(src, width: width, rows: rows, B: B, T: T) }
        func scatter(_ src: FloatBuffer, _ dst: UnsafeMutablePointer<Float>, _ width: Int) {
            for b in 0..<B { for (r, t) in rows.enumerated() { (dst + ((b0 + b) * T + t) * width).update(from: src.ptr + (b * R + r) * width, count: width) } }
        }
        let xs = gather(x, H)
        let q = FloatBuffer(uninitialized: NR * H)
        lw.query.forward(q.ptr, xs.ptr, rows: NR, kernelRows: wholeNR)
        lw.key.forward(a.k.ptr + rH, x, rows: N, kernelRows: batch.B * T)
        lw.value.forward(a.v.ptr + rH, x, rows: N, kernelRows: batch.B * T)
        let z = FloatBuffer(uninitialized: NR * H)
        parallelHalves(B, work: B * NH * R * T * hs * 4) { lo, hi in
            for bl in lo..<hi {
                let b = b0 + bl
                for h in 0..<NH {
                    for (r, t) in rows.enumerated() {
                        let at = ((b * NH + h) * T + t) * T
                        attendRow(q.ptr + (bl * R + r) * H + h * hs, keys: a.k.ptr + b * T * H + h * hs, values: a.v.ptr + b * T * H + h * hs,
                                  stride: H, T: T, length: batch.lengths[b], hs: hs, scale: scale, own: nil,
                                  scores: a.scores.ptr + at, pattern: a.pattern.ptr + at, z: z.ptr + (bl * R + r) * H + h * hs)
                    }
                }
            }
        }
        let attnOut = FloatBuffer(uninitialized: NR * H), sum1 = FloatBuffer(uninitialized: NR * H), mid = FloatBuffer(uninitialized: NR * H)
        let m1 = FloatBuffer(uninitialized: NR), r1 = FloatBuffer(uninitialized: NR), m2 = FloatBuffer(uninitialized: NR), r2 = FloatBuffer(uninitialized: NR)
        lw.attnOut.forward(attnOut.ptr, z.ptr, rows: NR, kernelRows: wholeNR)
        residualLayernormForward(mid.ptr, m1.ptr, r1.ptr, sum1.ptr, xs.ptr, attnOut.ptr, lw.ln1.gamma.ptr, lw.ln1.beta.ptr, N: NR, C: H, eps: c.layerNormEps)
        let pre = FloatBuffer(uninitialized: NR * I), post = FloatBuffer(uninitialized: NR * I)
        let mlpOut = FloatBuffer(uninitialized: NR * H), sum2 = FloatBuffer(uninitialized: NR * H), out = FloatBuffer(uninitialized: NR * H)
        mlpForward(mlpOut.ptr, pre: pre.ptr, post: post.ptr, mid.ptr, lw, rows: NR, kernelRows: wholeNR, stored: true)
        residualLayernormForward(out.ptr, m2.ptr, r2.ptr, sum2.ptr, mid.ptr, mlpOut.ptr, lw.ln2.gamma.ptr, lw.ln2.beta.ptr, N: NR, C: H, eps: c.layerNormEps)
        scatter(q, a.q.ptr, H); scatter(z, a.z.ptr, H); scatter(attnOut, a.attnOut.ptr, H); scatter(sum1, a.sum1.ptr, H)
        scatter(mid, a.residMid.ptr, H); scatter(pre, a.mlpPre.ptr, I); scatter(post, a.mlpPost.ptr, I)
        scatter(mlpOut, a.mlpOut.ptr, H); scatter(sum2, a.sum2.ptr, H); scatter(out, a.residPost.ptr, H)
        scatter(m1, a.ln1Mean.ptr, 1); scatter(r1, a.ln1Rstd.ptr, 1); scatter(m2, a.ln2Mean.ptr, 1); scatter(r2, a.ln2Rstd.ptr, 1)
    }

    /// One head's query row against T keys: scores (T), softmax pattern (T), z (hs). Key and value j sit at
    /// keys/values + j·stride, masked from `length` on; `own` replaces one position's key and value (a frozen context's
    /// swapped row).
    @inline(__always)
    func attendRow(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, T: Int, length: Int, hs: Int,
                   scale: Float, own: (at: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>)?,
                   scores: UnsafeMutablePointer<Float>, pattern: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>) {
        var mx = -Float.infinity
        for j in 0..<T {
            let kj = j == own?.at ? own!.key : keys + j * stride
            var acc: Float = 0
            for d in 0..<hs { acc += q[d] * kj[d] }
            scores[j] = acc * scale + (j < length ? 0 : -Float.greatestFiniteMagnitude)
            mx = max(mx, scores[j])
        }
        var sum: Float = 0
        for j in 0..<T { pattern[j] = expf(scores[j] - mx); sum += pattern[j] }
        for d in 0..<hs { z[d] = 0 }
        for j in 0..<T {
            pattern[j] /= sum
            let p = pattern[j], vj = j == own?.at ? own!.value : values + j * stride
            for d in 0..<hs { z[d] += p * vj[d] }
        }
    }

    /// Encodes text (and an optional second segment) and runs one full forward pass.
    public func run(_ text: String, _ second: String? = nil, withMLM: Bool? = nil) throws -> Activations {
        let e = tokenizer.encode(text, second)
        return try run(ids: e.ids, typeIds: e.typeIds, withMLM: withMLM)
    }

    public func run(ids: [Int], typeIds: [Int]? = nil, withMLM: Bool? = nil) throws -> Activations {
        try forward(InputBatch(ids: [ids], typeIds: typeIds.map { [$0] }, padId: tokenizer.padId),
                    withMLM: withMLM ?? hasMLM)
    }
}

/// (B,T,width) -> (B·R,width): the given positions of every sequence, packed (the rows-only deepest layer).
func gatherRows(_ src: UnsafePointer<Float>, width: Int, rows: [Int], B: Int, T: Int) -> FloatBuffer {
    let R = rows.count
    let out = FloatBuffer(uninitialized: B * R * width)
    for b in 0..<B { for (r, t) in rows.enumerated() { (out.ptr + (b * R + r) * width).update(from: src + (b * T + t) * width, count: width) } }
    return out
}
