import Engine
import Foundation

/// `dreamlab mlm`: PAIR's mlm.py, the MLM head's top-k predictions for a masked word.
let mlmCommand = Subcommand(
    name: "mlm", brief: "PAIR's mlm.py: the top-k predictions for a masked word (needs an MLM head)",
    summary: """
    PAIR's mlm.py: replaces the token at --mask_word with [MASK] and prints the MLM head's --top_k predictions there
    (probabilities with --normalize, PAIR's default; raw logits with --nonormalize), as Indices, Values and Tokens.
    In Lua: m:run(tokens with "[MASK]"):site("mlm.logits")[pos]:softmax():topk(k).
    """,
    usage: "[--sentence TEXT] [--mask_word N] [--top_k K] [--model_config DIR|NAME]",
    flags: [.string("sentence", "i hate kickshaws", "the sentence to start with"),
            .int("mask_word", 1, "the position to mask and predict (0-based)"),
            .int("top_k", 10, "how many predictions to print"),
            .bool("normalize", true, "softmax the logits into probabilities")] + SharedFlags.model
) { f in
    let m = try SharedFlags.model(f)
    guard m.hasMLM else {
        throw CLIError("\((m.directory as NSString).lastPathComponent) has no MLM head (cls.predictions.* weights); name one with --model_config, e.g. --model_config bert-base-uncased")
    }
    guard let mask = m.tokenizer.maskId else { throw CLIError("the vocabulary has no [MASK] token") }
    var ids = m.tokenizer.encode(f.string("sentence")).ids
    let w = f.int("mask_word")
    guard w >= 0 && w < ids.count else { throw CLIError("--mask_word \(w) is outside 0...\(ids.count - 1) for this \(ids.count)-token input") }
    ids[w] = mask
    let logits = try m.run(ids: ids, withMLM: true).site(Site(.mlmLogits, layer: m.config.numLayers)).index([.at(w)])
    let row = f.bool("normalize") ? try logits.softmax() : logits
    guard (1...m.config.vocabSize).contains(f.int("top_k")) else { throw CLIError("--top_k must be in 1...\(m.config.vocabSize), got \(f.int("top_k"))") }
    let (values, idx) = try row.topk(f.int("top_k"))
    print("Indices: [" + idx.map(String.init).joined(separator: " ") + "]")
    print("Values:  [" + values.data.map { String(format: "%.8g", Double($0)) }.joined(separator: " ") + "]")
    print("Tokens:  [" + idx.map { "'" + m.tokenizer.idToToken[$0] + "'" }.joined(separator: ", ") + "]")
    return 0
}
