import CLua
import CReadline
import Engine
import Foundation

/// True while readline waits at the prompt: Ctrl-C then only clears the line.
nonisolated(unsafe) var atPrompt = false
/// Set by Ctrl-C at the prompt: a chunk still waiting for its end (the >> prompt) is dropped, as IPython does.
nonisolated(unsafe) var dropPendingChunk = false

/// The interactive prompt: readline with history written after every line, Tab completion, expressions that print
/// without `return`, `_` for the last result, a trailing `;` to stay quiet, multi-line chunks as the standalone lua
/// does them, and the elapsed time of anything slower than a second.
final class REPL {
    let interp: Interpreter
    var L: OpaquePointer { interp.L }
    let historyPath = ProcessInfo.processInfo.environment["DREAMLAB_HISTORY"] ?? ModelLocator.home + "/.dreamlab_history"

    init(_ interp: Interpreter) { self.interp = interp }

    func loop() {
        dl_rl_set_name("dreamlab")
        dl_rl_catch_signals(0)   // our SIGINT handler clears the line itself
        using_history()
        dl_history_keep_multiline()
        if !FileManager.default.fileExists(atPath: historyPath) { _ = FileManager.default.createFile(atPath: historyPath, contents: nil) }
        read_history(historyPath)
        installCompletion(L)
        print("dreamlab \(dreamlabVersion) · Lua 5.4 · OpenBLAS \(BLASRuntime.coreName) · help() or x? for help, Tab completes, exit or Ctrl-D leaves")
        interp.loadDefaultModel()
        while let line = readLine(prompt: "> ") {
            dropPendingChunk = false
            var chunk = line
            if chunk.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            // Incomplete input continues on a second prompt; Ctrl-C there starts over with the next line.
            while isIncomplete(chunk), let more = readLine(prompt: ">> ") {
                if dropPendingChunk { dropPendingChunk = false; chunk = more } else { chunk += "\n" + more }
            }
            if chunk.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            add_history(chunk)
            append_history(1, historyPath)   // after every input: a crash loses nothing; a multi-line input is one entry
            if ["exit", "quit", "exit()", "quit()"].contains(chunk.trimmingCharacters(in: .whitespaces)) { break }
            evaluate(chunk)
        }
        print()
    }

    /// `x?` (or `m:run?`) asks for help on x, as IPython does.
    func helpRequest(_ chunk: String) -> String? {
        var body = chunk.trimmingCharacters(in: .whitespaces)
        guard body.hasSuffix("?") else { return nil }
        body = String(body.drop { $0 == "?" }.reversed().drop { $0 == "?" }.reversed()).trimmingCharacters(in: .whitespaces)
        if let r = body.range(of: #":([A-Za-z_][A-Za-z0-9_]*)$"#, options: .regularExpression) {
            body.replaceSubrange(r.lowerBound..<body.index(after: r.lowerBound), with: ".")
        }
        guard !body.isEmpty, !body.hasPrefix("help("), compiles("return " + body) else { return nil }
        return "help(" + body + ")"
    }

    func readLine(prompt: String) -> String? {
        atPrompt = true
        defer { atPrompt = false }
        guard let p = readline(prompt) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    func isIncomplete(_ chunk: String) -> Bool {
        if helpRequest(chunk) != nil { return false }
        let body = chunk.hasPrefix("=") ? "return " + chunk.dropFirst() : chunk
        if compiles("return " + body) { return false }
        let status = body.withCString { dl_loadbuffer(L, $0, strlen($0), "=stdin", "t") }
        defer { dl_pop(L, 1) }
        guard status == LUA_ERRSYNTAX, let m = dl_tostring(L, -1) else { return false }
        return String(cString: m).hasSuffix("<eof>")
    }

    func compiles(_ code: String) -> Bool { interp.compiles(code) }

    func evaluate(_ input: String) {
        // An interrupt armed for a chunk that has ended must not fire in the next one.
        dl_disarm_interrupt(L)
        if let help = helpRequest(input) { interp.run(help, name: "=stdin"); return }
        var chunk = input.trimmingCharacters(in: .whitespacesAndNewlines)
        let quiet = chunk.hasSuffix(";")
        if quiet { chunk.removeLast() }
        if chunk.hasPrefix("=") { chunk = "return " + chunk.dropFirst() }
        let code = compiles("return " + chunk) ? "return " + chunk : chunk
        let base = lua_gettop(L)
        let start = Date()
        let n = interp.run(code, name: "=stdin", keepResults: true)
        dl_disarm_interrupt(L)   // the chunk is over: printing its result is not part of what Ctrl-C stopped
        let elapsed = Date().timeIntervalSince(start)
        defer {
            lua_settop(L, base)
            if elapsed > 1 { print(String(format: "(%.1f s)", elapsed)) }
        }
        guard let n, n > 0 else { return }
        lua_pushvalue(L, base + 1)
        rawSetGlobal(L, "_")
        if quiet { return }
        // The printer is host code, looked up raw: the user may have replaced `lab` or given _G metamethods.
        if rawGetGlobal(L, "lab") == LUA_TTABLE { rawField(L, -1, "__show") } else { lua_pushnil(L) }
        dl_remove(L, -2)
        guard lua_type(L, -1) == LUA_TFUNCTION else {
            dl_pop(L, 1)
            FileHandle.standardError.write(Data("dreamlab: lab.__show is gone (was lab replaced?); results are in _\n".utf8))
            return
        }
        for i in 0..<n { lua_pushvalue(L, base + 1 + i) }
        if dl_pcall(L, n, 1, 0) == LUA_OK, let s = dl_tostring(L, -1) {
            print(String(cString: s))
        } else {
            interp.reportError()
        }
    }
}
