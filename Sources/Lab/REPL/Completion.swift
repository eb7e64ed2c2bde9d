import CLua
import CReadline
import Foundation

/// Tab completion through Lua globals, table fields, metatables and Dreamlab objects' methods, and site names
/// inside strings. The candidates are computed by host Lua code under pcall, so a misbehaving __index can never
/// longjmp through readline's callback.
nonisolated(unsafe) var completionState: OpaquePointer? = nil
nonisolated(unsafe) var completionCandidates: [String] = []
nonisolated(unsafe) var completionNext = 0
/// Where words end for completion: spaces and operators, but not . and : (lab.dr<Tab> and m:ru<Tab> complete whole paths).
let wordBreaks: Set<Character> = Set(" \t\n\"'`@$><=;|&{(,+-*/%^#~[]")


func luaStringList(_ L: OpaquePointer, function: String, _ args: String...) -> [String] {
    let top = lua_gettop(L)
    defer { lua_settop(L, top) }
    guard rawGetGlobal(L, "lab") == LUA_TTABLE, rawField(L, -1, function) == LUA_TFUNCTION else { return [] }
    for a in args { lua_pushstring(L, a) }
    dl_disarm_interrupt(L)   // an interrupt left armed must not fire inside completion
    guard dl_pcall(L, Int32(args.count), 1, 0) == LUA_OK, lua_type(L, -1) == LUA_TTABLE else { return [] }
    var out: [String] = []
    let n = Int(lua_rawlen(L, -1))
    for i in 0..<n {
        lua_rawgeti(L, -1, lua_Integer(i + 1))
        if let s = dl_tostring(L, -1) { out.append(String(cString: s)) }
        dl_pop(L, 1)
    }
    return out
}

let completionGenerator: @convention(c) (UnsafePointer<CChar>?, Int32) -> UnsafeMutablePointer<CChar>? = { _, state in
    if state == 0 { completionNext = 0 }
    guard completionNext < completionCandidates.count else { return nil }
    defer { completionNext += 1 }
    return strdup(completionCandidates[completionNext])
}

let attemptedCompletion: @convention(c) (UnsafePointer<CChar>?, Int32, Int32) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = { text, start, _ in
    dl_rl_suppress_default(1)   // never fall back to file names
    guard let text, let L = completionState else { return nil }
    // Split the word ourselves: readline may hand over more than the last identifier path (it has been seen to keep
    // "neuron{la" whole), and candidates replace the whole word it handed over.
    let text0 = String(cString: text)
    let cut = text0.lastIndex { wordBreaks.contains($0) }.map { text0.index(after: $0) } ?? text0.startIndex
    let prefix = String(text0[..<cut]), word = String(text0[cut...])
    let line = Array(String(cString: dl_rl_line_buffer()).utf8)
    let lineBefore = String(decoding: line.prefix(max(0, min(Int(start), line.count))), as: UTF8.self) + prefix
    let inString = lineBefore.last == "\"" || lineBefore.last == "'"
    if inString {
        completionCandidates = luaStringList(L, function: "__complete_site", word)
    } else {
        // Inside f{...} a key completes to an argument name of f; otherwise names, fields and methods.
        let keywords = luaStringList(L, function: "__complete_keyword", lineBefore, word)
        completionCandidates = keywords.isEmpty ? luaStringList(L, function: "__complete", word) : keywords
    }
    completionCandidates = completionCandidates.map { prefix + $0 }
    dl_rl_set_append_char(0)
    return rl_completion_matches(text, completionGenerator)
}

func installCompletion(_ L: OpaquePointer) {
    completionState = L
    let st = EmbeddedResource.completion.withCString { dl_loadbuffer(L, $0, strlen($0), "=(dreamlab completion)", "t") }
    if st != LUA_OK || dl_pcall(L, 0, 0, 0) != LUA_OK { dl_pop(L, 1) }
    dl_rl_set_completer(attemptedCompletion)
    // Break words on spaces and operators but not on . and :, so that lab.dr<TAB> and m:ru<TAB> complete whole paths.
    dl_rl_set_word_break(String(wordBreaks))
}
