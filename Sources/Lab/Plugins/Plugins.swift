import CLua
import Engine
import Foundation

/// lab.__limits(instructions, memory): starts the limits before plugin code runs (plugin_child.lua). It exists only in
/// a plugin's own process, where going over a limit ends the process (PluginChild.swift ends them itself).
let labBeginLimits: LuaFn = { L in luaBinding(L) { L in
    let instr = try argInt(L, 1, "instructions"), mem = try argInt(L, 2, "memory")
    dl_begin_limits(L, Int64(instr), max(0, mem))
    return 0
} }

/// The default plugin search path: ./plugins, ~/.dreamlab/plugins, then DREAMLAB_PATH (`;`-separated, `;;` = defaults).
func pluginSearchPath() -> String {
    let home = ModelLocator.home
    let defaults = "./plugins/?.lua;./plugins/?/init.lua;\(home)/.dreamlab/plugins/?.lua;\(home)/.dreamlab/plugins/?/init.lua"
    guard let env = ProcessInfo.processInfo.environment["DREAMLAB_PATH"], !env.isEmpty else { return defaults }
    // Entries are Lua templates (dir/?.lua) or plain folders, as people write PYTHONPATH; an empty entry (;;) is the defaults.
    return env.components(separatedBy: ";").enumerated().compactMap { i, entry -> String? in
        if entry.isEmpty { return i > 0 && env.components(separatedBy: ";")[i - 1].isEmpty ? nil : defaults }
        if entry.contains("?") { return entry }
        let dir = entry.hasSuffix("/") ? String(entry.dropLast()) : entry
        return "\(dir)/?.lua;\(dir)/?/init.lua"
    }.joined(separator: ";").replacingOccurrences(of: ";;", with: ";").trimmingCharacters(in: CharacterSet(charactersIn: ";"))
}

func installPlugins(_ L: OpaquePointer) {
    // package.path: plugins first, then Lua's own.
    lua_getglobal(L, "package")
    lua_getfield(L, -1, "path")
    let luaDefault = dl_tostring(L, -1).map { String(cString: $0) } ?? ""
    dl_pop(L, 1)
    push(L, pluginSearchPath() + ";" + luaDefault)
    lua_setfield(L, -2, "path")
    dl_pop(L, 1)
    lua_getglobal(L, "lab")
    setField(L, "__plugin_run", labPluginRun)
    // The plugins that ship with Dreamlab, wherever the user starts it.
    push(L, ModelLocator.checkoutFolder("scripts/plugins") ?? "scripts/plugins"); lua_setfield(L, -2, "__bundled_plugins")
    push(L, pluginSearchPath()); lua_setfield(L, -2, "__plugin_path")   // where lab.plugins() looks (not Lua's ./?.lua)
    dl_pop(L, 1)
    // The sandbox first, then help (which documents lab.plugin).
    for (name, code) in [("=(dreamlab plugins)", EmbeddedResource.sandbox), ("=(dreamlab help)", EmbeddedResource.help)] {
        let st = code.withCString { dl_loadbuffer(L, $0, strlen($0), name, "t") }
        if st != LUA_OK || dl_pcall(L, 0, 0, 0) != LUA_OK {
            FileHandle.standardError.write(Data("dreamlab: internal error in \(name): \(dl_tostring(L, -1).map { String(cString: $0) } ?? "")\n".utf8))
            dl_pop(L, 1)
        }
    }
}

/// The sandbox, in Lua: host code, trusted. Plugins get a fresh environment with safe libraries only.
