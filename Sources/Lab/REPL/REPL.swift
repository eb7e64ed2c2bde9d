import CLua
import CReadline
import Engine
import Foundation

/// True while readline waits at the prompt: Ctrl-C then only clears the line.
nonisolated(unsafe) var atPrompt = false

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
        if !FileManager.default.fileExists(atPath: historyPath) { _ = FileManager.default.createFile(atPath: historyPath, contents: nil) }
        read_history(historyPath)
        installCompletion(L)
        print("dreamlab \(dreamlabVersion) · Lua 5.4 · OpenBLAS \(BLASRuntime.coreName) · help() for the API, Tab completes, Ctrl-D exits")
        if interp.run("m = lab.load(); print('m = ' .. tostring(m))", name: "=(startup)") == nil {
            print("(no model loaded; m = lab.load(dir) loads one)")
        }
        while let line = readLine(prompt: "> ") {
            var chunk = line
            if chunk.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            // Incomplete input continues on a second prompt.
            while isIncomplete(chunk), let more = readLine(prompt: ">> ") { chunk += "\n" + more }
            add_history(chunk)
            append_history(1, historyPath)   // after every line: a crash loses nothing
            evaluate(chunk)
        }
        print()
    }

    func readLine(prompt: String) -> String? {
        atPrompt = true
        defer { atPrompt = false }
        guard let p = readline(prompt) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    func isIncomplete(_ chunk: String) -> Bool {
        let body = chunk.hasPrefix("=") ? "return " + chunk.dropFirst() : chunk
        if compiles("return " + body) { return false }
        let status = body.withCString { dl_loadbuffer(L, $0, strlen($0), "=stdin", "t") }
        defer { dl_pop(L, 1) }
        guard status == LUA_ERRSYNTAX, let m = dl_tostring(L, -1) else { return false }
        return String(cString: m).hasSuffix("<eof>")
    }

    func compiles(_ code: String) -> Bool {
        let status = code.withCString { dl_loadbuffer(L, $0, strlen($0), "=stdin", "t") }
        dl_pop(L, 1)
        return status == LUA_OK
    }

    func evaluate(_ input: String) {
        var chunk = input.trimmingCharacters(in: .whitespacesAndNewlines)
        let quiet = chunk.hasSuffix(";")
        if quiet { chunk.removeLast() }
        if chunk.hasPrefix("=") { chunk = "return " + chunk.dropFirst() }
        let code = compiles("return " + chunk) ? "return " + chunk : chunk
        let base = lua_gettop(L)
        let start = Date()
        let n = interp.run(code, name: "=stdin", keepResults: true)
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
