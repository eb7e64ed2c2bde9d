import CLua
import CReadline
import Engine
import Foundation

/// The interactive prompt: readline with history, expressions print without `return`, incomplete chunks
/// continue on a second prompt, as the standalone lua does.
final class REPL {
    let interp: Interpreter
    var L: OpaquePointer { interp.L }
    let historyPath = NSHomeDirectory() + "/.dreamlab_history"

    init(_ interp: Interpreter) { self.interp = interp }

    func loop() {
        dl_rl_set_name("dreamlab")
        using_history()
        read_history(historyPath)
        print("dreamlab \(dreamlabVersion) · Lua 5.4 · OpenBLAS \(BLASRuntime.coreName) · help: dreamlab --help, Ctrl-D exits")
        if interp.run("m = lab.load(); print('m = ' .. tostring(m))", name: "=(startup)") == nil {
            print("(no model loaded; lab.load(dir) loads one)")
        }
        while let line = readLine(prompt: "> ") {
            var chunk = line
            if chunk.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            if chunk.hasPrefix("=") { chunk = "return " + chunk.dropFirst() }
            // Incomplete input continues on a second prompt.
            while isIncomplete(chunk), let more = readLine(prompt: ">> ") { chunk += "\n" + more }
            add_history(chunk)
            append_history(1, historyPath)
            evaluate(chunk)
        }
        print()
    }

    func readLine(prompt: String) -> String? {
        guard let p = readline(prompt) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    func isIncomplete(_ chunk: String) -> Bool {
        if compiles("return " + chunk) { return false }
        let status = chunk.withCString { dl_loadbuffer(L, $0, strlen($0), "=stdin", "t") }
        defer { dl_pop(L, 1) }
        guard status == LUA_ERRSYNTAX, let m = dl_tostring(L, -1) else { return false }
        return String(cString: m).hasSuffix("<eof>")
    }

    func compiles(_ code: String) -> Bool {
        let status = code.withCString { dl_loadbuffer(L, $0, strlen($0), "=stdin", "t") }
        dl_pop(L, 1)
        return status == LUA_OK
    }

    func evaluate(_ chunk: String) {
        let code = compiles("return " + chunk) ? "return " + chunk : chunk
        let base = lua_gettop(L)
        guard let n = interp.run(code, name: "=stdin", keepResults: true) else { return }
        if n > 0 {
            lua_getglobal(L, "print")
            for i in 0..<n { lua_pushvalue(L, base + 1 + i) }
            if dl_pcall(L, n, 0, 0) != LUA_OK { interp.reportError() }
        }
        lua_settop(L, base)
    }
}
