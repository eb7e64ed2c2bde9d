local lab = lab

local function find_plugin(name)
  if name:find("[/\\]") or name:match("%.lua$") then return name end
  local path = package.searchpath(name, package.path)
  if path then return path end
  local scripts = rawget(lab, "__bundled_plugins") .. "/" .. name .. ".lua"
  local f = io.open(scripts, "r"); if f then f:close(); return scripts end
  return nil
end

local LIMITS = { "instructions", "memory", "seconds" }

--- lab.plugin(name_or_path [, {instructions=N, memory=bytes, seconds=N}]) -> the plugin's table of objective factories.
--- The plugin runs in a process of its own, in a fresh Lua state with safe libraries only (no os, io, package, debug,
--- load, dofile or require), under an instruction budget, a heap cap and a CPU-time limit. Only data comes back:
--- calling p.f{...} sends the arguments to a new plugin process and returns the objectives or values it made.
function lab.plugin(name, opts)
  if type(name) ~= "string" then error("lab.plugin takes a plugin name or a path to a .lua file, got " .. type(name), 2) end
  if opts ~= nil and type(opts) ~= "table" then error("lab.plugin: the options must be a table such as {instructions=50e6, memory=256*2^20, seconds=30}, got " .. type(opts), 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "instructions" and k ~= "memory" and k ~= "seconds" then
      error("lab.plugin: unknown option " .. tostring(k) .. lab.__did_you_mean(tostring(k), LIMITS) .. "; it takes instructions=, memory= and seconds=", 2)
    end
  end
  local o = {}
  for _, k in ipairs(LIMITS) do
    local v = rawget(opts, k)
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < 1 or v == math.huge) then
      error("lab.plugin: " .. k .. " must be a positive number (a limit cannot be switched off), got " .. tostring(v), 2)
    end
    o[k] = v and math.floor(v)
  end
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
  local run = lab.__plugin_run
  local ok, listing = pcall(run, path, src, o)
  if not ok then error(listing, 2) end
  local wrapped = listing.fields
  for _, k in ipairs(listing.factories) do
    -- Host code: it sends the arguments to a new plugin process and returns what comes back, as data.
    wrapped[k] = function(...)
      local res = table.pack(pcall(run, path, src, o, k, ...))
      if not res[1] then error(res[2], 2) end
      return table.unpack(res, 2, res.n)
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
    -- One pass over the lines: the comment block above each `name = function`, `M.name = function` or
    -- `function M.name(` (names captured, never used as patterns, so a plugin cannot choose a slow one).
    local above, found = {}, {}
    local n = 0
    for line in (src .. "\n"):gmatch("([^\n]*)\n") do
      n = n + 1
      local c = line:match("^%s*%-%-+%s?(.*)$")
      if c then above[#above + 1] = c
      else
        local name = line:match("^%s*([%w_]+)%s*=%s*function") or line:match("^%s*[%w_]+%.([%w_]+)%s*=%s*function")
            or line:match("^%s*function%s+[%w_]+[%.:]([%w_]+)%s*%(")
        -- A comment at the very top is the file's, not the first factory's.
        if name and found[name] == nil then found[name] = (#above > 0 and n - #above > 1) and table.concat(above, "\n") or false end
        above = {}
      end
    end
    for _, k in ipairs(listing.factories) do
      docs[wrapped[k]] = found[k] or (k .. ": a factory of plugin " .. path .. " with no doc comment of its own" .. (filedoc and "; help(p) shows the file's" or ""))
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
