import CLua
import CReadline
import Foundation

/// Tab completion through Lua globals, table fields, metatables and Dreamlab objects' methods, and site names
/// inside strings. The candidates are computed by host Lua code under pcall, so a misbehaving __index can never
/// longjmp through readline's callback.
nonisolated(unsafe) var completionState: OpaquePointer? = nil
nonisolated(unsafe) var completionCandidates: [String] = []
nonisolated(unsafe) var completionNext = 0

let completionLua = #"""
local keywords = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
                   "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while" }
local fields = {
  ["dreamlab.Model"] = { "config", "path", "sites" },
  ["dreamlab.DreamResult"] = { "tokens", "ids", "text", "activation", "ids_activation", "history", "best", "runs", "steps",
                               "seconds", "steps_per_second", "interrupted", "stopped", "objective" },
}
local registry = debug.getregistry()

local function keys_of(v, out, depth)
  depth = depth or 0
  if depth > 4 then return end
  if type(v) == "table" then for k in pairs(v) do if type(k) == "string" then out[k] = true end end end
  local mt = getmetatable(v)
  if type(mt) ~= "table" then return end
  local idx = rawget(mt, "__index")
  if type(idx) == "table" then keys_of(idx, out, depth + 1) end
  local name = rawget(mt, "__name")
  if name then
    local methods = registry[name .. ".methods"]
    if type(methods) == "table" then keys_of(methods, out, depth + 1) end
    for _, f in ipairs(fields[name] or {}) do out[f] = true end
  end
end

function lab.__complete(word)
  local out = {}
  local base, sep, key = word:match("^(.*)([%.:])([%w_]*)$")
  local value
  if base then
    value = _G
    for seg in base:gmatch("[^%.:]+") do
      local ok, v = pcall(function() return value[seg] end)
      if not ok or v == nil then return {} end
      value = v
    end
  else
    value, key, base, sep = _G, word, "", ""
    for _, k in ipairs(keywords) do if k:sub(1, #key) == key then out[#out + 1] = k end end
  end
  local ks = {}
  keys_of(value, ks)
  for k in pairs(ks) do
    if k:sub(1, #key) == key and not k:match("^__") then
      local ok, v = pcall(function() return value[k] end)
      if sep ~= ":" or (ok and type(v) == "function") then
        local suffix = (ok and type(v) == "function") and "(" or ((ok and type(v) == "table" and sep ~= ":") and "." or "")
        if sep == "" and base == "" then suffix = (ok and type(v) == "function") and "(" or "" end
        out[#out + 1] = base .. sep .. k .. suffix
      end
    end
  end
  table.sort(out)
  return out
end

function lab.__complete_site(prefix)
  local m = rawget(_G, "m")
  local ok, sites = pcall(function() return m.sites end)
  if not ok or type(sites) ~= "table" then
    ok, m = pcall(lab.load); if not ok then return {} end
    sites = m.sites
  end
  local out = {}
  for _, s in ipairs(sites) do if s:sub(1, #prefix) == prefix then out[#out + 1] = s end end
  return out
end
"""#

func luaStringList(_ L: OpaquePointer, function: String, _ arg: String) -> [String] {
    let top = lua_gettop(L)
    defer { lua_settop(L, top) }
    lua_getglobal(L, "lab")
    guard lua_type(L, -1) == LUA_TTABLE else { return [] }
    lua_getfield(L, -1, function)
    lua_pushstring(L, arg)
    guard dl_pcall(L, 1, 1, 0) == LUA_OK, lua_type(L, -1) == LUA_TTABLE else { return [] }
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
    let word = String(cString: text)
    let line = Array(String(cString: dl_rl_line_buffer()).utf8)
    let inString = start > 0 && Int(start) <= line.count && (line[Int(start) - 1] == UInt8(ascii: "\"") || line[Int(start) - 1] == UInt8(ascii: "'"))
    if inString {
        completionCandidates = luaStringList(L, function: "__complete_site", word)
        dl_rl_set_append_char(0)
    } else {
        completionCandidates = luaStringList(L, function: "__complete", word)
        dl_rl_set_append_char(0)
    }
    return rl_completion_matches(text, completionGenerator)
}

func installCompletion(_ L: OpaquePointer) {
    completionState = L
    let st = completionLua.withCString { dl_loadbuffer(L, $0, strlen($0), "=(dreamlab completion)", "t") }
    if st != LUA_OK || dl_pcall(L, 0, 0, 0) != LUA_OK { dl_pop(L, 1) }
    dl_rl_set_completer(attemptedCompletion)
    // Break words on spaces and operators but not on . and :, so that lab.dr<TAB> and m:ru<TAB> complete whole paths.
    dl_rl_set_word_break(" \t\n\"'`@$><=;|&{(,+-*/%^#~[]")
}
