-- The dream-quality benchmark (scripts/quality runs it after set-up). See scripts/quality for the arguments.
local n_units = tonumber(arg[1]) or 20
local budget = tonumber(arg[2]) or 5
local out = arg[3] or "out/quality.json"
local m = lab.load()
lab.quiet(true)
local C = m.config

-- A seeded sample of units: resid_post and mlp.hook_post across layers.
math.randomseed(20201)
local units = {}
for i = 1, n_units do
  local layer = math.random(0, C.layers - 1)
  local kind = (i % 2 == 0) and "mlp.hook_post" or "hook_resid_post"
  local width = kind == "mlp.hook_post" and C.intermediate or C.hidden
  units[i] = { site = "blocks." .. layer .. "." .. kind, unit = math.random(0, width - 1) }
end

local function within(budget_s)
  return function(s) return s.elapsed < budget_s end
end
local methods = { "relaxed", "hybrid", "discrete" }
local function run(method, o, sentence, first, last)
  local args = { model = m, objective = o, sentence = sentence, first = first, last = last, method = method,
                 steps = 1000000, every = 1000000, on_step = within(budget), seed = 1 }
  if method == "relaxed" then args.temperature = lab.schedules.anneal{} end   -- PAIR's defaults
  return lab.dream(args)
end

-- One position: "i hate kickshaws", position 2; exhaustive search for every unit in one pass.
local single_sentence, pos = "i hate kickshaws", 2
local objs = {}
for i, u in ipairs(units) do objs[i] = lab.objectives.site{model = m, site = u.site, pos = pos, unit = u.unit} end
local t0 = os.time()
local searches = lab.search{model = m, sentence = single_sentence, position = pos, objectives = objs, topk = C.vocab}
print(string.format("exhaustive search: %d units x %d tokens in %.1f s", #units, C.vocab, searches[1].seconds))

-- A span: positions 1..6 of a 9-word sentence, the unit read at position 3; top corpus example from fortunes.
local span_sentence, sfirst, slast, spos = "the quick brown fox jumps over the lazy dog", 1, 6, 3
local corpus = "/usr/share/games/fortunes/fortunes"

local rows = {}
local summary = {}
for _, method in ipairs(methods) do summary[method] = { ratio = {}, span = {}, top = 0, beat = 0, steps = 0, secs = 0, scored = 0 } end
for i, u in ipairs(units) do
  local o = objs[i]
  local s = searches[i]
  local max = s[1].activation
  local row = { site = u.site, unit = u.unit, search_max = max, search_token = s[1].token }
  local so = lab.objectives.site{model = m, site = u.site, pos = spos, unit = u.unit}
  local c = lab.corpus{model = m, file = corpus, objective = so, topk = 1, max_tokens = 64}
  row.corpus_max = c[1].activation
  for _, method in ipairs(methods) do
    local r = run(method, o, single_sentence, pos, pos)
    local found = r.best.activation
    local rank = #s + 1
    for k = 1, #s do if s[k].activation <= found + 1e-6 then rank = k; break end end
    local r2 = run(method, so, span_sentence, sfirst, slast)
    local ratio = (max ~= 0) and found / max or 0
    local sratio = (row.corpus_max ~= 0) and r2.best.activation / row.corpus_max or 0
    row[method] = { found = found, token = r.best.tokens[pos + 1], rank = rank, ratio = ratio, steps = r.steps,
                    span_found = r2.best.activation, span_ratio = sratio, span_text = r2.best.text,
                    steps_per_second = r.steps_per_second, scored = r.scored + r2.scored, seconds = r.seconds + r2.seconds }
    local sm = summary[method]
    sm.ratio[#sm.ratio + 1] = ratio
    sm.span[#sm.span + 1] = sratio
    if found >= max - 1e-6 then sm.top = sm.top + 1 end
    if r2.best.activation > row.corpus_max then sm.beat = sm.beat + 1 end
    sm.steps = sm.steps + r.steps + r2.steps
    sm.secs = sm.secs + r.seconds + r2.seconds
    sm.scored = sm.scored + r.scored + r2.scored
  end
  rows[#rows + 1] = row
  print(string.format("%2d %-26s u%-5d max %8.4f (%s) | relaxed %.2f r%d | hybrid %.2f r%d | discrete %.2f r%d | span vs corpus %.2f %.2f %.2f",
        i, u.site, u.unit, max, s[1].token, row.relaxed.ratio, row.relaxed.rank, row.hybrid.ratio, row.hybrid.rank,
        row.discrete.ratio, row.discrete.rank, row.relaxed.span_ratio, row.hybrid.span_ratio, row.discrete.span_ratio))
end

local function median(t) local c = {} for i, v in ipairs(t) do c[i] = v end table.sort(c) return c[math.max(1, (#c + 1) // 2)] end
print(string.format("\n%-9s %14s %18s %16s %20s %8s %8s %14s", "method", "median found/max", "top token (or =)", "median span/corpus", "spans beating corpus", "wall s", "steps/s", "scored exactly/s"))
for _, method in ipairs(methods) do
  local sm = summary[method]
  print(string.format("%-9s %14.3f %13d/%-4d %16.3f %15d/%-4d %8.1f %8.1f %14.1f", method, median(sm.ratio), sm.top, #units, median(sm.span),
                      sm.beat, #units, sm.secs, sm.steps / math.max(sm.secs, 1e-9), sm.scored / math.max(sm.secs, 1e-9)))
  sm.median_ratio = median(sm.ratio); sm.median_span = median(sm.span); sm.ratio = nil; sm.span = nil
end
print(string.format("budget %.1f s per method per unit (one position and one span each); exhaustive search %.0f token-unit scores/s (all units share each pass)", budget, C.vocab * #units / searches[1].seconds))
os.execute("mkdir -p '" .. (out:match("^(.*)/") or ".") .. "'")
local f = assert(io.open(out .. ".tmp", "w"))
f:write(lab.json.encode({ units = rows, summary = summary, budget_seconds = budget, model = m.path }))
f:close()
os.rename(out .. ".tmp", out)
print("wrote " .. out)
