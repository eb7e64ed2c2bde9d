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
