import CLua
import Foundation

/// Named arguments from a Lua table (`f{layer=5, word=2}`), read with raw access, so no metamethod of the
/// caller's table runs (and no Lua error can cross a Swift frame). Unknown keys are an error that lists the
/// known ones, so a typo never silently falls back to a default.
struct TableArgs {
    let L: OpaquePointer
    let index: Int32
    let function: String

    init(_ L: OpaquePointer, _ i: Int32, function: String, known: [String]) throws {
        guard lua_type(L, i) == LUA_TTABLE else {
            throw LuaError("\(function) takes a table of named arguments, e.g. \(function){...}; got \(luaTypeName(L, i))")
        }
        self.L = L; self.index = lua_absindex(L, i); self.function = function
        lua_pushnil(L)
        while lua_next(L, index) != 0 {
            defer { dl_pop(L, 1) }
            guard lua_type(L, -2) == LUA_TSTRING else { continue }
            let k = String(cString: dl_tostring(L, -2))
            if !known.contains(k) {
                dl_pop(L, 2)
                throw LuaError("\(function): unknown argument \"\(k)\"\(didYouMean(k, known)); it takes \(known.joined(separator: ", "))")
            }
        }
    }

    /// Pushes the field (raw); the caller pops it.
    func push(_ key: String) -> Int32 { lua_pushstring(L, key); return lua_rawget(L, index) }

    func has(_ key: String) -> Bool { let t = push(key); dl_pop(L, 1); return t != LUA_TNIL }

    func int(_ key: String) throws -> Int? {
        guard push(key) != LUA_TNIL else { dl_pop(L, 1); return nil }
        defer { dl_pop(L, 1) }
        return try argInt(L, -1, "\(function): \(key)")
    }
    func int(_ key: String, default d: Int) throws -> Int { try int(key) ?? d }
    func requiredInt(_ key: String) throws -> Int {
        guard let v = try int(key) else { throw LuaError("\(function): missing \(key)= (a 0-based integer)") }
        return v
    }
    func number(_ key: String) throws -> Double? {
        guard push(key) != LUA_TNIL else { dl_pop(L, 1); return nil }
        defer { dl_pop(L, 1) }
        return try argNumber(L, -1, "\(function): \(key)")
    }
    func string(_ key: String) throws -> String? {
        guard push(key) != LUA_TNIL else { dl_pop(L, 1); return nil }
        defer { dl_pop(L, 1) }
        return try argString(L, -1, "\(function): \(key)")
    }
    func bool(_ key: String) throws -> Bool? {
        let t = push(key)
        defer { dl_pop(L, 1) }
        if t == LUA_TNIL { return nil }
        guard t == LUA_TBOOLEAN else { throw LuaError("\(function): \(key) must be true or false, got \(luaTypeName(L, -1))") }
        return lua_toboolean(L, -1) != 0
    }
}

// MARK: - "did you mean", for Swift errors and (through lab.__did_you_mean) the Lua-side ones

/// " (did you mean x?)" for the closest names, or "".
func didYouMean(_ word: String, _ names: [String]) -> String {
    let close = closestNames(word, names)
    return close.isEmpty ? "" : " (did you mean \(close.joined(separator: " or "))?)"
}

/// Names within a small edit distance (or sharing a prefix), closest first.
func closestNames(_ word: String, _ names: [String]) -> [String] {
    let w = Array(word.lowercased())
    func distance(_ b: [Character]) -> Int {
        var prev = Array(0...b.count)
        for (i, ca) in w.enumerated() {
            var cur = [i + 1] + [Int](repeating: 0, count: b.count)
            for (j, cb) in b.enumerated() { cur[j + 1] = min(prev[j + 1] + 1, cur[j] + 1, prev[j] + (ca == cb ? 0 : 1)) }
            prev = cur
        }
        return prev[b.count]
    }
    let limit = max(1, min(3, w.count / 3 + 1))
    let scored = names.map { ($0, distance(Array($0.lowercased()))) }
        .filter { $0.1 <= limit || ($0.0.lowercased().hasPrefix(word.lowercased()) && !word.isEmpty) }
    return scored.sorted { $0.1 < $1.1 }.prefix(3).map(\.0)
}

/// lab.__did_you_mean(word, {names...}) -> " (did you mean x?)" or "": the same suggestion as the Swift errors give.
let labDidYouMean: LuaFn = { L in luaBinding(L) { L in
    push(L, didYouMean(try argString(L, 1, "word"), try argStringList(L, 2, "names")))
    return 1
} }

/// Reads a Lua sequence of strings (raw).
func argStringList(_ L: OpaquePointer, _ i: Int32, _ what: String) throws -> [String] {
    guard lua_type(L, i) == LUA_TTABLE else { throw LuaError("\(what) must be a list of strings, got \(luaTypeName(L, i))") }
    let idx = lua_absindex(L, i), n = Int(lua_rawlen(L, idx))
    var out: [String] = []
    for k in 1...max(n, 1) where n > 0 {
        lua_rawgeti(L, idx, lua_Integer(k))
        defer { dl_pop(L, 1) }
        out.append(try argString(L, -1, "\(what)[\(k)]"))
    }
    return out
}
