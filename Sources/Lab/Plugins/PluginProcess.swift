import CLua
import Engine
import Foundation

/// What the host asks of a plugin's process: load the plugin and list it, or call one of its factories.
struct PluginRequest: Codable {
    var path: String
    var source: String
    var limits: PluginLimits
    var call: String?
    var args: [PluginValue]
}

/// What comes back: an error, or the plugin's listing, or a factory's results. Data only.
struct PluginResponse: Codable {
    var error: String?
    var factories: [String]?
    var fields: PluginValue?
    var results: [PluginValue]?
}

/// The limits a plugin runs under. Each has a ceiling, so none can be switched off by asking for a huge value.
struct PluginLimits: Codable {
    var instructions: Int64 = 50_000_000
    /// The Lua heap cap in bytes; the process may map this much more than it had at start-up, plus room for a model.
    var memory: Int64 = 256 << 20
    /// CPU seconds for the whole process (start-up and model loading included).
    var seconds: Int64 = 30

    static let ceilings: [(String, Double)] = [("instructions", 1e12), ("memory", Double(64 << 30)), ("seconds", 3600)]
    /// Room beyond the Lua cap for what Swift allocates in the plugin's process: a model's weights, a few traces.
    static let nativeRoom: Int64 = 1536 << 20
}

/// Writes all of `data` to a pipe (a short write or EINTR continues; a closed reader ends it).
func writeAll(_ fd: Int32, _ data: Data) {
    data.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n <= 0 { if errno == EINTR { continue }; break }
            off += n
        }
    }
}

enum PluginProcess {
    /// The response's size cap: a plugin returns objectives and values, not gigabytes.
    static let maxResponse = 64 << 20
    static let stopMarker = "DREAMLAB-PLUGIN-STOP "

    /// Runs one request in a fresh `dreamlab __plugin-child` process and returns its response.
    static func run(_ request: PluginRequest) throws -> PluginResponse {
        let name = request.path
        let body = try PluginValue.encode(request)
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0 else { throw LuaError("plugin \(name): cannot make a pipe (\(String(cString: strerror(errno))))") }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw LuaError("plugin \(name): cannot make a pipe (\(String(cString: strerror(errno))))")
        }
        for fd in [toChild[1], fromChild[0]] { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        // /proc/self/exe, not its target: a rebuilt binary replaces the file, and the running one stays reachable here.
        let exe = "/proc/self/exe"
        var env = ProcessInfo.processInfo.environment
        // One thread: the plugin's process is small, and its address-space limit must not go to thread arenas.
        env["DREAMLAB_THREADS"] = "1"; env["OPENBLAS_NUM_THREADS"] = "1"
        env["SWIFT_BACKTRACE"] = "enable=no"   // a plugin over its memory limit gets one line, not a backtrace
        env["OPENBLAS_CORETYPE"] = env["OPENBLAS_CORETYPE"] ?? BLASRuntime.coreName
        let argv0 = (try? FileManager.default.destinationOfSymbolicLink(atPath: exe)) ?? CommandLine.arguments[0]
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(argv0), strdup("__plugin-child"), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, envp)
        close(toChild[0]); close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw LuaError("plugin \(name): cannot start its process (\(String(cString: strerror(rc))))")
        }
        // The child reads the whole request before it writes anything, so writing first cannot deadlock. A child
        // that died early makes the write fail (EPIPE; SIGPIPE is ignored by the REPL's readline set-up or here).
        let oldPipe = signal(SIGPIPE, SIG_IGN)
        writeAll(toChild[1], body)
        close(toChild[1])
        signal(SIGPIPE, oldPipe)
        // Read until EOF, with a wall-clock deadline beyond the CPU limit (the kernel enforces that one).
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        let deadline = Date().addingTimeInterval(Double(request.limits.seconds) * 2 + 30)
        var stoppedBy: String? = nil
        while true {
            if interruptRequested.load(ordering: .relaxed) { stoppedBy = "interrupted!"; break }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { stoppedBy = "plugin \(name) did not answer within \(Int(Double(request.limits.seconds) * 2 + 30)) s and was stopped"; break }
            var p = pollfd(fd: fromChild[0], events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(min(left, 0.2) * 1000))
            if r < 0 && errno != EINTR { break }
            if r <= 0 { continue }
            let n = read(fromChild[0], &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
            if out.count > maxResponse { stoppedBy = "plugin \(name) answered with more than \(maxResponse >> 20) MB and was stopped"; break }
        }
        close(fromChild[0])
        if stoppedBy != nil { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if let stoppedBy { throw LuaError(stoppedBy) }
        let text = String(decoding: out, as: UTF8.self)
        let signalled = status & 0x7f
        // Exit status 3 is a limit (shim.h's dl_child_stop); the message follows the last marker. A marker inside
        // an ordinary answer is the plugin's data and means nothing.
        if signalled == 0 && (status >> 8) & 0xff == 3, let r = text.range(of: stopMarker, options: .backwards) {
            throw LuaError(String(text[r.upperBound...]).replacingOccurrences(of: "plugin stopped at", with: "plugin \(name) stopped at"))
        }
        if signalled != 0 {
            if signalled == SIGINT { throw LuaError("interrupted!") }
            throw LuaError("plugin \(name): its process ended on signal \(signalled)\(signalled == SIGKILL ? " (its CPU-time limit of \(request.limits.seconds) s)" : " (most likely it went over its memory limit; raise memory= if that is legitimate)")")
        }
        do { return try PluginValue.decode(PluginResponse.self, from: out) } catch {
            throw LuaError("plugin \(name): its process gave no answer (exit status \((status >> 8) & 0xff))")
        }
    }
}

/// lab.__plugin_run(path, source, limits, call|nil, ...): runs the plugin in its own process. With no call it
/// returns {factories=, fields=}; with one it returns the factory's results.
let labPluginRun: LuaFn = { L in luaBinding(L) { L in
    let path = try argString(L, 1, "plugin path"), source = try argString(L, 2, "plugin source")
    var limits = PluginLimits()
    guard lua_type(L, 3) == LUA_TTABLE else { throw LuaError("lab.__plugin_run: limits must be a table") }
    for (key, ceiling) in PluginLimits.ceilings {
        guard rawField(L, 3, key) == LUA_TNUMBER else { dl_pop(L, 1); continue }
        let v = dl_tonumber(L, -1, nil); dl_pop(L, 1)
        guard v >= 1, v <= ceiling else { throw LuaError("lab.plugin: \(key) must be in 1...\(Int64(ceiling)) (a limit cannot be switched off), got \(v)") }
        switch key { case "instructions": limits.instructions = Int64(v); case "memory": limits.memory = Int64(v); default: limits.seconds = Int64(v) }
    }
    let call = lua_type(L, 4) == LUA_TSTRING ? String(cString: dl_tostring(L, 4)) : nil
    var args: [PluginValue] = []
    let top = lua_gettop(L)
    if top >= 5 {
        for i in 5...top {
            var reader = PluginValueReader(L: L, context: "plugin \(path): argument \(i - 4) of \(call ?? "?")")
            args.append(try reader.read(i))
        }
    }
    let response = try NativeWork.run { try PluginProcess.run(PluginRequest(path: path, source: source, limits: limits, call: call, args: args)) }
    if let e = response.error { throw LuaError(e.contains(path) ? e : "plugin \(path): \(e)") }
    let modelDir = PluginValue.firstModel(in: args)
    let pusher = PluginValuePusher(L: L, context: "plugin \(path): \(call.map { "the result of \($0)" } ?? "its table")", model: { try loadModel(modelDir) })
    guard let call else {
        lua_createtable(L, 0, 2)
        pushStrings(L, response.factories ?? []); lua_setfield(L, -2, "factories")
        try pusher.push(response.fields ?? .table(keys: [], values: [])); lua_setfield(L, -2, "fields")
        return 1
    }
    let results = response.results ?? []
    guard results.count < 200, lua_checkstack(L, Int32(results.count) + 4) != 0 else { throw LuaError("plugin \(path): too many results") }
    for r in results { try pusher.push(r) }
    return Int32(results.count)
} }
