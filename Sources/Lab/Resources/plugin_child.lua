-- Runs in a plugin's own process (dreamlab __plugin-child), never in the host. Trusted code: it builds the plugin's
-- environment, loads the plugin's source and calls one factory, all under the limits set by lab.__limits. Any
-- value it returns is read as data by Swift (raw reads: no metamethod runs).
local lab, load, type, pairs, error, tostring = lab, load, type, pairs, error, tostring
local stderr, getinfo = io.stderr, debug.getinfo

-- Message handler: an error that is not a string is named by type and place (its __tostring is never called).
local function placed(e)
  if type(e) == "string" then return e end
  for level = 2, 20 do
    local info = getinfo(level, "Sl")
    if not info then break end
    if info.currentline and info.currentline > 0 then
      return ("%s:%d: raised a %s value as its error; raise a string: error(\"...\")"):format(info.short_src, info.currentline, type(e))
    end
  end
  return "raised a " .. type(e) .. " value as its error"
end

-- Calls f(...) and returns its values, or raises the plugin's error as a string.
local function run(f, ...)
  local res = table.pack(xpcall(f, placed, ...))
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- Strings share one metatable; lock it so plugin code cannot reach or replace the string library through it.
do local mt = getmetatable(""); mt.__metatable = "locked" end

local function copy(t) local c = {}; for k, v in pairs(t) do c[k] = v end; return c end

local function plugin_env()
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall, select = select,
    tonumber = tonumber, tostring = tostring, type = type, xpcall = xpcall, rawequal = rawequal, rawget = rawget,
    rawlen = rawlen, rawset = rawset, setmetatable = setmetatable,
    getmetatable = function(v) if type(v) == "string" then return nil end return getmetatable(v) end,
    -- print goes to stderr: the process's stdout carries the answer to the host.
    print = function(...)
      local parts = table.pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      stderr:write(table.concat(parts, "\t", 1, parts.n), "\n")
    end,
    string = copy(string), table = copy(table), math = copy(math), utf8 = copy(utf8),
    lab = { objectives = lab.objectives, objective = lab.objective, schedules = lab.schedules, json = lab.json, load = lab.load },
    _VERSION = _VERSION,
  }
  env._G = env
  return env
end

return function(path, src, instructions, memory, call, ...)
  local env = plugin_env()
  local chunk, cerr = load(src, "@" .. path, "t", env)
  if not chunk then error("plugin " .. path .. " does not compile: " .. cerr, 0) end
  lab.__limits(instructions, memory)
  local mod = run(chunk)
  if type(mod) ~= "table" then
    error("plugin " .. path .. " must return a table of objective factories, returned " .. type(mod), 0)
  end
  if call == nil then
    -- The listing: factory names, and the other fields as data. rawget/next only: the table's metamethods stay unrun.
    local factories, fields = {}, {}
    local k, v = next(mod)
    while k ~= nil do
      if type(v) == "function" then
        if type(k) == "string" then factories[#factories + 1] = k end
      else
        fields[k] = v
      end
      k, v = next(mod, k)
    end
    return { factories = factories, fields = fields }
  end
  local f = rawget(mod, call)
  if type(f) ~= "function" then error("plugin " .. path .. " has no factory " .. tostring(call), 0) end
  return run(f, ...)
end
