local lab = lab
local DEFAULTS = { instructions = 50000000, memory = 256 * 1024 * 1024 }

-- Strings share one metatable; lock it so sandboxed code cannot reach or replace the real string library through it.
do local mt = getmetatable(""); mt.__metatable = "locked" end

local function copy(t) local c = {}; for k, v in pairs(t) do c[k] = v end; return c end

local function find_plugin(name)
  if name:find("[/\\]") or name:match("%.lua$") then return name end
  local path = package.searchpath(name, package.path)
  if path then return path end
  local scripts = rawget(lab, "__bundled_plugins") .. "/" .. name .. ".lua"
  local f = io.open(scripts, "r"); if f then f:close(); return scripts end
  return nil
end

local function sandbox_env(name)
  local env = {
    assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall, select = select,
    tonumber = tonumber, tostring = tostring, type = type, xpcall = xpcall, rawequal = rawequal, rawget = rawget,
    rawlen = rawlen, rawset = rawset, setmetatable = setmetatable, print = print,
    getmetatable = function(v) if type(v) == "string" then return nil end return getmetatable(v) end,
    string = copy(string), table = copy(table), math = copy(math), utf8 = copy(utf8),
    lab = { objectives = lab.objectives, objective = lab.objective, schedules = lab.schedules, json = lab.json, load = lab.load },
    _VERSION = _VERSION,
  }
  env._G = env
  return env
end

-- Runs fn(...) under the plugin's limits; any error names the plugin.
local function limited(name, opts, fn, ...)
  lab.__limits(opts.instructions, opts.memory)
  local res = table.pack(pcall(fn, ...))
  lab.__unlimit()
  if not res[1] then
    local msg = tostring(res[2])
    if msg == "not enough memory" then
      msg = "plugin " .. name .. " went over its memory cap (" .. math.floor(opts.memory / 1048576) .. " MB); raise it with lab.plugin(name, {memory=bytes}) if that is legitimate"
    elseif not msg:find(name, 1, true) then
      msg = "plugin " .. name .. ": " .. msg
    end
    error(msg, 0)
  end
  return table.unpack(res, 2, res.n)
end

--- lab.plugin(name_or_path [, {instructions=N, memory=bytes}]) -> the plugin's table of objective factories.
--- Text chunks only; no os, io, package, debug, load, dofile or require; an instruction budget and a memory cap.
function lab.plugin(name, opts)
  assert(type(name) == "string", "lab.plugin takes a plugin name or a path to a .lua file")
  if opts ~= nil and type(opts) ~= "table" then error("lab.plugin: the options must be a table such as {instructions=50e6, memory=256*2^20}, got " .. type(opts), 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "instructions" and k ~= "memory" then
      error("lab.plugin: unknown option " .. tostring(k) .. lab.__did_you_mean(tostring(k), { "instructions", "memory" }) .. "; it takes instructions= and memory=", 2)
    end
  end
  for _, k in ipairs({ "instructions", "memory" }) do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < 1 or v == math.huge) then
      error("lab.plugin: " .. k .. " must be a positive number (a limit cannot be switched off), got " .. tostring(v), 2)
    end
  end
  local o = { instructions = math.floor(opts.instructions or DEFAULTS.instructions), memory = math.floor(opts.memory or DEFAULTS.memory) }
  local path = find_plugin(name)
  if not path then
    error("no plugin \"" .. name .. "\" in " .. package.path:gsub(";", "; ") .. " or " .. rawget(lab, "__bundled_plugins") .. "; give a path to a .lua file", 2)
  end
  local f, err = io.open(path, "rb")
  if not f then error("cannot read plugin " .. path .. ": " .. tostring(err), 2) end
  -- A cap on what is read: a plugin is source text, and /dev/zero or a huge file must not hang the prompt.
  local MAX = 16 * 1024 * 1024
  local src = f:read(MAX + 1); f:close()
  src = src or ""
  if #src > MAX then error("plugin " .. path .. " is larger than 16 MB; a plugin is Lua source text", 2) end
  if src:sub(1, 4) == "\27Lua" then error("plugin " .. path .. " is precompiled bytecode; only Lua source is loaded", 2) end
  local env = sandbox_env(name)
  local chunk, cerr = load(src, "@" .. path, "t", env)
  if not chunk then error("plugin " .. path .. " does not compile: " .. cerr, 2) end
  local mod = limited(path, o, chunk)
  if type(mod) ~= "table" then error("plugin " .. path .. " must return a table of objective factories, returned " .. type(mod), 2) end
  local wrapped = {}
  for k, v in pairs(mod) do
    if type(v) == "function" then
      wrapped[k] = function(...) return limited(path, o, v, ...) end
    else
      wrapped[k] = v
    end
  end
  local plugin = setmetatable(wrapped, { __name = "dreamlab.Plugin", __tostring = function() return "Plugin{" .. path .. "}" end })
  -- Doc comments become help: the file's leading comment for help(p), the comment above `name = function` (or
  -- `function M.name`) for help(p.name), else the file's.
  local docs = rawget(lab, "__docs")
  if docs then
    local head = {}
    for line in src:gmatch("[^\n]*") do
      local c = line:match("^%s*%-%-+%s?(.*)$")
      if not c then break end
      head[#head + 1] = c
    end
    local filedoc = #head > 0 and table.concat(head, "\n") or nil
    if filedoc then docs[plugin] = filedoc end
    local lines = {}
    for line in (src .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    for k, v in pairs(wrapped) do
      if type(v) == "function" and type(k) == "string" then
        local d
        for i, line in ipairs(lines) do
          if line:match("^%s*" .. k .. "%s*=%s*function") or line:match("^%s*[%w_]+%." .. k .. "%s*=%s*function")
             or line:match("^%s*function%s+[%w_]+[%.:]" .. k .. "%s*%(") then
            local above = {}
            local j = i - 1
            while j >= 1 and lines[j]:match("^%s*%-%-") do table.insert(above, 1, (lines[j]:match("^%s*%-%-+%s?(.*)$"))); j = j - 1 end
            if #above > 0 and j >= 1 then d = table.concat(above, "\n") end   -- a comment at the top is the file's
            break
          end
        end
        docs[v] = d or (k .. ": a factory of plugin " .. path .. " with no doc comment of its own" .. (filedoc and "; help(p) shows the file's" or ""))
      end
    end
  end
  return plugin
end

--- lab.plugins() -> names of the plugins found on the search path and in the plugins that ship with Dreamlab.
function lab.plugins()
  local found, seen = {}, {}
  local dirs = {}
  for dir in rawget(lab, "__plugin_path"):gmatch("([^;]+)/%?%.lua") do dirs[#dirs + 1] = dir end
  dirs[#dirs + 1] = rawget(lab, "__bundled_plugins")
  for _, dir in ipairs(dirs) do
    local p = io.popen('ls "' .. dir .. '" 2>/dev/null')
    if p then
      for file in p:lines() do
        local n = file:match("^(.-)%.lua$")
        if n and not seen[n] then seen[n] = true; found[#found + 1] = n end
      end
      p:close()
    end
  end
  table.sort(found)
  return found
end
