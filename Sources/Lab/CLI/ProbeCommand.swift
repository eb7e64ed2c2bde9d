import Engine
import Foundation

/// Reads every .npy vector in <dir>/<concept>/<layer>/ (export-activations' layout) as rows.
func readConceptRows(_ dir: String, concept: String, layer: Int) throws -> [[Float]] {
    try readConceptFiles(dir, concept: concept, layer: layer).map(\.1)
}

/// The same, with each row's file name (relative to the concept folder).
func readConceptFiles(_ dir: String, concept: String, layer: Int) throws -> [(String, [Float])] {
    let folder = "\(dir)/\(concept)/\(layer)"
    guard let files = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
        throw CLIError("\(folder): no such folder; write it with dreamlab export-activations --output_dir \(dir)/\(concept) ...")
    }
    return try files.filter { $0.hasSuffix(".npy") || $0.hasSuffix(".np") }.sorted().map { name in
        let t = try NPY.read(folder + "/" + name)
        guard t.rank == 1 else { throw CLIError("\(folder)/\(name) has shape \(t.shape); a probe reads one activation vector per file") }
        return ("\(concept)/\(layer)/\(name)", t.data)
    }
}

/// `dreamlab probe`: PAIR's linear_classifier/train.py as logistic regression in Swift, writing the concept direction.
let probeCommand = Subcommand(
    name: "probe", brief: "PAIR's linear classifier: a logistic-regression probe between two concepts' activations",
    summary: """
    PAIR's linear_classifier/train.py: reads <train_dir>/<concept1>/<layer_id>/*.npy and <train_dir>/<concept2>/...
    (written by dreamlab export-activations), holds out --val_split of them (seeded shuffle), trains logistic regression
    (concept2 = 1; L2 penalty as scikit-learn's C) and writes <output_dir>/weights.npy (the concept direction, one
    weight per unit) and <output_dir>/probe.json (accuracies, bias, counts). Shift or dream toward the direction with
    lab.objectives.direction{site=, pos=, vector=lab.npy.load(".../weights.npy")}.
    """,
    usage: "--train_dir DIR --concept1 A --concept2 B --layer_id L --output_dir OUT",
    flags: [.string("train_dir", "", "the folder holding one export-activations folder per concept (required)"),
            .string("output_dir", "", "where weights.npy and probe.json go (required)"),
            .string("concept1", "he", "the first concept (label 0)"), .string("concept2", "she", "the second concept (label 1)"),
            .int("layer_id", 5, "the layer whose activations are classified"),
            .int("num_epochs", 300, "full-batch Adam steps"), .float("learning_rate", "0.05", "Adam's learning rate"),
            .float("C", "1.0", "inverse L2 strength, as scikit-learn's LogisticRegression (0: no penalty)"),
            .float("val_split", "0.1", "share of examples held out for validation"), .int("random_seed", 42, "shuffle seed")]
) { f in
    guard let dir = f.optional("train_dir") else { throw CLIError("--train_dir is required") }
    guard let out = f.optional("output_dir") else { throw CLIError("--output_dir is required") }
    guard f.string("concept1") != f.string("concept2") else { throw CLIError("--concept1 and --concept2 are both \(f.string("concept1")); a probe separates two different concepts") }
    let fa = try readConceptFiles(dir, concept: f.string("concept1"), layer: f.int("layer_id"))
    let fb = try readConceptFiles(dir, concept: f.string("concept2"), layer: f.int("layer_id"))
    let a = fa.map(\.1), b = fb.map(\.1), names = (fa + fb).map(\.0)
    guard !a.isEmpty, !b.isEmpty else { throw CLIError("both concepts need examples: \(a.count) for \(f.string("concept1")), \(b.count) for \(f.string("concept2"))") }
    let H = a[0].count
    guard (a + b).allSatisfy({ $0.count == H }) else { throw CLIError("the activation vectors differ in length; export both concepts from one model and layer") }
    var o = ProbeOptions()
    o.epochs = f.int("num_epochs"); o.learningRate = f.float("learning_rate")
    o.C = f.float("C") == 0 ? nil : Double(f.float("C")); o.validationSplit = Double(f.float("val_split"))
    guard f.int("random_seed") >= 0 else { throw CLIError("--random_seed must be >= 0") }
    o.seed = UInt64(f.int("random_seed"))
    let r = try trainLogisticProbe(x: Tensor(shape: [a.count + b.count, H], data: (a + b).flatMap { $0 }),
                                   y: [Int](repeating: 0, count: a.count) + [Int](repeating: 1, count: b.count), options: o)
    try makeFolder(out)
    try NPY.write(r.weights, to: out + "/weights.npy")
    let summary: [String: Any] = ["concept1": f.string("concept1"), "concept2": f.string("concept2"), "layer_id": f.int("layer_id"),
                                  "train_accuracy": r.trainAccuracy, "validation_accuracy": r.validationAccuracy ?? NSNull(),
                                  "train_count": r.trainCount, "validation_count": r.validationCount, "bias": Double(r.bias),
                                  "final_loss": Double(r.losses.last ?? .nan), "epochs": o.epochs, "C": o.C ?? NSNull(),
                                  "validation_files": r.validationRows.map { names[$0] }]   // the held-out split, for a reference fit
    try writeAtomically(try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted]), to: out + "/probe.json")
    print(String(format: "probe %@ vs %@, layer %d: train accuracy %.4f (%d), validation %@ (%d)", f.string("concept1"), f.string("concept2"),
                 f.int("layer_id"), r.trainAccuracy, r.trainCount, r.validationAccuracy.map { String(format: "%.4f", $0) } ?? "n/a", r.validationCount))
    print("wrote \(out)/weights.npy and \(out)/probe.json")
    return 0
}
