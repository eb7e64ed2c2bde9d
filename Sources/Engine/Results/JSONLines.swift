import Foundation

/// JSON-lines result files for sweeps: one line per unit, appended atomically, readable after any interruption.
public enum JSONLines {
    /// The complete lines already in the file. Lines that are not a JSON object (a torn last line after a crash, an
    /// edit gone wrong) are dropped so a rerun resumes cleanly; the file as it was is kept beside it first, as
    /// `<file>.damaged`, so nothing is lost.
    public static func readRepairing(_ path: String) throws -> [[String: Any]] {
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return [] }
        let (rows, good, damaged) = parse(data)
        if damaged > 0 || good.count != data.count {
            // Kept whole, beside the file; a later damage gets its own copy.
            if damaged > 0 { try writeAtomically(data, to: path + ".damaged-\(Int(Date().timeIntervalSince1970))") }
            try writeAtomically(good, to: path)
        }
        return rows
    }

    /// The JSON-object lines of a file's bytes, those lines again (each ending in a newline), and how many lines were not.
    private static func parse(_ data: Data) -> (rows: [[String: Any]], good: Data, damaged: Int) {
        var rows: [[String: Any]] = [], good = Data(), damaged = 0
        for line in data.split(separator: 0x0A, omittingEmptySubsequences: true) {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { damaged += 1; continue }
            rows.append(obj)
            good.append(contentsOf: line); good.append(0x0A)
        }
        return (rows, good, damaged)
    }

    /// The records of a file as they are, without changing it: lines that are not a JSON object are skipped (and
    /// counted). For readers (merge, report, status) that must not race a writer still appending.
    public static func read(_ path: String) throws -> (rows: [[String: Any]], damaged: Int) {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) { throw DreamlabError.badFile("\(path): cannot read it; check its permissions") }
            return ([], 0)
        }
        let (rows, _, damaged) = parse(data)
        return (rows, damaged)
    }

    /// Creates the file (and its folder) when it does not exist yet.
    public static func create(_ path: String) throws {
        guard !FileManager.default.fileExists(atPath: path) else { return }
        try writeAtomically(Data(), to: path)
    }

    /// Appends one line per record with one write() on an O_APPEND descriptor, then fsync: a reader sees all of them or none.
    public static func append<Record: Encodable>(_ rows: [Record], to path: String) throws {
        guard !rows.isEmpty else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for r in rows { data.append(try encoder.encode(r)); data.append(0x0A) }
        try makeFolder((path as NSString).deletingLastPathComponent)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw DreamlabError.badFile("\(path): cannot append (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        let n = data.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        guard n == data.count, fsync(fd) == 0 else { throw DreamlabError.badFile("\(path): append failed; is the disk full?") }
    }

    /// Joins shard files into one, one line per key (the first seen wins), sorted by key; returns the number of
    /// lines and of damaged lines skipped. Refuses what would lose results: no inputs, a missing input, or an output
    /// that already holds records but is not among the inputs (name it among them to fold it in).
    public static func merge(_ inputs: [String], into output: String, key: String = "unit") throws -> (lines: Int, damaged: Int) {
        guard !inputs.isEmpty else { throw DreamlabError.invalidArgument("merge needs at least one shard file to read") }
        for p in inputs {
            var dir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: p, isDirectory: &dir), !dir.boolValue else {
                throw DreamlabError.badFile("\(p): no such sweep file; nothing was written")
            }
        }
        if let existing = FileManager.default.contents(atPath: output), !existing.isEmpty, !inputs.map(canonicalPath).contains(canonicalPath(output)) {
            throw DreamlabError.invalidArgument("\(output) already holds records and is not among the files to merge; name a new output first (dreamlab sweep --merge OUT.jsonl IN.jsonl...), or list it among the inputs to fold it in")
        }
        var seen: [String: [String: Any]] = [:]
        var damaged = 0
        for p in inputs {
            let (rows, bad) = try read(p)
            damaged += bad
            for r in rows {
                guard r[key] != nil else { damaged += 1; continue }
                let k = "\(r[key]!)"
                if seen[k] == nil { seen[k] = r }
            }
        }
        let rows = seen.sorted { a, b in
            if let x = Int(a.key), let y = Int(b.key) { return x < y }
            return a.key < b.key
        }.map(\.value)
        var data = Data()
        for r in rows { data.append(try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys])); data.append(0x0A) }
        try writeAtomically(data, to: output)
        return (rows.count, damaged)
    }
}
