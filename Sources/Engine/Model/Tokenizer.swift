import Foundation

/// Hugging Face `BertTokenizer`, step for step: clean, split CJK, NFC, whitespace split, lower-case with accent
/// stripping, punctuation split, then greedy WordPiece with `##`. Special tokens such as `[MASK]` are split out
/// first and kept whole. Everything iterates over Unicode scalars, as the Python reference iterates over code points.
public struct WordPieceTokenizer: Sendable {
    public let idToToken: [String]
    private let tokenToId: [[UInt8]: Int]   // keyed by UTF-8 bytes: Swift String equality is canonical, Python's is not
    public let doLowerCase: Bool
    public let stripAccents: Bool?
    public let tokenizeChineseChars: Bool
    public let specialTokens: [String]
    public let maxCharsPerWord = 100

    public let clsId: Int, sepId: Int, padId: Int, unkId: Int, maskId: Int?

    public init(vocab: [String], doLowerCase: Bool = true, stripAccents: Bool? = nil, tokenizeChineseChars: Bool = true,
                extraSpecial: [String] = []) throws {
        idToToken = vocab
        var map: [[UInt8]: Int] = [:]
        for (i, t) in vocab.enumerated() where map[Array(t.utf8)] == nil { map[Array(t.utf8)] = i }
        tokenToId = map
        self.doLowerCase = doLowerCase
        self.stripAccents = stripAccents
        self.tokenizeChineseChars = tokenizeChineseChars
        func need(_ t: String) throws -> Int {
            guard let i = map[Array(t.utf8)] else { throw DreamlabError.badFile("vocabulary has no \(t) token; is this a BERT vocab.txt?") }
            return i
        }
        clsId = try need("[CLS]"); sepId = try need("[SEP]"); padId = try need("[PAD]"); unkId = try need("[UNK]")
        maskId = map[Array("[MASK]".utf8)]
        var specials = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"].filter { map[Array($0.utf8)] != nil }
        // An empty special token would match everywhere and never advance the encoder: skipped.
        for s in extraSpecial where !s.isEmpty && !specials.contains(s) && map[Array(s.utf8)] != nil { specials.append(s) }
        // Longest first, so that a special token that is a prefix of another never wins.
        specialTokens = specials.sorted { $0.unicodeScalars.count > $1.unicodeScalars.count }
    }

    /// Loads `vocab.txt` (or `tokenizer.json`) and `tokenizer_config.json` from a model directory.
    public static func load(directory dir: String) throws -> WordPieceTokenizer {
        let fm = FileManager.default
        var vocab: [String]
        if let bytes = fm.contents(atPath: dir + "/vocab.txt") {
            // Split on the byte: Swift treats "\r\n" as one Character, so a CRLF file would not split on "\n".
            vocab = []
            for (n, line) in bytes.split(separator: 10, omittingEmptySubsequences: false).enumerated() {
                guard let token = String(data: line.last == 13 ? line.dropLast() : line, encoding: .utf8) else {
                    throw DreamlabError.badFile("\(dir)/vocab.txt: line \(n + 1) is not UTF-8 text; a BERT vocab.txt holds one UTF-8 token per line")
                }
                vocab.append(token)
            }
            if vocab.last == "" { vocab.removeLast() }
        } else if let data = fm.contents(atPath: dir + "/tokenizer.json"),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let model = json["model"] as? [String: Any], let v = model["vocab"] as? [String: Int] {
            // Ids must number the entries 0..<count: a stray huge or negative id would allocate or index wildly.
            guard !v.isEmpty, v.count <= 10_000_000, let top = v.values.max(), let low = v.values.min(), low >= 0, top == v.count - 1,
                  Set(v.values).count == v.count else {
                throw DreamlabError.badFile("\(dir)/tokenizer.json: model.vocab ids must be 0...\(max(v.count - 1, 0)), each once; got \(v.count) entries with ids \(v.values.min() ?? 0)...\(v.values.max() ?? 0). Re-export the tokenizer, or give a vocab.txt")
            }
            vocab = [String](repeating: "", count: v.count)
            for (t, i) in v { vocab[i] = t }
        } else if fm.fileExists(atPath: dir + "/tokenizer.json") {
            throw DreamlabError.badFile("\(dir)/tokenizer.json: not a Hugging Face tokenizer with a model.vocab object of token ids; re-export it, or give a vocab.txt")
        } else {
            throw DreamlabError.badFile("\(dir): no readable vocab.txt or tokenizer.json; a BERT model directory needs one of them")
        }
        var lower = true, strip: Bool? = nil, cjk = true
        var extra: [String] = []
        if let data = fm.contents(atPath: dir + "/tokenizer_config.json") {
            guard let cfg = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw DreamlabError.badConfig("\(dir)/tokenizer_config.json: not a JSON object; fix or delete it")
            }
            if let v = cfg["do_lower_case"] as? Bool { lower = v }
            if let v = cfg["strip_accents"] as? Bool { strip = v }
            if let v = cfg["tokenize_chinese_chars"] as? Bool { cjk = v }
            if let v = cfg["additional_special_tokens"] as? [String] { extra = v }
        }
        do {
            return try WordPieceTokenizer(vocab: vocab, doLowerCase: lower, stripAccents: strip, tokenizeChineseChars: cjk,
                                          extraSpecial: extra)
        } catch DreamlabError.badFile(let msg) {
            throw DreamlabError.badFile("\(dir): \(msg)")
        }
    }

    public var vocabSize: Int { idToToken.count }

    public func id(of token: String) -> Int? { tokenToId[Array(token.utf8)] }

    // MARK: character classes, as in the reference

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        if c == " " || c == "\t" || c == "\n" || c == "\r" { return true }
        return c.properties.generalCategory == .spaceSeparator
    }
    static func isControl(_ c: Unicode.Scalar) -> Bool {
        if c == "\t" || c == "\n" || c == "\r" { return false }
        switch c.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }
    static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
        let cp = c.value
        if (33...47).contains(cp) || (58...64).contains(cp) || (91...96).contains(cp) || (123...126).contains(cp) { return true }
        switch c.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }
    static func isChinese(_ c: Unicode.Scalar) -> Bool {
        let cp = c.value
        return (0x4E00...0x9FFF).contains(cp) || (0x3400...0x4DBF).contains(cp) || (0x20000...0x2A6DF).contains(cp)
            || (0x2A700...0x2B73F).contains(cp) || (0x2B740...0x2B81F).contains(cp) || (0x2B820...0x2CEAF).contains(cp)
            || (0xF900...0xFAFF).contains(cp) || (0x2F800...0x2FA1F).contains(cp)
    }
    /// Python's `str.split()` separators.
    static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        if (0x1C...0x1F).contains(c.value) { return true }
        return c.properties.isWhitespace
    }

    static func splitPythonWhitespace(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var out: [[Unicode.Scalar]] = []
        var cur: [Unicode.Scalar] = []
        for c in s {
            if isPythonSpace(c) { if !cur.isEmpty { out.append(cur); cur = [] } } else { cur.append(c) }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Lower-casing as the reference does it: transformers lower-cases the text one character at a time
    /// before the basic tokenizer runs, so each code point takes its full lowercase mapping and Greek
    /// final sigma stays σ.
    static func pythonLower(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        for c in s { out.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars) }
        return out
    }

    static func stripAccentsFrom(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var str = String.UnicodeScalarView(); str.append(contentsOf: s)
        let nfd = String(str).decomposedStringWithCanonicalMapping
        return nfd.unicodeScalars.filter { $0.properties.generalCategory != .nonspacingMark }
    }

    // MARK: basic tokenizer

    func basicTokenize(_ text: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var cleaned: [Unicode.Scalar] = []
        for c in text {
            if c.value == 0 || c.value == 0xFFFD || Self.isControl(c) { continue }
            if Self.isWhitespace(c) { cleaned.append(" ") }
            else if tokenizeChineseChars && Self.isChinese(c) { cleaned.append(" "); cleaned.append(c); cleaned.append(" ") }
            else { cleaned.append(c) }
        }
        var view = String.UnicodeScalarView(); view.append(contentsOf: cleaned)
        let nfc = Array(String(view).precomposedStringWithCanonicalMapping.unicodeScalars)
        var pieces: [[Unicode.Scalar]] = []
        for var token in Self.splitPythonWhitespace(nfc) {
            if doLowerCase {
                token = Self.pythonLower(token)
                if stripAccents != false { token = Self.stripAccentsFrom(token) }
            } else if stripAccents == true {
                token = Self.stripAccentsFrom(token)
            }
            var cur: [Unicode.Scalar] = []
            for c in token {
                if Self.isPunctuation(c) {
                    if !cur.isEmpty { pieces.append(cur); cur = [] }
                    pieces.append([c])
                } else { cur.append(c) }
            }
            if !cur.isEmpty { pieces.append(cur) }
        }
        // The reference joins with spaces and splits again, which also splits on separators lower() produced.
        return pieces.flatMap { Self.splitPythonWhitespace($0) }
    }

    func wordPiece(_ word: [Unicode.Scalar], into out: inout [Int]) {
        if word.count > maxCharsPerWord { out.append(unkId); return }
        var start = 0
        var subIds: [Int] = []
        while start < word.count {
            var end = word.count
            var found: Int? = nil
            while start < end {
                var bytes: [UInt8] = start > 0 ? Array("##".utf8) : []
                for c in word[start..<end] { bytes.append(contentsOf: String(Character(c)).utf8) }
                if let id = tokenToId[bytes] { found = id; break }
                end -= 1
            }
            guard let id = found else { out.append(unkId); return }
            subIds.append(id)
            start = end
        }
        out.append(contentsOf: subIds)
    }

    /// Token ids of `text` without [CLS]/[SEP].
    public func tokenizeIds(_ text: String) -> [Int] {
        var out: [Int] = []
        let scalars = Array(text.unicodeScalars)
        let specials = specialTokens.map { Array($0.unicodeScalars) }
        var segStart = 0, i = 0
        func flush(_ end: Int) {
            if end > segStart {
                for w in basicTokenize(Array(scalars[segStart..<end])) { wordPiece(w, into: &out) }
            }
        }
        while i < scalars.count {
            var matched: [Unicode.Scalar]? = nil
            if scalars[i] == "[" {
                for s in specials where i + s.count <= scalars.count && Array(scalars[i..<(i + s.count)]) == s { matched = s; break }
            }
            if let s = matched {
                flush(i)
                out.append(id(of: String(String.UnicodeScalarView(s)))!)
                i += s.count
                segStart = i
            } else { i += 1 }
        }
        flush(scalars.count)
        return out
    }

    public func tokenize(_ text: String) -> [String] { tokenizeIds(text).map { idToToken[$0] } }

    /// [CLS] a [SEP] (b [SEP]) with segment ids 0 for a and 1 for b, as `BertTokenizer(a, b)` gives.
    public func encode(_ a: String, _ b: String? = nil) -> (ids: [Int], typeIds: [Int]) {
        var ids = [clsId] + tokenizeIds(a) + [sepId]
        var types = [Int](repeating: 0, count: ids.count)
        if let b {
            let bIds = tokenizeIds(b) + [sepId]
            ids += bIds
            types += [Int](repeating: 1, count: bIds.count)
        }
        return (ids, types)
    }

    /// Text from ids: `##` pieces joined, [CLS]/[SEP]/[PAD] dropped, and BERT's tokenization-space clean-up.
    public func decode(_ ids: [Int]) -> String {
        let skip: Set<Int> = [clsId, sepId, padId]
        let toks = ids.filter { !skip.contains($0) }.map { $0 >= 0 && $0 < idToToken.count ? idToToken[$0] : "[UNK]" }
        var s = toks.joined(separator: " ").replacingOccurrences(of: " ##", with: "")
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                       (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")] {
            s = s.replacingOccurrences(of: a, with: b)
        }
        return s.trimmingCharacters(in: .whitespaces)
    }
}

/// An encoded input: token ids and segment ids, one per position.
public typealias Encoding = (ids: [Int], typeIds: [Int])
