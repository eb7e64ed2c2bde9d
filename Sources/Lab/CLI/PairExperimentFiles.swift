import Engine
import Foundation

/// The names a PAIR script gives the objective's value in its records (dream_mlm: prediction, the reconstructions:
/// loss, which is the negated objective), and in Dreamlab's best-input record.
struct PairValueNames {
    let value: String, idsValue: String, best: String
    /// Maps the objective's value to the one PAIR records (the reconstructions maximise -loss).
    let sign: Float
}

/// Writes results.json in a new <outDir>/<type><timestamp>/ folder for the PAIR experiments whose records are not
/// dream.py's: PAIR's params and records, with Dreamlab's own fields (and `extra`) under "dreamlab". Returns the folder.
func writePairExperiment(_ r: DreamResult, model m: BertModel, type: String, params: [String: Any], names: PairValueNames,
                         outDir: String, extra: [String: Any] = [:], writeTopK: Bool = false) throws -> String {
    func number(_ x: Float) -> Any { x.isFinite ? Double(x) : NSNull() }
    let iterations: [[String: Any]] = r.runs[r.bestRunIndex].iterations.map {
        ["number": $0.number, "tokens": $0.tokens, "temperature": number($0.temperature), "max_values": $0.maxValues.map(number),
         names.value: number(names.sign * $0.activation), names.idsValue: number(names.sign * $0.idsActivation)]
    }
    var ours: [String: Any] = ["objective": r.objective, "model": m.directory, "steps_done": r.stepsDone, "interrupted": r.interrupted,
                               "seconds": r.seconds].merging(extra) { a, _ in a }
    if let b = r.best {
        ours["best"] = ["tokens": b.tokens, "ids": b.ids, "text": b.text, names.best: number(names.sign * b.activation), "step": b.step] as [String: Any]
    }
    let dir = timestampDirectory(outDir, prefix: type)
    try makeFolder(dir)
    if writeTopK { try r.saveTopK(to: dir) }
    let file: [String: Any] = ["params": params, "results": ["iterations": iterations], "type": type, "dreamlab": ours]
    try writeAtomically(try JSONSerialization.data(withJSONObject: file, options: [.sortedKeys]), to: dir + "/results.json")
    return dir
}
