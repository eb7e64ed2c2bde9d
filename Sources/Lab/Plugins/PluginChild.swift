import CLua
import Engine
import Foundation

/// `dreamlab __plugin-child`: one plugin request in a process of its own. It reads the request on stdin, limits
/// itself (CPU time, address space, no files written), runs the plugin in a fresh Lua state under an instruction
/// budget and a heap cap, and writes the response (data only) to its stdout. Anything the plugin prints goes to
/// stderr. Running out of a limit ends the process with a message naming the plugin's line (see shim.h).
func runPluginChild() -> Never {
    let responseFD = dup(1)
    dup2(2, 1)   // stray writes to stdout cannot corrupt the response
    func respond(_ r: PluginResponse) -> Never {
        writeAll(responseFD, (try? PluginValue.encode(r)) ?? Data("{\"error\":\"plugin: its answer could not be encoded\"}".utf8))
        exit(0)
    }
    let input = FileHandle.standardInput.readDataToEndOfFile()
    guard let request = try? PluginValue.decode(PluginRequest.self, from: input) else {
        respond(PluginResponse(error: "plugin: the host's request could not be read (dreamlab __plugin-child is started by lab.plugin, not by hand)"))
    }
    let limits = request.limits
    // Limits first, before any plugin code: CPU seconds (SIGXCPU at the soft limit, SIGKILL at the hard one), the
    // address space, no files written, no core dumps.
    var used = rusage(); getrusage(RUSAGE_SELF.rawValue, &used)
    let spent = Int64(used.ru_utime.tv_sec + used.ru_stime.tv_sec)
    var cpu = rlimit(rlim_cur: rlim_t(spent + limits.seconds), rlim_max: rlim_t(spent + limits.seconds + 2))
    setrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &cpu)
    let mapped = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)).flatMap { Int64($0.split(separator: " ").first ?? "") }.map { $0 * Int64(getpagesize()) } ?? 0
    let room = limits.memory + PluginLimits.nativeRoom
    var space = rlimit(rlim_cur: rlim_t(mapped + room), rlim_max: rlim_t(mapped + room))
    setrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &space)
    var none = rlimit(rlim_cur: 0, rlim_max: 0)
    setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &none)
    setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &none)
    signal(SIGXFSZ, SIG_IGN)   // a write past the limit fails with EFBIG instead of killing the process

    let interp = Interpreter()
    let L = interp.L
    dl_child_install(interp.limits, limits.seconds, responseFD, room >> 20)
    lua_getglobal(L, "lab"); setField(L, "__limits", labBeginLimits); dl_pop(L, 1)
    let name = request.path
    // The child's Lua side (Resources/plugin_child.lua) returns the function that loads the plugin and calls it.
    let code = EmbeddedResource.pluginChild
    guard code.withCString({ dl_loadbuffer(L, $0, strlen($0), "=(dreamlab plugin child)", "t") }) == LUA_OK, dl_pcall(L, 0, 1, 0) == LUA_OK else {
        respond(PluginResponse(error: "plugin \(name): internal error: \(dl_tostring(L, -1).map { String(cString: $0) } ?? "")"))
    }
    push(L, name); push(L, request.source)
    lua_pushinteger(L, lua_Integer(limits.instructions)); lua_pushinteger(L, lua_Integer(limits.memory))
    if let call = request.call { push(L, call) } else { lua_pushnil(L) }
    // The arguments are pushed by a protected binding: a model that does not load is an error, not a crash.
    childRequest = request
    pushFunction(L, pushChildArguments)
    guard dl_pcall(L, 0, LUA_MULTRET, 0) == LUA_OK else { respond(PluginResponse(error: dl_tostring(L, -1).map { String(cString: $0) } ?? "plugin \(name): bad arguments")) }
    let pushed = Int32(request.args.count)
    let base = lua_gettop(L) - Int32(6 + pushed)
    guard dl_pcall(L, 5 + pushed, LUA_MULTRET, 0) == LUA_OK else {
        // The plugin's error object may be anything; only a string is read (its __tostring is not called).
        let msg = lua_type(L, -1) == LUA_TSTRING ? String(cString: dl_tostring(L, -1)) : "plugin \(name) raised a \(luaTypeName(L, -1)) value as its error"
        respond(PluginResponse(error: msg))
    }
    dl_end_limits(L)
    // Results: for a listing, the table {factories=, fields=} built by the Lua side; for a call, the factory's values.
    var reader = PluginValueReader(L: L, context: "plugin \(name): \(request.call.map { "the result of \($0)" } ?? "its table")")
    do {
        if request.call == nil {
            guard rawField(L, -1, "factories") == LUA_TTABLE else { throw LuaError("plugin \(name): internal error: no listing") }
            var factories: [String] = []
            let n = Int(lua_rawlen(L, -1))
            if n > 0 {
                for k in 1...n {
                    if lua_rawgeti(L, -1, lua_Integer(k)) == LUA_TSTRING { factories.append(String(cString: dl_tostring(L, -1))) }
                    dl_pop(L, 1)
                }
            }
            dl_pop(L, 1)
            _ = rawField(L, -1, "fields")
            respond(PluginResponse(factories: factories, fields: try reader.read(-1)))
        }
        var results: [PluginValue] = []
        let top = lua_gettop(L)
        if top > base { for i in (base + 1)...top { results.append(try reader.read(i)) } }
        respond(PluginResponse(results: results))
    } catch {
        respond(PluginResponse(error: "\(error)"))
    }
}

/// The request being served, for pushChildArguments (a C function pointer cannot capture it).
nonisolated(unsafe) private var childRequest: PluginRequest? = nil

/// Pushes the request's arguments as Lua values, inside a protected call.
private let pushChildArguments: LuaFn = { L in luaBinding(L) { L in
    guard let request = childRequest else { return 0 }
    guard lua_checkstack(L, Int32(request.args.count) + 8) != 0 else { throw LuaError("plugin \(request.path): too many arguments") }
    let modelDir = PluginValue.firstModel(in: request.args)
    let pusher = PluginValuePusher(L: L, context: "plugin \(request.path): an argument", model: { try loadModel(modelDir) })
    for a in request.args { try pusher.push(a) }
    return Int32(request.args.count)
} }
