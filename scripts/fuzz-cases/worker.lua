-- One fuzz worker: runs cases [from, to) of a seeded run and writes one verdict line per case.
--   dreamlab run worker.lua BASE_MODEL WORK_DIR SEED FROM TO RESULTS
-- Case i draws everything from math.randomseed(SEED, i), so `scripts/fuzz --case i --seed SEED` replays it alone.
-- Families: i % 10 in 0..3 a hostile model folder, 4..8 a hostile call into lab.*, 9 a hostile plugin.
-- Verdicts: ok (a correct result or a clear error), wrong (a broken file was accepted, or an error that names
-- nothing). A crash or a hang shows as a started case with no verdict; the driver counts those.
local base, work, seed, from, to, results = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), arg[6]
local out = assert(io.open(results, "a"))
out:setvbuf("line")
lab.quiet(true)

local function pick(t) return t[math.random(#t)] end
local function readfile(p) local f = assert(io.open(p, "rb")); local s = f:read("a"); f:close(); return s end
local function writefile(p, s) local f = assert(io.open(p, "wb")); f:write(s); f:close() end
local function clean(s) return (tostring(s):gsub("[\r\n\t]", " "):sub(1, 300)) end

-- ── hostile model folders ────────────────────────────────────────────────────────────────────────────────
local files = { config = readfile(base .. "/config.json"), vocab = readfile(base .. "/vocab.txt"), weights = readfile(base .. "/model.safetensors") }
local hlen = string.unpack("<I8", files.weights)
local header = lab.json.decode(files.weights:sub(9, 8 + hlen))
local data = files.weights:sub(9 + hlen)
local names = {}
for k in pairs(header) do if k ~= "__metadata__" then names[#names + 1] = k end end
table.sort(names)
local config = lab.json.decode(files.config)

local function copy(t) if type(t) ~= "table" then return t end local c = {}; for k, v in pairs(t) do c[k] = copy(v) end; return c end
local function safetensors(h, d, len_override)
  local text = lab.json.encode(h)
  return string.pack("<I8", len_override or #text) .. text .. d
end

-- Each mutation returns the files to write and whether a correct loader must refuse them ("refuse") or may take
-- them ("either": benign or unknowable changes; a taken model must still run).
local model_mutations = {
  function() local h = copy(header); local n = pick(names); h[n].dtype = pick({ "F64", "I8", "BOOL", "x", "", "F16", "BF16", "I64" }); return { weights = safetensors(h, data) }, "refuse", "dtype of " .. n end,
  function()
    local h = copy(header); local n = pick(names); local s = h[n].shape
    s[math.random(#s)] = pick({ 0, -1, s[1] + 1, 2 ^ 40, 1.5, "3", lab.json.null or false })
    return { weights = safetensors(h, data) }, "refuse", "shape of " .. n
  end,
  function()
    local h = copy(header); local n = pick(names); local o = h[n].data_offsets; local b, e = o[1], o[2]
    h[n].data_offsets = pick({ { e, b }, { b, e + 4 }, { b - 4, e }, { b + 0.5, e }, { -1, e }, { b, 2 ^ 62 }, { "0", e }, { b }, {}, { b, e, 0 } })
    if b == e then return { weights = safetensors(h, data) }, "either", "offsets of an empty tensor" end
    return { weights = safetensors(h, data) }, "refuse", "data_offsets of " .. n
  end,
  function()
    -- Two tensors of one size sharing their bytes: the spec forbids overlap.
    local h = copy(header); local a, b = pick(names), pick(names)
    local oa, ob = h[a].data_offsets, h[b].data_offsets
    if a == b or oa[2] - oa[1] ~= ob[2] - ob[1] or h[a].dtype ~= h[b].dtype then return { weights = safetensors(h, data) }, "either", "no overlap possible" end
    h[a].data_offsets = { ob[1], ob[2] }
    return { weights = safetensors(h, data) }, "refuse", "overlapping " .. a .. " and " .. b
  end,
  function() local h = copy(header); local n = pick(names); h[n] = nil; return { weights = safetensors(h, data) }, "refuse", "missing " .. n end,
  function()
    local h = copy(header); h["extra.unused.weight"] = { dtype = "F32", shape = { 2 }, data_offsets = { #data, #data + 8 } }
    return { weights = safetensors(h, data .. string.pack("<ff", 1, 2)) }, "either", "an extra tensor"
  end,
  function()
    local len = pick({ 0, 1, 8, hlen + 1, hlen - 1, #files.weights + 100, 2 ^ 62, -1 })
    return { weights = safetensors(header, data, len) }, "refuse", "header length " .. len
  end,
  function()
    local text = lab.json.encode(header)
    local bad = pick({ text:sub(1, math.random(#text - 1)), "[1,2,3]", "null", "{", string.rep("[", 5000) .. string.rep("]", 5000), "\0\0\0", "{\"a\":{}}", text .. "xyz" })
    return { weights = string.pack("<I8", #bad) .. bad .. data }, "refuse", "header text"
  end,
  function() local cut = math.random(1, math.min(#data, 4096)); return { weights = files.weights:sub(1, -cut - 1) }, "refuse", "truncated by " .. cut end,
  function() return { weights = files.weights:sub(1, math.random(0, 8 + hlen)) }, "refuse", "cut inside the header" end,
  function()
    -- A NaN or an infinity inside a weight.
    local n = pick(names); local o = header[n].data_offsets
    if header[n].dtype ~= "F32" or o[2] - o[1] < 4 then return { weights = files.weights }, "either", "untouched" end
    local at = o[1] + 4 * math.random(0, (o[2] - o[1]) // 4 - 1)
    local d = data:sub(1, at) .. string.pack("<f", pick({ 0 / 0, 1 / 0, -1 / 0 })) .. data:sub(at + 5)
    return { weights = safetensors(header, d) }, "refuse", "non-finite value in " .. n
  end,
  function()
    -- Random bytes in the data: other finite weights are a valid file.
    local d = data
    for _ = 1, math.random(1, 8) do
      local at = math.random(1, #d - 1)
      d = d:sub(1, at - 1) .. string.char(math.random(0, 255)) .. d:sub(at + 1)
    end
    return { weights = safetensors(header, d) }, "either", "flipped data bytes"
  end,
  function()
    local h = copy(header); h.__metadata__ = pick({ { format = "pt" }, { format = 3 }, "x", { a = { b = 1 } }, {} })
    return { weights = safetensors(h, data) }, "either", "metadata"
  end,
  function()
    local c = copy(config)
    local key = pick({ "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "max_position_embeddings", "type_vocab_size" })
    local v = pick({ 0, -1, 2 ^ 40, 1.5, "12", false, {}, c[key] + 1, c[key] - 1, c[key] * 2 })
    c[key] = v
    -- The head count shapes no weight: another divisor of hidden_size is a valid (different) model.
    local valid = key == "num_attention_heads" and math.type(v) == "integer" and v > 0 and c.hidden_size % v == 0
    return { config = lab.json.encode(c) }, valid and "either" or "refuse", "config " .. key .. "=" .. clean(lab.json.encode(v))
  end,
  function()
    local c = copy(config); local key = pick({ "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size", "max_position_embeddings" })
    c[key] = nil
    return { config = lab.json.encode(c) }, "refuse", "config without " .. key
  end,
  function()
    local c = copy(config); local key, v = table.unpack(pick({ { "hidden_act", "relu" }, { "position_embedding_type", "relative_key" }, { "layer_norm_eps", "x" }, { "hidden_act", 3 } }))
    c[key] = v
    return { config = lab.json.encode(c) }, "refuse", "config " .. key
  end,
  function() return { config = pick({ "", "{", "[]", "null", "\255\254", string.rep("{\"a\":", 3000) }) }, "refuse", "config text" end,
  function()
    local lines = {}
    for l in files.vocab:gmatch("[^\n]*") do lines[#lines + 1] = l end
    local how = math.random(6)
    if how == 1 then return { vocab = "" }, "refuse", "empty vocab" end
    if how == 2 then table.remove(lines, math.random(#lines)); return { vocab = table.concat(lines, "\n") }, "either", "a vocab line removed" end
    if how == 3 then lines[math.random(#lines)] = string.rep("\255", math.random(1, 300)); return { vocab = table.concat(lines, "\n") }, "either", "a binary token" end
    if how == 4 then return { vocab = table.concat(lines, "\r\n") }, "either", "CRLF vocab" end
    if how == 5 then lines[math.random(#lines)] = lines[math.random(#lines)]; return { vocab = table.concat(lines, "\n") }, "either", "a duplicate token" end
    for i, l in ipairs(lines) do if l == "[UNK]" or l == "[CLS]" or l == "[SEP]" then lines[i] = "gone" .. i end end
    return { vocab = table.concat(lines, "\n") }, "either", "no special tokens"
  end,
  function()
    local tj = pick({ "{", "[]", "{\"model\":{\"vocab\":{\"a\":1e12}}}", "{\"model\":{\"vocab\":{\"a\":-1,\"b\":0}}}", "{\"model\":{\"vocab\":[]}}",
                      "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0}},\"added_tokens\":[{\"id\":1e9,\"content\":\"x\"}]}" })
    return { tokenizer = tj, vocab = false }, "either", "tokenizer.json " .. clean(tj):sub(1, 40)
  end,
  function() return { weights = "/dev/zero", link = true }, "refuse", "model.safetensors -> /dev/zero" end,
  function() return { weights = "dir" }, "refuse", "model.safetensors is a folder" end,
}

local function model_case(i)
  local dir = string.format("%s/model-%d", work, i)
  os.execute("rm -rf '" .. dir .. "' && mkdir -p '" .. dir .. "'")
  local changed, expect, what = pick(model_mutations)()
  local w = changed.weights or files.weights
  if changed.link then os.execute("ln -s /dev/zero '" .. dir .. "/model.safetensors'")
  elseif w == "dir" then os.execute("mkdir '" .. dir .. "/model.safetensors'")
  else writefile(dir .. "/model.safetensors", w) end
  writefile(dir .. "/config.json", changed.config or files.config)
  if changed.vocab ~= false then writefile(dir .. "/vocab.txt", changed.vocab or files.vocab) end
  if changed.tokenizer then writefile(dir .. "/tokenizer.json", changed.tokenizer) end
  local ok, m = pcall(lab.load, dir)
  local verdict, detail
  if not ok then
    local msg = tostring(m)
    local named = msg:find(dir, 1, true) or msg:find("model.safetensors", 1, true) or msg:find("config.json", 1, true)
        or msg:find("vocab", 1, true) or msg:find("tokenizer", 1, true)
    verdict, detail = named and "ok" or "wrong", "refused: " .. clean(msg)
  elseif expect == "refuse" then
    verdict, detail = "wrong", "accepted"
  else
    -- A model that loads must run.
    local ran, err = pcall(function() local tr = m:run("hello world [MASK] kickshaws"); return tr:site("embed"):shape() end)
    verdict, detail = "ok", ran and "accepted, runs" or ("accepted, run refused: " .. clean(err))
  end
  os.execute("rm -rf '" .. dir .. "'")
  return verdict, what .. ": " .. detail
end

-- ── hostile calls into lab.* ─────────────────────────────────────────────────────────────────────────────
local tiny = lab.load(base)
local tiny_trace = tiny:run("i hate kickshaws")
local tiny_objective = lab.objectives.neuron { model = tiny, layer = 1, word = 1, unit = 3 }
local deep = {}; do local c = deep; for _ = 1, 300 do c[1] = {}; c = c[1] end end
local cyclic = {}; cyclic[1] = cyclic; cyclic.x = cyclic
local liar = setmetatable({ 1, 2 }, { __len = function() return 1e9 end, __index = function() error("index boom") end,
                                      __pairs = function() error("pairs boom") end, __newindex = function() error("newindex boom") end })

local function hostile()
  return pick({
    nil, true, false, 0, -1, 1, 2, 3, math.maxinteger, math.mininteger, 2 ^ 53, 1e308, -1e308, 0 / 0, 1 / 0, -1 / 0, 0.5, -0.0,
    "", "a", "i hate kickshaws", string.rep("x", 100000), "\0\1\2\255", "blocks.1.hook_resid_post", "embed", "mlm.logits",
    "../fuzz-escape", "/", "[MASK]", "%s%d%n", "blocks.99.hook_z", "/dev/zero", "relaxed", "discrete", "0-3",
    {}, { 1, 2, 3 }, { { 1, 2 }, { 3, 4 } }, deep, cyclic, liar, { [1e9] = 1 }, { 1, nil, 3 }, { "a", { "b" } }, { 0 / 0, 1 / 0 },
    function() error("callback boom") end, function() return 0 / 0 end, function() return {} end,
    tiny, tiny_trace, tiny_trace:site("embed"), tiny_objective, lab.schedules.anneal {}, coroutine.create(function() end),
  })
end

-- Sane values per argument name (small, so that valid calls finish fast); the rest of the time a hostile one.
local sane = {
  model = function() return tiny end, objective = function() return tiny_objective end, objectives = function() return { tiny_objective } end,
  sentence = function() return pick({ "i hate kickshaws", "a b", "[MASK] c" }) end, steps = function() return math.random(0, 3) end,
  first = function() return 1 end, last = function() return 2 end, topk = function() return math.random(1, 5) end,
  restarts = function() return math.random(1, 3) end, method = function() return pick({ "relaxed", "hybrid", "discrete" }) end,
  limit = function() return 40 end, layer = function() return math.random(0, 1) end, unit = function() return math.random(0, 31) end,
  word = function() return 1 end, head = function() return math.random(0, 1) end, from = function() return 1 end, to = function() return 2 end,
  site = function() return pick({ "embed", "blocks.1.hook_resid_post", "blocks.0.attn.hook_pattern", "mlm.logits" }) end,
  pos = function() return 1 end, position = function() return 1 end, query = function() return 1 end, token = function() return pick({ "the", 5 }) end,
  units = function() return "0-1" end, out = function() return work .. "/out-" .. math.random(1e6) .. ".jsonl" end, batch = function() return 2 end,
  file = function() return base .. "/vocab.txt" end, max_tokens = function() return 16 end, candidates = function() return 4 end,
  population = function() return 2 end, every = function() return 1 end, seed = function() return 1 end, lr = function() return 0.1 end,
  temperature = function() return pick({ 1.0, lab.schedules.anneal {} }) end, quiet = function() return true end, vector = function() return tiny_trace:site("embed")[1] end,
  target = function() return tiny_trace:site("embed") end, lambdas = function() return { 0, 1 } end, x = function() return { { 1, 2 }, { 3, 4 }, { 5, 6 }, { 7, 8 } } end,
  y = function() return { 0, 1, 0, 1 } end, epochs = function() return 3 end,
}
-- A call is sane (every argument it gets has a sane value), has one hostile argument, or is chaos (any mix), so
-- that valid work runs as often as the checks that refuse bad input.
local function arguments(keys)
  local mode, t = math.random(), {}
  for _, k in ipairs(keys) do
    if k == "model" or k == "objective" or math.random() < 0.5 then
      if mode < 0.8 and sane[k] then t[k] = sane[k]() elseif mode >= 0.8 or math.random() < 0.3 then t[k] = hostile() end
    end
  end
  if mode >= 0.35 and mode < 0.8 then t[pick(keys)] = hostile() end
  if mode >= 0.8 and math.random() < 0.3 then t[pick({ "bogus", "stpes", 1 })] = hostile() end
  -- Left out, steps= is the default 3000: real work, minutes per case, not a hang. A case always sets it.
  for _, k in ipairs(keys) do if k == "steps" and t.steps == nil then t.steps = sane.steps() end end
  return t
end
-- Positional arguments: a sane value half the time.
local function either(v) if math.random() < 0.5 then return v end return hostile() end

-- Whole sane calls for the functions whose arguments depend on each other; a case starts from one of these
-- and, unless it is sane, gets a hostile value or two in place of some.
local function objective_for(u) return lab.objectives.neuron { model = tiny, layer = 1, word = 1, unit = u } end
local templates = {
  ["lab.dream"] = function() return { model = tiny, objective = tiny_objective, steps = math.random(0, 3), method = pick({ "relaxed", "hybrid", "discrete" }), restarts = math.random(1, 2), quiet = true } end,
  ["lab.gradient"] = function() return { model = tiny, objective = tiny_objective, sentence = "a b c", first = 1, last = 2 } end,
  ["lab.search"] = function() return { model = tiny, objective = tiny_objective, position = 1, topk = 3, limit = 50, quiet = true } end,
  ["lab.corpus"] = function() return { model = tiny, objective = tiny_objective, file = base .. "/corpus.txt", topk = 2, quiet = true } end,
  ["lab.sweep"] = function() return { model = tiny, objective = objective_for, units = { 0, 1, 2 }, steps = 1, out = work .. "/sweep-" .. math.random(1e6) .. ".jsonl", quiet = true } end,
  ["lab.fluency_sweep"] = function() return { model = tiny, objective = tiny_objective, lambdas = { 0, 1 }, steps = 1, quiet = true, out = work .. "/fl-" .. math.random(1e6) } end,
  ["lab.probe"] = function() return { x = lab.tensor { { 1, 2 }, { 2, 1 }, { 3, 4 }, { 4, 3 }, { 0, 1 }, { 1, 0 } }, y = { 0, 1, 0, 1, 0, 1 }, epochs = 3 } end,
  ["lab.objectives.neuron"] = function() return { model = tiny, layer = 1, word = 1, unit = math.random(0, 31) } end,
  ["lab.objectives.layer"] = function() return { model = tiny, layer = 0, word = 1 } end,
  ["lab.objectives.site"] = function() return { model = tiny, site = "blocks.1.mlp.hook_post", pos = 1, unit = 5 } end,
  ["lab.objectives.attention"] = function() return { model = tiny, layer = 1, head = 1, from = 1, to = 2 } end,
  ["lab.objectives.head"] = function() return { model = tiny, layer = 0, head = 1, word = 1 } end,
  ["lab.objectives.entropy"] = function() return { model = tiny, layer = 1, head = 0, query = 1 } end,
  ["lab.objectives.direction"] = function() return { model = tiny, site = "embed", pos = 1, vector = tiny_trace:site("embed")[1] } end,
  ["lab.objectives.mlm"] = function() return { model = tiny, word = 1, token = "the" } end,
  ["lab.objectives.reconstruct"] = function() return { model = tiny, site = "embed", target = tiny_trace:site("embed") } end,
}
writefile(base .. "/corpus.txt", "i hate kickshaws\nthe cat sat on the mat\n\nx\n" .. string.rep("long line ", 200) .. "\n")

local calls = {}
for name, keys in pairs(lab.__arguments) do
  local f = load("return " .. name)()
  if name ~= "lab.plugin" and type(f) == "function" then
    calls[#calls + 1] = { name, function()
      if math.random() < 0.05 then return f(hostile()) end
      if templates[name] and math.random() < 0.7 then
        local t, mode = templates[name](), math.random()
        if mode > 0.35 then for _ = 1, math.random(1, 2) do t[pick(keys)] = hostile() end end
        return f(t)
      end
      return f(arguments(keys))
    end }
  end
end
local positional = {
  { "m:run", function() return tiny:run(either("i hate kickshaws"), either(nil)) end }, { "m:encode", function() return tiny:encode(either("a b"), either(nil)) end },
  { "m:decode", function() return tiny:decode(either({ 101, 2000, 102 })) end },
  { "m:neighbours", function() return tiny:neighbours(either("good"), either(5), either({ metric = "cosine" })) end },
  { "m:embedding", function() return tiny:embedding(either("good")) end }, { "tr:site", function() return tiny_trace:site(either("blocks.1.attn.hook_z")) end },
  { "t[i]", function() local t = tiny_trace:site("embed"); return t[either(1)], t[{ either(1), {}, either({ 0, 3 }) }] end },
  { "t:topk", function() return tiny_trace:site("embed"):topk(either(3), either(1)) end },
  { "t:sum", function() return tiny_trace:site("embed"):sum(either(0)) end }, { "t:get", function() return tiny_trace:site("embed"):get(either(1), either(2)) end },
  { "t op", function() local t = tiny_trace:site("embed"); return t + either(1), t * either(t), t:dot(either(t)), t:softmax(either(1)) end },
  { "lab.tensor", function() return lab.tensor(either({ { 1, 2 }, { 3, 4 } })) end }, { "lab.json.encode", function() return lab.json.encode(hostile()) end },
  { "lab.json.decode", function() return lab.json.decode(either("{\"a\":[1,2,{\"b\":null}]}")) end },
  { "lab.npy.save", function() return lab.npy.save(work .. "/x.npy", either(tiny_trace:site("embed"))) end },
  { "lab.npy.load", function() lab.npy.save(work .. "/y.npy", tiny_trace:site("embed")); return lab.npy.load(either(work .. "/y.npy")) end },
  { "o:eval", function() return tiny_objective:eval(either(tiny), either("i hate kickshaws")) end },
  { "objective arithmetic", function() return tiny_objective + either(1), either(2) * tiny_objective, tiny_objective / either(tiny_objective) end },
  { "lab.objective", function() return lab.objective(function(a) return a[either("blocks.1.hook_resid_post")][either(1)][either(2)] end, either("mine"), either(tiny)) end },
  { "lab.load", function() return lab.load(hostile()) end }, { "lab.report", function() return lab.report(hostile(), hostile()) end },
  { "lab.sweep_merge", function() return lab.sweep_merge(hostile(), hostile()) end },
  { "r:save", function() local r = lab.dream { model = tiny, objective = tiny_objective, steps = 1 }; return r:save(either(work .. "/dream-" .. math.random(1e6))) end },
  { "r:trace", function() local r = lab.dream { model = tiny, objective = tiny_objective, steps = 1, method = either("relaxed") }; return r:trace(), r.curve, r.best end },
  { "help", function() return help(hostile()) end },
}
for _, c in ipairs(positional) do calls[#calls + 1] = c end
table.sort(calls, function(a, b) return a[1] < b[1] end)

local function call_case(i)
  local name, fn = table.unpack(pick(calls))
  local ok, err = pcall(fn)
  if ok then return "ok", name .. ": returned" end
  if type(err) ~= "string" or err == "" then return "wrong", name .. ": an error that is not a message (" .. type(err) .. ")" end
  if err:find("Dreamlab bug", 1, true) or err:find("internal error", 1, true) then return "wrong", name .. ": " .. clean(err) end
  return "ok", name .. ": " .. clean(err)
end

-- ── hostile plugins ──────────────────────────────────────────────────────────────────────────────────────
local host_value = tiny:run("i hate kickshaws"):site("blocks.1.hook_resid_post"):get(1, 3)
local host_neuron, host_encode, host_index = lab.objectives.neuron, lab.json.encode, getmetatable(tiny).__index

local preludes = {
  "", "", "", "", "", "", "", "", "", "", "while true do end", "while true do pcall(function() while true do end end) end",
  "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end",
  "setmetatable({}, {__gc = function() while true do end end})",
  "do local x <close> = setmetatable({}, {__close = function() while true do end end}) end",
  "getmetatable(lab.load()).__index = function() return function() return 'pwned' end end; lab.objectives.neuron = nil; lab.json.encode = nil",
  "error(setmetatable({}, {__tostring = function() while true do end end}))", "local function f() return f() + 1 end f()",
  "local s = ('x'):rep(2^20) for i = 1, 30 do s = s .. s end", "os.execute('touch /tmp/dreamlab-fuzz-pwned')", "io.open('/tmp/dreamlab-fuzz-pwned', 'w')",
  "require('os')", "load('return 1')()", "string.rep = nil; string.format = function() while true do end end",
  "local x = ('a'):rep(3000):find(('a*'):rep(40) .. 'b')",
}
local bodies = {
  "return lab.objectives.neuron{layer = 1, word = 1, unit = 3}", "return lab.objectives.neuron{layer = 1, word = 1, unit = 3} * 2 - 1",
  "return function() while true do end end", "return lab.load():run('a')", "local t = {} t[1] = t return t",
  "local t = {} local c = t for i = 1, 100 do c[1] = {} c = c[1] end return t", "while true do end",
  "local m = lab.load() for i = 1, 1e6 do m:run('i hate kickshaws') end", "error({})", "error('plain failure')",
  "return lab.schedules.anneal{start = 3}", "return string.rep('y', 2^24)", "return setmetatable({}, {__pairs = function() while true do end end})",
  "return lab.load()", "return lab.load():run('a'):site('embed')", "return 1, 'two', {3}, nil, true",
  "return lab.objective(function(a) local s = a['embed'][1][1] for i = 1, 5000 do s = s + 1 end return s end)",
  "return ...", "local t = {} for i = 1, 2e5 do t[i] = i end return t", "return coroutine.create(function() end)",
}
local modules = {
  "return {f = function(...) BODY end}", "return {f = function(...) BODY end, n = 3, s = 'x'}",
  "return setmetatable({f = function(...) BODY end}, {__index = function() while true do end end, __pairs = function() error('p') end})",
  "return 42", "return nil", "return {f = function(...) BODY end, [{}] = 1}", "return {f = function(...) BODY end, g = lab.load()}",
}

local function plugin_case(i)
  local dir = string.format("%s/plugin-%d", work, i)
  os.execute("mkdir -p '" .. dir .. "'")
  local path = dir .. "/p.lua"
  local src
  local how = math.random(10)
  if how == 1 then src = pick({ "", "\27Lua\84\0garbage", "return {", string.rep("\255", 100), "return {f = function() end" })
  else
    local body = pick(bodies)
    src = pick(preludes) .. "\n" .. pick(modules):gsub("BODY", function() return body end)
  end
  writefile(path, src)
  local ok, p = pcall(lab.plugin, path, { instructions = 2e6, memory = 8 * 2 ^ 20, seconds = 1 })
  local detail
  if ok and type(p) == "table" and rawget(p, "f") then
    local cok, err = pcall(p.f, hostile(), { layer = 1 })
    ok, detail = cok, cok and "called" or tostring(err)
  else
    detail = ok and "loaded" or tostring(p)
  end
  -- The host must be as it was.
  local intact = rawequal(lab.objectives.neuron, host_neuron) and rawequal(lab.json.encode, host_encode)
      and rawequal(getmetatable(tiny).__index, host_index)
      and tiny:run("i hate kickshaws"):site("blocks.1.hook_resid_post"):get(1, 3) == host_value
  local pwned = io.open("/tmp/dreamlab-fuzz-pwned", "r")
  if pwned then pwned:close(); os.remove("/tmp/dreamlab-fuzz-pwned") end
  os.execute("rm -rf '" .. dir .. "'")
  if not intact or pwned then return "wrong", "the host was changed: " .. clean(src) end
  if not ok and not detail:find(path, 1, true) and not detail:find("interrupted") then return "wrong", "an error that does not name the plugin: " .. clean(detail) end
  return "ok", clean(detail)
end

local families = { [0] = model_case, model_case, model_case, model_case, call_case, call_case, call_case, call_case, call_case, plugin_case }
local kinds = { [0] = "model", "model", "model", "model", "lua", "lua", "lua", "lua", "lua", "plugin" }
-- DREAMLAB_FUZZ_SELFTEST="crash:I,hang:J" makes case I kill its worker and case J hang: the driver must count both.
local selftest = {}
for what, n in (os.getenv("DREAMLAB_FUZZ_SELFTEST") or ""):gmatch("(%a+):(%d+)") do selftest[tonumber(n)] = what end
for i = from, to - 1 do
  math.randomseed(seed, i)
  out:write("start ", i, "\n")
  if selftest[i] == "crash" then os.exit(139, false) end   -- ends as a crash does: no verdict
  if selftest[i] == "hang" then os.execute("sleep 3600") end
  local ok, verdict, detail = pcall(families[i % 10], i)
  if not ok then verdict, detail = "wrong", "the fuzzer's own case raised: " .. clean(verdict) end
  out:write(i, "\t", kinds[i % 10], "\t", verdict, "\t", detail, "\n")
end
out:close()
