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

-- Keyword arguments inside f{...}: `before` is the line up to the word being completed. Returns "name=" candidates
-- when the word is a key of the innermost open table and that table is the argument of a lab function.
function lab.__complete_keyword(before, word)
  if not word:match("^[%a_][%w_]*$") and word ~= "" then return {} end
  if not before:match("[{,]%s*$") then return {} end   -- after `=` the word is a value, not a key
  local depth = 0
  for i = #before, 1, -1 do
    local c = before:sub(i, i)
    if c == "}" then depth = depth + 1
    elseif c == "{" then
      if depth > 0 then depth = depth - 1 else
        local path = before:sub(1, i - 1):match("([%a_][%w_%.:]*)%s*%(?%s*$")
        if not path then return {} end
        local all = rawget(lab, "__arguments")
        local names = all[path]
        if not names then
          -- An alias (o = lab.objectives; o.neuron{...}): find the lab function it is.
          local f = lab.__resolve(path)
          for name, list in pairs(all) do if f ~= nil and lab.__resolve(name) == f then names = list; break end end
        end
        local out = {}
        for _, n in ipairs(names or {}) do if n:sub(1, #word) == word then out[#out + 1] = n .. "=" end end
        return out
      end
    end
  end
  return {}
end
