import Foundation

/// How embedding neighbours are measured: Euclidean distance (smaller is closer) or cosine similarity (larger is closer).
public enum EmbeddingMetric: String, Sendable, CaseIterable { case euclidean, cosine }

public struct Neighbour: Sendable {
    public let id: Int
    public let token: String
    /// Euclidean distance, or cosine similarity, to the query token's input embedding.
    public let value: Float
}

/// The k tokens whose input embeddings lie closest to (or, with `furthest`, furthest from) a token's, as PAIR's
/// similar_embedding_activation.py looks them up; the token itself is included (at distance 0), as in PAIR.
/// Reads the embedding matrix once: (V,H) -> k rows.
public func embeddingNeighbours(model: BertModel, of token: Int, k: Int, metric: EmbeddingMetric = .euclidean,
                                furthest: Bool = false) throws -> [Neighbour] {
    let V = model.config.vocabSize, H = model.config.hiddenSize
    guard token >= 0 && token < V else { throw DreamlabError.outOfRange("token id \(token) is outside the vocabulary 0...\(V - 1)") }
    guard k >= 1 && k <= V else { throw DreamlabError.outOfRange("k must be in 1...\(V) (the vocabulary size), got \(k)") }
    let E = model.weights.wordEmbeddings.ptr, q = E + token * H
    var qNorm: Float = 0
    for h in 0..<H { qNorm += q[h] * q[h] }
    qNorm = qNorm.squareRoot()
    var best = BestK<Int>(k)
    for j in 0..<V {
        let row = E + j * H
        var value: Float = 0
        switch metric {
        case .euclidean:
            for h in 0..<H { let d = row[h] - q[h]; value += d * d }
            value = value.squareRoot()
        case .cosine:
            var dot: Float = 0, n: Float = 0
            for h in 0..<H { dot += row[h] * q[h]; n += row[h] * row[h] }
            value = dot / max(n.squareRoot() * qNorm, 1e-8)   // torch's cosine_similarity clamps the norms' product
        }
        // Closest: smallest distance or largest similarity; furthest: the opposite.
        let closeness = metric == .euclidean ? -value : value
        best.offer(furthest ? -closeness : closeness, j)
    }
    return best.entries.map { e in
        let closeness = furthest ? -e.score : e.score
        return Neighbour(id: e.item, token: model.tokenizer.idToToken[e.item], value: metric == .euclidean ? -closeness : closeness)
    }
}

/// closest_to_<sentence>_<w>.json, PAIR's similar_embedding_activation.py output.
public struct SimilarEmbeddingsFile: Codable, Sendable {
    public var type = "similar_embeddings"
    public let sentence: String
    public let layerId: Int, neuronId: Int, wordId: Int, changeWord: Int
    public let cosine: Bool
    public let tokens: [String]
    public let tops: [Top]
    public let furthest: Double?
    public struct Top: Codable, Sendable {
        public let token: String, activation: Double?, distance: Double?
        public init(token: String, activation: Double?, distance: Double?) { self.token = token; self.activation = activation; self.distance = distance }
    }
    enum CodingKeys: String, CodingKey {
        case type, sentence, cosine, tokens, tops, furthest
        case layerId = "layer_id", neuronId = "neuron_id", wordId = "word_id", changeWord = "change_word"
    }
    public init(sentence: String, layerId: Int, neuronId: Int, wordId: Int, changeWord: Int, cosine: Bool, tokens: [String], tops: [Top], furthest: Double?) {
        self.sentence = sentence; self.layerId = layerId; self.neuronId = neuronId; self.wordId = wordId; self.changeWord = changeWord
        self.cosine = cosine; self.tokens = tokens; self.tops = tops; self.furthest = furthest
    }
}

/// The nearest tokens by cosine of word embeddings, for the discrete method's proposals. Lists are computed on first
/// use and kept; `prepare` computes every missing one of a batch in one product, so E (V,H) is read once per batch
/// rather than once per token.
final class CosineNeighbourLists {
    let model: BertModel
    let k: Int
    let excluded: [Bool]          // (V): tokens never listed
    let invNorm: [Float]          // (V): 1/‖E[j]‖, 0 for a zero row (the surrogate's features reuse it)
    private var lists: [Int: [Int]] = [:]

    init(model: BertModel, k: Int, excluded: [Bool]) {
        self.model = model; self.k = k; self.excluded = excluded
        invNorm = embeddingInverseNorms(model)
    }

    /// Computes the lists of the tokens not seen yet: dots (M,V) = E[tokens] (M,H) · E (V,H)^T, one pass over E.
    func prepare(_ tokens: some Sequence<Int>) {
        let missing = Array(Set(tokens).filter { lists[$0] == nil }).sorted()
        guard !missing.isEmpty else { return }
        let V = model.config.vocabSize, H = model.config.hiddenSize, E = model.weights.wordEmbeddings.ptr
        let queries = FloatBuffer(count: missing.count * H)
        for (m, t) in missing.enumerated() { (queries.ptr + m * H).update(from: E + t * H, count: H) }
        let dots = FloatBuffer(count: missing.count * V)
        matmulNT(dots.ptr, queries.ptr, E, nil, M: missing.count, N: V, K: H, streaming: true)
        for (m, t) in missing.enumerated() {
            let row = dots.ptr + m * V
            var best = BestK<Int>(k)
            for j in 0..<V where j != t && !excluded[j] { best.offer(row[j] * invNorm[j], j) }
            lists[t] = best.items
        }
    }

    /// The nearest tokens to t, closest first (t itself and the excluded tokens left out).
    func callAsFunction(_ t: Int) -> [Int] {
        if lists[t] == nil { prepare([t]) }
        return lists[t]!
    }
}

/// Σ x[i]², in eight running sums (a single chain waits on every add).
func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= count {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        acc += v * v
        i += 8
    }
    var s = acc.sum()
    while i < count { s += x[i] * x[i]; i += 1 }
    return s
}

/// (V): 1/‖E[j]‖ for each word embedding, 0 for a zero row: cosine neighbours and the surrogate's unit features.
func embeddingInverseNorms(_ model: BertModel) -> [Float] {
    let H = model.config.hiddenSize, E = model.weights.wordEmbeddings.ptr
    return (0..<model.config.vocabSize).map { j in
        let s = sumOfSquares(E + j * H, count: H)
        return s > 0 ? 1 / s.squareRoot() : 0
    }
}
