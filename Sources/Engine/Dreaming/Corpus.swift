import Foundation

public struct CorpusHit: Sendable {
    public let text: String
    public let activation: Float
    public let tokens: [String]
    public let activations: [Float]     // per token (empty for position-free objectives)
    public let line: Int
}

public struct CorpusResult: Sendable {
    public var hits: [CorpusHit]        // best first
    public var passages: Int
    public var seconds: Double
    public var interrupted: Bool
}

/// What a corpus pass scores: one unit of one site at every token (the passage scores its maximum), or any objective.
public enum CorpusScore {
    case unit(site: Site, unit: Int)
    case objective(ActivationObjective)
}

/// A corpus pass, as every front end asks for it.
public struct CorpusOptions: @unchecked Sendable {
    public var file = ""
    public var topk = 10
    /// Passages per forward pass.
    public var batch = 32
    /// Passages are cut to this many tokens (and to the model's positions).
    public var maxTokens = 128
    /// Called after each batch with (passages so far, fraction of the file read).
    public var onProgress: ((Int, Double) -> Void)? = nil

    public init() {}
}

/// Top corpus examples ("dataset examples"): streams a text file, one passage per line, through the model in batches,
/// keeping only a top-k, so memory stays bounded for files of any size. Ctrl-C keeps the partial top-k.
public func corpusTopK(model: BertModel, score: CorpusScore, options o: CorpusOptions) throws -> CorpusResult {
    let path = o.file, topk = o.topk, batchSize = o.batch, maxTokens = o.maxTokens, onProgress = o.onProgress
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
        throw DreamlabError.badFile("\(path): no such file (or it is a folder); give a text file with one passage per line")
    }
    guard (1...100_000).contains(topk) else { throw DreamlabError.invalidArgument("topk must be in 1...100000, got \(topk)") }
    guard (1...4096).contains(batchSize) else { throw DreamlabError.invalidArgument("batch must be in 1...4096, got \(batchSize)") }
    guard maxTokens >= 3 else { throw DreamlabError.invalidArgument("max_tokens must be >= 3 ([CLS], a token, [SEP]), got \(maxTokens)") }
    guard let fh = FileHandle(forReadingAtPath: path) else {
        throw DreamlabError.badFile("\(path): cannot open the corpus file; give a text file with one passage per line")
    }
    defer { try? fh.close() }
    let total = Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.doubleValue ?? 1)
    let maxT = min(maxTokens, model.config.maxPositions)
    var best = BestK<CorpusHit>(topk)
    var pending: [(String, [Int], Int)] = []
    var lineNo = 0, bytes = 0, pendingBytes = 0, passages = 0
    let start = Date()
    var interrupted = false

    func flush() throws {
        guard !pending.isEmpty else { return }
        let batch = InputBatch(ids: pending.map(\.1), padId: model.tokenizer.padId)
        switch score {
        case .unit(let site, let unit):
            let acts = try model.forward(batch, upTo: min(site.layer, model.config.numLayers - 1), withMLM: site.kind == .mlmLogits, keep: [site])
            for (b, p) in pending.enumerated() {
                let t = try acts.site(site, batch: b)
                let width = t.shape.dropFirst().reduce(1, *)
                guard unit >= 0 && unit < width else {
                    throw DreamlabError.outOfRange("unit \(unit) is outside 0...\(width - 1) for site \(site)")
                }
                let per = (0..<p.1.count).map { t.data[$0 * width + unit] }
                offer(CorpusHit(text: p.0, activation: per.max() ?? -.infinity, tokens: p.1.map { model.tokenizer.idToToken[$0] },
                                activations: per, line: p.2))
            }
        case .objective(let obj):
            let acts = try model.forward(batch, upTo: min(obj.deepestLayer, model.config.numLayers - 1), withMLM: obj.needsMLM, keep: Set(obj.sites))
            let values = try obj.evaluate(acts, grads: nil)
            for (p, v) in zip(pending, values) {
                offer(CorpusHit(text: p.0, activation: v, tokens: p.1.map { model.tokenizer.idToToken[$0] }, activations: [], line: p.2))
            }
        }
        passages += pending.count
        bytes += pendingBytes; pendingBytes = 0
        pending.removeAll(keepingCapacity: true)
        onProgress?(passages, Double(bytes) / max(total, 1))
    }
    func offer(_ h: CorpusHit) { best.offer(h.activation, h) }

    // Read in blocks and split lines ourselves: bounded memory whatever the file size.
    var carry = Data()
    while true {
        if interruptRequested.load(ordering: .relaxed) { interrupted = true; break }
        let block = fh.readData(ofLength: 1 << 20)
        var data = carry + block
        carry = Data()
        if !block.isEmpty, let lastNL = data.lastIndex(of: 0x0A) {
            carry = data.subdata(in: (lastNL + 1)..<data.endIndex)
            data = data.subdata(in: data.startIndex..<(lastNL + 1))
        } else if !block.isEmpty {
            carry = data; continue
        }
        for raw in data.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNo += 1
            pendingBytes += raw.count + 1   // progress counts the bytes of lines scored, not of lines read ahead
            let text = String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            var ids = model.tokenizer.encode(text).ids
            if ids.count > maxT { ids = Array(ids.prefix(maxT - 1)) + [model.tokenizer.sepId] }
            // A position-bound objective skips passages too short to have that position.
            if case .objective(let obj) = score, (try? obj.validate(model: model, T: ids.count)) == nil { continue }
            pending.append((text, ids, lineNo))
            if pending.count == batchSize { try flush() }
            if interruptRequested.load(ordering: .relaxed) { break }
        }
        if block.isEmpty { break }
    }
    if !interrupted { try flush() }
    return CorpusResult(hits: best.items, passages: passages, seconds: Date().timeIntervalSince(start), interrupted: interrupted)
}
