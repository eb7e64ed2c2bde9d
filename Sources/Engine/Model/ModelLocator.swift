import Foundation

/// Finds a model directory from what the user typed: nothing (the default model), a path, or a name that
/// transformers already downloaded into the Hugging Face cache (read offline, never fetched).
public enum ModelLocator {
    public static let defaultName = "all-MiniLM-L6-v2"

    /// The default model: `LAB_MODEL`, else the set-up scripts' `models/all-MiniLM-L6-v2` (found from the
    /// environment, the current directory, or beside the executable's build folder).
    public static func defaultDirectory() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let p = env["LAB_MODEL"], !p.isEmpty { return p }
        var candidates: [String] = []
        if let p = env["LAB_MODEL_DEFAULT"] { candidates.append(p) }
        candidates.append(FileManager.default.currentDirectoryPath + "/models/" + defaultName)
        // .build/<triple>/release/dreamlab -> repository root, from the real executable (a bare `dreamlab` on the PATH,
        // a symlink from scripts/lab install, or the binary itself)
        let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? ""
        let exe = URL(fileURLWithPath: real).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(dir.path + "/models/" + defaultName)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/config.json") }
    }

    /// A folder of the Dreamlab checkout the executable was built in (e.g. "scripts/plugins"), found from the real
    /// executable as the default model is, so it does not depend on the working directory.
    public static func checkoutFolder(_ relative: String) -> String? {
        let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first ?? ""
        var dir = URL(fileURLWithPath: real).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir.path + "/" + relative, isDirectory: &isDir), isDir.boolValue { return dir.path + "/" + relative }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    public static func resolve(_ spec: String?) throws -> String {
        let fm = FileManager.default
        guard let spec, !spec.isEmpty else {
            guard let d = defaultDirectory() else {
                throw DreamlabError.missingModel("the default model (\(defaultName)) is not installed; run scripts/lab once to fetch it, or set LAB_MODEL to a BERT directory")
            }
            return d
        }
        let expanded = (spec as NSString).expandingTildeInPath
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: expanded, isDirectory: &isDir), isDir.boolValue { return expanded }
        if spec.contains("/") && (spec.hasPrefix("/") || spec.hasPrefix(".") || spec.hasPrefix("~")) {
            throw DreamlabError.missingModel("\(spec): no such model directory")
        }
        if let hit = huggingFaceCache(spec) { return hit }
        throw DreamlabError.missingModel("no model \"\(spec)\": not a directory, and not in the Hugging Face cache (\(cacheRoots().joined(separator: ", "))); download it once with transformers (AutoModel.from_pretrained(\"\(spec)\")) or pass its directory")
    }

    /// $HOME as the user set it (NSHomeDirectory reads the password file and ignores it).
    public static var home: String { ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() }

    static func cacheRoots() -> [String] {
        let env = ProcessInfo.processInfo.environment
        var roots: [String] = []
        if let h = env["HF_HUB_CACHE"] { roots.append(h) }
        if let h = env["HF_HOME"] { roots.append(h + "/hub") }
        roots.append(home + "/.cache/huggingface/hub")
        return roots
    }

    /// `models--ORG--NAME/snapshots/<rev>/` with a config.json and model.safetensors; a bare name also
    /// matches any organisation (bert-base-uncased is stored as google-bert/bert-base-uncased today).
    static func huggingFaceCache(_ name: String) -> String? {
        let fm = FileManager.default
        let wanted = "models--" + name.replacingOccurrences(of: "/", with: "--")
        for root in cacheRoots() {
            guard let entries = try? fm.contentsOfDirectory(atPath: root) else { continue }
            let matches = entries.filter { $0 == wanted || (!name.contains("/") && $0.hasPrefix("models--") && $0.hasSuffix("--" + name)) }
            for entry in matches.sorted() {
                let snaps = root + "/" + entry + "/snapshots"
                // Prefer the revision refs/main points at, then any complete snapshot.
                var revs = (try? fm.contentsOfDirectory(atPath: snaps))?.sorted() ?? []
                if let main = try? String(contentsOfFile: root + "/" + entry + "/refs/main", encoding: .utf8) {
                    let r = main.trimmingCharacters(in: .whitespacesAndNewlines)
                    revs.removeAll { $0 == r }; revs.insert(r, at: 0)
                }
                for rev in revs {
                    let d = snaps + "/" + rev
                    if fm.fileExists(atPath: d + "/config.json") && fm.fileExists(atPath: d + "/model.safetensors") { return d }
                }
            }
        }
        return nil
    }
}
