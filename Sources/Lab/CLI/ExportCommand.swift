import Engine
import Foundation

/// `dreamlab export-activations`: PAIR's export_token_activation.py, one .npy per layer for a token of a sentence.
let exportActivationsCommand = Subcommand(
    name: "export-activations", brief: "PAIR's export_token_activation.py: a token's activation at every layer, as .npy files",
    summary: """
    PAIR's export_token_activation.py: runs --sentence and writes the hidden state (hook_resid_post) of the token at
    --word_id at every layer to <output_dir>/<layer>/<word_id>_V_<T>_<tokens>.npy (numpy.load reads them), PAIR's layout
    for the linear classifier. --file exports every line of a text file; with --word, each line's first occurrence of
    that token instead of --word_id (lines without it are skipped). Train a probe on two such folders with dreamlab probe.
    """,
    usage: "--output_dir DIR (--sentence TEXT | --file FILE) [--word_id N | --word TOKEN]",
    flags: [.string("sentence", "", "the sentence to export the token activation for"),
            .string("file", "", "a text file: one sentence per line, each exported"),
            .string("output_dir", "", "where the per-layer folders go (required)"),
            .int("word_id", 1, "the token position to export (0-based)"),
            .string("word", "", "export the first occurrence of this token instead of --word_id")] + SharedFlags.model
) { f in
    guard let out = f.optional("output_dir") else { throw CLIError("--output_dir is required, e.g. --output_dir train/he") }
    let m = try SharedFlags.model(f)
    var sentences: [String] = []
    if let s = f.optional("sentence") { sentences.append(s) }
    if let file = f.optional("file") {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIError("--file \(file): cannot read it as UTF-8 text") }
        sentences += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    guard !sentences.isEmpty else { throw CLIError("give --sentence TEXT or --file FILE (one sentence per line)") }
    let word = f.optional("word")
    if let word, m.tokenizer.id(of: word) == nil { throw CLIError("--word \(word) is not one token of the vocabulary; dreamlab tokenize --sentence '\(word)' shows how it splits") }
    let L = m.config.numLayers, H = m.config.hiddenSize
    var written = 0, skipped = 0
    var names = Set<String>()
    for s in sentences {
        if interruptRequested.load(ordering: .relaxed) { break }
        let ids = m.tokenizer.encode(s).ids, tokens = ids.map { m.tokenizer.idToToken[$0] }
        let pos: Int
        if let word {
            guard let p = tokens.firstIndex(of: word) else { skipped += 1; continue }
            pos = p
        } else {
            guard f.int("word_id") >= 0 && f.int("word_id") < ids.count else {
                throw CLIError("--word_id \(f.int("word_id")) is outside 0...\(ids.count - 1) for \"\(s)\" (\(ids.count) tokens)")
            }
            pos = f.int("word_id")
        }
        let acts = try m.forward(InputBatch(ids: [ids]), withMLM: false)
        // PAIR's name: position, "V", length, the tokens joined by "_" without brackets or slashes.
        let stem = "\(pos)_V_\(ids.count)_" + tokens.joined(separator: "_").filter { !"[]/".contains($0) }
        // Lines that tokenize alike would share PAIR's name: number the repeats so none is overwritten.
        var name = stem + ".npy", n = 1
        while names.contains(name) { n += 1; name = stem + "_\(n).npy" }
        names.insert(name)
        if written == 0 { for l in 0..<L { try makeFolder(out + "/\(l)") } }   // only once there is something to write
        for l in 0..<L {
            let h = try acts.site(Site(.residPost, layer: l))
            try NPY.write(Tensor(shape: [H], data: Array(h.data[(pos * H)..<((pos + 1) * H)])), to: out + "/\(l)/" + name)
        }
        written += 1
    }
    if written == 0, !interruptRequested.load(ordering: .relaxed) {
        throw CLIError("no line of the input contains the token \"\(word ?? "")\"; nothing was exported (dreamlab tokenize shows how lines split)")
    }
    print("wrote \(written) token\(written == 1 ? "" : "s") x \(L) layers to \(out)/<layer>/\(skipped > 0 ? " (\(skipped) lines without \"\(word ?? "")\" skipped)" : "")")
    return interruptRequested.load(ordering: .relaxed) ? 130 : 0
}
