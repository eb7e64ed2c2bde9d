import CLua
import Engine
import Foundation

let dreamlabVersion = "0.1.0"

/// The embedded Lua 5.4 state with the `lab` API installed.
final class Interpreter {
    let L: OpaquePointer
    let limits: UnsafeMutablePointer<dl_limits>

    init() {
        limits = .allocate(capacity: 1)
        limits.initialize(to: dl_limits())
        L = dl_newstate(limits)
        luaL_openlibs(L)
        installLab(L)
        installPlugins(L)
        // The cap counts from here: what Dreamlab itself needs at start-up is not the user's to spend.
        if let cap = Interpreter.memoryCapFromEnvironment() { dl_set_memory_cap(L, dl_memory_used(L) + cap) }
        interruptibleState = L
    }
    deinit { lua_close(L); limits.deallocate() }

    /// DREAMLAB_LUA_MEMORY caps the prompt's Lua heap (bytes, or with a K/M/G suffix); unset: no cap.
    static func memoryCapFromEnvironment() -> Int? {
        guard let spec = ProcessInfo.processInfo.environment["DREAMLAB_LUA_MEMORY"]?.uppercased(), !spec.isEmpty else { return nil }
        let scale: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        let (digits, factor) = spec.last.flatMap { scale[$0] }.map { (String(spec.dropLast()), $0) } ?? (spec, 1)
        guard let n = Int(digits), n > 0, n <= Int.max / factor else {
            FileHandle.standardError.write(Data("dreamlab: DREAMLAB_LUA_MEMORY=\(spec) is not a size such as 512M; ignoring it\n".utf8))
            return nil
        }
        return n * factor
    }

    /// Compiles and runs a chunk with a traceback handler. Returns the number of results left on the
    /// stack, or nil after printing the error to stderr.
    @discardableResult
    func run(_ code: String, name: String, args: [String] = [], keepResults: Bool = false) -> Int32? {
        // An interrupt armed by an earlier chunk's native work must not fire in this one.
        dl_disarm_interrupt(L)
        defer {
            // Native work in this chunk saw Ctrl-C and nothing ran after it: the chunk still counts as interrupted.
            if dl_interrupt_pending(L) != 0 { interruptedLastRun = true; dl_disarm_interrupt(L) }
        }
        interruptedLastRun = false
        let base = lua_gettop(L)
        dl_push_traceback_handler(L)
        let status = code.withCString { dl_loadbuffer(L, $0, strlen($0), name, "t") }
        guard status == LUA_OK else {
            reportError(); lua_settop(L, base); return nil
        }
        for a in args { lua_pushstring(L, a) }
        let rc = dl_pcall(L, Int32(args.count), LUA_MULTRET, base + 1)
        if rc != LUA_OK { reportError(); lua_settop(L, base); return nil }
        let n = lua_gettop(L) - base - 1
        if !keepResults { lua_settop(L, base) } else { dl_remove(L, base + 1) }
        return n
    }

    /// The last error was Ctrl-C's "interrupted!" (a script then exits with 130).
    private(set) var lastErrorWasInterrupt = false
    /// Ctrl-C stopped native work in the last chunk run (with or without an "interrupted!" error).
    private(set) var interruptedLastRun = false

    func reportError() {
        if dl_interrupt_pending(L) != 0 { dl_disarm_interrupt(L) }
        let msg = dl_tostring(L, -1).map { String(cString: $0) } ?? "(error object is not a string)"
        FileHandle.standardError.write(Data(("dreamlab: " + formatError(msg) + "\n").utf8))
    }

    /// The message, a "did you mean" for a misspelt global, and only the traceback frames that help: Lua code in
    /// files, not C frames or the prompt's own chunk. DREAMLAB_TRACEBACK=1 shows the whole traceback.
    func formatError(_ raw: String) -> String {
        let parts = raw.components(separatedBy: "\nstack traceback:\n")
        var msg = parts[0]
        lastErrorWasInterrupt = msg.hasSuffix("interrupted!")
        if let r = msg.range(of: #"\(global '([A-Za-z_][A-Za-z0-9_]*)'\)"#, options: .regularExpression) {
            let name = String(msg[r].dropFirst("(global '".count).dropLast(2))
            msg += didYouMean(name, globalNames().filter { $0 != name })
        }
        if ProcessInfo.processInfo.environment["DREAMLAB_TRACEBACK"] == "1" { return raw }
        guard parts.count > 1 else { return msg }
        let frames = parts[1].split(separator: "\n").map(String.init).filter { f in
            !f.contains("[C]:") && !f.contains("(...tail calls...)") && !f.contains("stdin:") && !f.contains("(command line)")
                && !f.contains("(dreamlab ")
        }
        return frames.isEmpty ? msg : msg + "\nstack traceback:\n" + frames.joined(separator: "\n")
    }

    func globalNames() -> [String] {
        var out: [String] = []
        dl_push_globals(L)
        lua_pushnil(L)
        while lua_next(L, -2) != 0 {
            if lua_type(L, -2) == LUA_TSTRING { out.append(String(cString: dl_tostring(L, -2))) }
            dl_pop(L, 1)
        }
        dl_pop(L, 1)
        return out
    }

    /// Sets the global `arg` as the standalone lua does: arg[0] is the script, arg[1..] its arguments.
    func setArg(script: String, _ args: [String]) {
        lua_createtable(L, Int32(args.count), 1)
        lua_pushstring(L, script); lua_seti(L, -2, 0)
        for (i, a) in args.enumerated() { lua_pushstring(L, a); lua_seti(L, -2, lua_Integer(i + 1)) }
        rawSetGlobal(L, "arg")
    }

    /// Runs a script file with `arg` set. `keepLocals` (dreamlab -i) copies its top-level locals into globals when
    /// it ends, so they stay at the prompt as python -i keeps a script's names.
    func runFile(_ path: String, args: [String], keepLocals: Bool = false) -> Bool {
        guard let code = try? String(contentsOfFile: path, encoding: .utf8) else {
            FileHandle.standardError.write(Data("dreamlab: cannot read \(path); check the path\n".utf8))
            return false
        }
        setArg(script: path, args)
        // Strip a leading #! line, as lua.c does.
        var body = code.hasPrefix("#!") ? "--" + code : code
        // Appended on the last line, so line numbers stay; a script that ends in `return` keeps only its globals.
        if keepLocals, compiles(body + "\n;lab.__keep_locals()") { body += "\n;lab.__keep_locals()" }
        return run(body, name: "@" + path, args: args) != nil
    }

    func compiles(_ code: String) -> Bool {
        let status = code.withCString { dl_loadbuffer(L, $0, strlen($0), "=check", "t") }
        dl_pop(L, 1)
        return status == LUA_OK
    }

    /// `m = lab.load()` unless the user already has an `m`; says what it loaded, or how to load one.
    func loadDefaultModel() {
        if rawGetGlobal(L, "m") != LUA_TNIL { dl_pop(L, 1); return }
        dl_pop(L, 1)
        if run("m = lab.load(); print('m = ' .. tostring(m))", name: "=(startup)") == nil {
            print("(no model loaded; m = lab.load(dir) loads one)")
        }
    }
}
