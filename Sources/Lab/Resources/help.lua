local docs = setmetatable({}, { __mode = "k" })
lab.__docs = docs

local function doc(f, text) if f ~= nil then docs[f] = text end end

doc(lab.load, [==[lab.load([dir_or_name] [, {precision="fp32"}]) -> model     (also lab.load{path=, precision=})
  The default model (all-MiniLM-L6-v2, or $LAB_MODEL) with no argument; a Hugging Face BERT directory; or a name
  already in the Hugging Face cache (offline), e.g. lab.load("bert-base-uncased").
  precision="bf16" (opt-in) rounds the weight matrices and the embedding matrix to bf16 and runs the large products
  in bf16 with float32 sums (AVX512_BF16 where the CPU has it; lab.info().bf16_kernel says which): faster, about three
  significant digits. fp32, the default, is exact. m.precision says which a model is.
  m.config  {layers=, hidden=, heads=, intermediate=, vocab=, max_positions=, has_mlm=}
  m:encode(text [, text2]) -> {tokens=, ids=, type_ids=}    m:decode(ids) -> text
  m:run(text | ids) -> trace;  tr:site("blocks.5.hook_resid_post") -> tensor;  m.sites lists every site
  m:pll(text | ids [, first, last]) -> mean log-probability per token, per-position list (needs an MLM head)
  example:  m = lab.load(); print(m:run("i hate kickshaws"):site("blocks.5.hook_resid_post"):get(2, 300))]==])
doc(lab.dream, [==[lab.dream{objective=, model=, sentence="i hate kickshaws", sentence2=, first=1, last=T-2, steps=3000, lr=0.1,
          temperature=lab.schedules.anneal{start=2.0, stop=0.1, rate=0.9995, warmup=200}, gumbel=false, hard=false,
          seed=1, topk=10, every=250, topk_every=1, restarts=1, init_noise=0.5, on_step=function(s) end, quiet=false} -> result
  PAIR's relaxed dream: softmax(z/T) over the vocabulary at positions first..last (0-based), Adam on z.
  spans={{1, 1}, {3, 5}} dreams several spans around fixed tokens instead (PAIR's dream_mlm); start="mask" starts the
  dreamed positions at [MASK], start="random" at seeded random tokens (PAIR's reconstructions), "sentence" (default) at its words.
  temperature: a number, a lab.schedules.* schedule, or function(step) return T end.
  on_step(s) gets {step, temperature, activation, ids_activation, best, tokens}; return false to stop.
  Ctrl-C stops at the next step and returns what was found so far.
  method="relaxed" (default): PAIR's algorithm, exactly; good for studying the relaxation itself, weak at finding maxima.
  method="hybrid": Gumbel-softmax annealed to T=0.05, the argmax input scored exactly each step and the best kept.
  method="discrete": gradient-guided token swaps (GCG/AutoPrompt, as a population like EPO) scored exactly in
    batches: population=8 (or restarts= when above 1), candidates=128 per step drawn from the top k tokens by gradient, k=8 doubling after a step
    that finds nothing better (up to k_max, default the whole vocabulary; back to k after a gain); explore=0.1 of the
    swaps drawn from the whole vocabulary (for units whose gradient is flat), neighbors=0.2 from the current token's
    nearest embeddings, surrogate=0.2 the best untried tokens by a ridge fit of the score on each position's token
    embedding over every input scored so far (global where the gradient is local; the other half follow the
    gradient); after 8 steps without a gain the weaker half restarts near the best input. screen=1024: when the
    objective reads one dreamed position at its deepest layer, each step after one without a gain first estimates
    that many swaps there with the rest of the input frozen (one row per layer, 4-6x cheaper than exact) and scores
    the 16 best exactly; it finds outlier tokens the gradient and the fit rank in the thousands (0: off). No input is
    scored twice. honest=true keeps only inputs that survive decode + re-encode. Use it to find what a unit really
    responds to; 50-200 steps are usually enough.
  Which: discrete to find the maximum; hybrid when you want a relaxation that ends on real tokens; relaxed to
    reproduce PAIR or study the soft input.
  fluency=λ, fluency_model=: maximise activation + λ·PLL, the span's pseudo-log-likelihood (mean log-probability per
    dreamed token, each position masked in turn, one batched pass) under a BERT with an MLM head and the same
    vocabulary (default: the dreamed model, which needs a head; the default MiniLM has none, so name one, e.g.
    fluency_model="bert-base-uncased"). Works with every method; discrete scores the most promising quarter of each
    step's swaps exactly. lab.fluency_sweep runs several λ and returns the Pareto frontier.
  result: r.tokens r.text r.activation r.ids_activation r.history r.best{tokens,ids,text,activation,honest,pll,score}
          r.curve (every step) r.runs r.method r.fluency r:save(dir) r:trace(); m:run(r) traces r.best
  every=: steps between PAIR's metrics records; topk_every=: steps between top-k records (1, as PAIR writes them).
  example:  r = lab.dream{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, first=2, last=2, steps=500}]==])
doc(lab.fluency_sweep, [==[lab.fluency_sweep{<lab.dream's arguments>, fluency_model=, lambdas={0, 0.01, 0.03, 0.1, 0.3, 1}, out=dir} -> f
  One dream per λ (method= as in lab.dream; discrete finds the best trade-offs). Every run's best input becomes a point
  {lambda, activation, pll, score, text, tokens, ids, honest}; f.frontier holds the points no other point beats on
  both activation and PLL, by PLL ascending (EPO's Pareto frontier); f.points, f.dreams, f.lambdas.
  λ is activation per nat: scale it to the unit's activation range. out= saves each dream as it finishes
  (out/lambda_NN_λ/) and rewrites out/frontier.json atomically; Ctrl-C returns the points so far.
  lab.report(f, "frontier.html") plots activation against PLL.
  example:  f = lab.fluency_sweep{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, first=2, last=4,
              method="discrete", steps=100, fluency_model="bert-base-uncased", lambdas={0, 0.02, 0.1}}]==])
doc(lab.gradient, [==[lab.gradient{objective=, model=, sentence=, first=, last=, temperature=2.0, gumbel=false, hard=false, seed=1}
  -> {value=, grad=Tensor P×V}: the objective and its gradient w.r.t. the relaxed logits z at the starting one-hot point.
  example:  g = lab.gradient{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, first=2, last=2}]==])
doc(lab.objective, [==[lab.objective(function(a) ... end [, name [, model]]) -> objective
  Traces the function once into a native graph. a["site"] is a node; n[i] indexes the first axis (0-based),
  n:slice(from, to); + - * / ^ with numbers and nodes; :sum() :mean() :max() :norm() :dot(v) :abs() :exp() :log()
  :sqrt() :relu() :sigmoid() :tanh() :softmax() :entropy(). The function must return a scalar.
  example:  lab.objective(function(a) return a["blocks.3.mlp.hook_post"][2][100] - a["blocks.3.mlp.hook_post"][2][7] end, "contrast")]==])
doc(lab.plugin, [==[lab.plugin(name_or_path [, {instructions=50e6, memory=256MB, seconds=30}]) -> table of objective factories
  Loads a plugin someone else wrote without trusting it: it runs in a process of its own, in a fresh Lua state with
  no os, io, package, debug, load, dofile or require, under an instruction budget, a memory cap and a CPU-time limit
  (none can be switched off; going over ends the plugin's process and names its file and line). Only data comes back:
  each p.f{...} runs the factory in a new plugin process and returns its objectives, schedules, tensors and values.
  Searches ./plugins, ~/.dreamlab/plugins, $DREAMLAB_PATH and scripts/plugins.
  example:  p = lab.plugin("prev_token"); r = lab.dream{objective=p.prev_token(3, 7, {from=1, to=5}), steps=300}
  A plugin file's leading comment is help(p); the comment above a factory is its help.]==])
doc(lab.plugins, "lab.plugins() -> names of the installed plugins")
doc(lab.quiet, "lab.quiet(true|false): silence the progress line of long work")
doc(lab.info, "lab.info() -> {version=, blas_core=, blas_threads=, threads=} (threads: the CPUs Dreamlab's kernels split work across)")
doc(lab.json and lab.json.encode, "lab.json.encode(value [, pretty]) -> JSON text (tables with keys 1..n are arrays)")
doc(lab.json and lab.json.decode, "lab.json.decode(text) -> value (JSON null is lab.json.null)")
local o = lab.objectives
doc(o.neuron, "lab.objectives.neuron{layer=, word=, unit=, normalize=true} PAIR's neuron: h[L][word][unit] / ‖h[·][word][·]‖ over all layers")
doc(o.layer, "lab.objectives.layer{layer=, word=nil, normalize=true} PAIR's layer objective: mean over units (and words when word=nil)")
doc(o.site, "lab.objectives.site{site=, pos=, unit=} (or head=, from=, to= for attention sites): one element of any site")
doc(o.attention, "lab.objectives.attention{layer=, head=, from=, to=} attention probability of one query/key pair")
doc(o.head, "lab.objectives.head{layer=, head=, word=} L2 norm of one head's output (hook_z) at one position")
doc(o.entropy, "lab.objectives.entropy{layer=, head=, query=} attention entropy at one query (negate to minimise)")
doc(o.direction, "lab.objectives.direction{site=, pos=, vector=} dot product of a site row with a vector")
doc(o.mlm, "lab.objectives.mlm{word=, token=, measure=\"logprob\"|\"probability\"|\"logit\"} the MLM head's score of a token at a position (needs an MLM head)")
doc(o.reconstruct, "lab.objectives.reconstruct{site=, target=, pos=nil, loss=\"mse\"|\"sse\"} minus PAIR's mean squared error to a target (sse: sum of squares)")
doc(o.diversity, "lab.objectives.diversity{site=\"embed\"} minus the mean cosine similarity between restarts (use with restarts=N)")
doc(o.sum, "lab.objectives.sum{a, b, ...}; objectives also combine with + - * / and numbers")
doc(o.mean, "lab.objectives.mean{a, b, ...}")
doc(lab, "lab: Dreamlab's API (help() gives the overview)")
doc(lab.objectives, "lab.objectives: objective factories, each taking a table of named arguments; objectives combine with + - * / and numbers")
doc(lab.schedules, "lab.schedules: temperature schedules for temperature=; each can be called, s(step) -> T, and printed")
doc(lab.json, "lab.json: encode(value [, pretty]) and decode(text)")
doc(lab.schedules.anneal, "lab.schedules.anneal{start=2.0, stop=0.1, rate=0.9995, warmup=200} PAIR's: after step i > warmup, T = max(T*rate, stop)")
doc(lab.schedules.constant, "lab.schedules.constant(T)")
doc(lab.schedules.linear, "lab.schedules.linear{start=, stop=, steps=} straight line, reaching stop at step steps-1")
doc(lab.schedules.cosine, "lab.schedules.cosine{start=, stop=, steps=} half cosine, reaching stop at step steps-1")

local overview = [==[Dreamlab: Lua 5.4 with the lab API. help(x) or x? documents anything Dreamlab makes:
  a function (help(lab.dream)), an object (help(m), help(r), help(t)), a method (help(m.run)) or a table (help(lab.objectives)).
  lab.load([dir])               a model: m.config, m:encode, m:decode, m:run -> trace, tr:site(name) -> tensor
  lab.objectives.*              neuron layer site attention head entropy direction mlm reconstruct diversity sum mean
  lab.objective(fn [, name])    a custom objective, traced into a native graph
  lab.dream{...}                PAIR's dream;  lab.gradient{...}  gradient w.r.t. the relaxed input
  lab.search{...}, lab.corpus{...}   exhaustive token search; top passages of a text file
  lab.sweep{...}                one dream per unit, resumable JSON lines; lab.sweep_merge(out, files)
  lab.fluency_sweep{...}        dreams over fluency weights λ: the activation / pseudo-log-likelihood frontier
  lab.report(x, "out.html")     an HTML report of dreams, searches, corpus passes and frontiers
  lab.schedules.*               anneal constant linear cosine (or any function(step))
  lab.plugin(name), lab.plugins()   sandboxed objective plugins
  lab.probe{...}, lab.npy.load/save   linear probes (concept directions); NumPy files
  lab.json.encode/decode, lab.quiet(on), lab.info()
Sites: embed, blocks.L.{attn.hook_scores, attn.hook_pattern, attn.hook_z, hook_attn_out, hook_resid_mid, mlp.hook_pre,
       mlp.hook_post, hook_mlp_out, hook_resid_post}, mlm.logits. Coordinates are 0-based; Lua lists are 1-based.
At the prompt: expressions print (=expr too), _ is the last result, a trailing ; stays quiet, Tab completes,
Ctrl-C stops long work, keeps its result and aborts the rest of the input; exit, quit or Ctrl-D leaves.
Tensors: t[2], t[{2, {0, 9}}], t:topk(5), t:argmax(), t:mean(0); help(t) for the rest.]==]

-- Methods of Dreamlab's classes live in the registry as "<class>.methods"; their docs sit beside lab.*'s.
local registry = debug.getregistry()
local function methods(class) return registry["dreamlab." .. class .. ".methods"] or {} end
local M, TR, T, R, O = methods("Model"), methods("Trace"), methods("Tensor"), methods("DreamResult"), methods("Objective")
doc(M.run, "m:run(input) -> trace\n  input: text [, text2], a list of ids or of tokens, m:encode(...)'s table, a dream result r (its best input)\n  or r.best, or a trace. Every layer's activations (and the MLM logits when the model has a head).")
doc(M.encode, "m:encode(text [, text2]) -> {tokens=, ids=, type_ids=}  WordPiece, as Hugging Face's BertTokenizer")
doc(M.decode, "m:decode(ids) -> text, subwords joined (\"kicks ##haw ##s\" -> \"kickshaws\"), special tokens dropped")
doc(M.pll, "m:pll(input [, first, last]) -> mean log-probability per token, per-position list (pseudo-log-likelihood; needs an MLM head)")
doc(M.neighbours, "m:neighbours(token, k=10 [, {metric=\"euclidean\"|\"cosine\", furthest=false}]) -> {{token=, id=, distance=|similarity=}, ...}\n  the tokens whose input embeddings lie closest (PAIR's similar_embedding_activation; dreamlab similar on the command line)")
doc(M.embedding, "m:embedding(token) -> the token's input embedding, a hidden-size tensor (token: a vocabulary entry or an id)")
doc(TR.site, "tr:site(name) -> tensor  e.g. tr:site(\"blocks.5.hook_resid_post\") (T x hidden); m.sites lists the names")
doc(TR.tokens, "tr:tokens() -> the traced input's tokens")
doc(T.shape, "t:shape() -> {d0, d1, ...}");  doc(T.dim, "t:dim() -> number of axes");  doc(T.numel, "t:numel() -> number of values")
doc(T.get, "t:get(i, j, ...) -> number at 0-based coordinates (same as t[{i, j}])")
doc(T.item, "t:item() -> the number in a one-value tensor")
doc(T.totable, "t:totable() -> nested Lua lists (1-based, as Lua lists are)");  doc(T.tolist, "t:tolist() -> same as t:totable()")
doc(T.topk, "t:topk(k [, axis=-1]) -> values (tensor), indices (0-based list; nested for rank > 1), largest first\n  e.g. local v, i = tr:site(\"mlm.logits\")[3]:topk(5); print(m:decode(i))")
doc(T.argmax, "t:argmax([axis]) -> without axis: the 0-based coordinates of the largest value; with axis: the index along it")
doc(T.argmin, "t:argmin([axis]) -> as argmax, for the smallest")
doc(T.slice, "t:slice(from, to [, axis=0]) -> an inclusive, 0-based range of one axis")
doc(T.t, "t:t() -> transpose of a 2-D tensor");  doc(T.softmax, "t:softmax([axis=-1])");  doc(T.abs, "t:abs()")
doc(T.dot, "t:dot(u) -> sum of t*u over all values")
doc(T.summary, "t:summary() -> one line: shape, min, max, mean")
for _, r in ipairs({ "sum", "mean", "max", "min", "std", "norm" }) do doc(T[r], "t:" .. r .. "([axis]) -> a number over all values, or a tensor reduced over one 0-based axis") end
doc(R.save, "r:save(dir) -> dir: results.json and top_k<pos>.json in PAIR's layout (dreamlab report DIR reads it)")
doc(R.trace, "r:trace() -> the trace of the soft input the dream ended on (relaxed/hybrid); the final ids' for discrete")
doc(O.eval, "o:eval(m, input) -> the objective's value on a real input (text, ids, tokens, r or r.best)")

-- Classes: what x is, its fields, and its methods (each with its doc's first line).
local classes = {
  ["dreamlab.Model"] = { "m = lab.load([dir]): a BERT checkpoint.", {
      config = "{layers=, hidden=, heads=, intermediate=, vocab=, max_positions=, head_size=, has_mlm=}",
      path = "its directory", precision = "fp32 (exact) or bf16 (lab.load(dir, {precision=\"bf16\"}))", sites = "every activation-site name, for tr:site and objectives" } },
  ["dreamlab.Trace"] = { "tr = m:run(input): one forward pass, every site kept; print(tr) shows its tokens.", {} },
  ["dreamlab.Tensor"] = { "A tensor (row-major float32). t[i] (0-based; -1 is the last) drops the first axis; t[{i, {}, {from, to}}]\n  indexes several axes ({} all, {from, to} inclusive); #t is the first axis' length. + - * / ^ with numbers or\n  tensors (numpy broadcasting). print(t) shows torch's compact form.", {} },
  ["dreamlab.DreamResult"] = { "r = lab.dream{...}: a finished (or stopped) dream; m:run(r) traces its best input.", {
      tokens = "final argmax tokens", ids = "their ids", text = "m:decode(ids)", activation = "the soft input's activation at the last step",
      ids_activation = "the argmax input's exact activation", best = "{tokens, ids, text, activation, step, honest[, pll, score]}: best real input seen",
      history = "PAIR's metrics records (every `every` steps)", curve = "{step, temperature, activation, ids_activation} at every step",
      runs = "one entry per restart", method = "relaxed | hybrid | discrete", steps = "steps done", seconds = "wall time",
      steps_per_second = "speed", interrupted = "Ctrl-C stopped it", stopped = "on_step returned false", objective = "its name",
      fluency = "λ, with fluency=", scored = "exact inputs scored", first = "first dreamed position", last = "last dreamed position",
      sentence = "the starting sentence" } },
  ["dreamlab.Objective"] = { "An objective: what a dream maximises. Combine with + - * / and numbers; lab.objectives.sum/mean.", {} },
  ["dreamlab.Node"] = { "A traced node inside lab.objective(function(a) ... end): n[i] (0-based), n:slice(a, b), + - * / ^, and reductions.", {} },
  ["dreamlab.Sites"] = { "The argument a of lab.objective(function(a) ...): a[\"blocks.5.hook_resid_post\"] is a node.", {} },
  ["dreamlab.Schedule"] = { "A temperature schedule (lab.schedules.*): call it, s(step) -> T, or print it; pass it as temperature=.", {} },
  ["dreamlab.Plugin"] = { "A plugin's objective factories; each call runs in the plugin's own process (lab.plugin).", {} },
}
local tables = {  -- plain result tables, recognised by a field
  { "candidates", "s = lab.search{...}: s[1..topk] = {token=, id=, activation=}, best first; s.candidates, s.seconds, s.interrupted" },
  { "passages", "c = lab.corpus{...}: c[i] = {text=, activation=[, activations=, tokens=]}, best first; c.passages, c.seconds, c.interrupted" },
  { "frontier", "f = lab.fluency_sweep{...}: f.points, f.frontier (activation / PLL Pareto set), f.dreams, f.lambdas; lab.report(f, file)" },
  { "grad", "lab.gradient{...} -> {value=, grad=Tensor P x V}" },
  { "type_ids", "m:encode(text) -> {tokens=, ids=, type_ids=}" },
}

local function first_line(s) return (s:match("^[^\n]*")) end
local function class_of(x)
  local mt = getmetatable(x)
  local name = type(mt) == "table" and rawget(mt, "__name") or nil
  return classes[name] and name or nil
end

local function list_members(x)
  local keys = {}
  if type(x) == "table" then for k in pairs(x) do if type(k) == "string" and not k:match("^__") then keys[#keys + 1] = k end end end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = rawget(x, k)
    local d = docs[v] and first_line(docs[v]) or (type(v) == "table" and "table" or type(v))
    print(string.format("  %-16s %s", k, d))
  end
end

-- A dotted path such as "lab.dream" or "m:run" (only lookups, each protected; no code of the user's is called).
function lab.__resolve(path)
  local v = _G
  for seg in path:gmatch("[^%.:]+") do
    local ok, nv = pcall(function() return v[seg] end)
    if not ok or nv == nil then return nil end
    v = nv
  end
  return v
end

function help(...)
  local x = ...
  if select("#", ...) == 0 then print(overview); return end
  if x == nil then print("nil: no such name or value; help() lists the API"); return end
  if type(x) == "string" and not docs[x] then
    local v = lab.__resolve(x)
    if v == nil then print("no help for \"" .. x .. "\": no such name; help() lists the API"); return end
    x = v
  end
  local class = class_of(x)
  if class then
    local c = classes[class]
    print(c[1])
    if docs[x] then print(docs[x]) end
    local fields = {}
    for k in pairs(c[2]) do fields[#fields + 1] = k end
    table.sort(fields)
    if #fields > 0 then print("fields:") end
    for _, k in ipairs(fields) do print(string.format("  %-16s %s", k, c[2][k])) end
    local ms = registry[class .. ".methods"]
    if type(ms) == "table" and next(ms) then
      print("methods (call with a colon, x:name(...)):")
      list_members(ms)
    elseif class == "dreamlab.Plugin" then
      print("factories:")
      list_members(x)
    end
    return
  end
  if docs[x] then
    print(docs[x])
    if type(x) == "table" then print("members:"); list_members(x) end
    return
  end
  if type(x) == "table" then
    for _, t in ipairs(tables) do
      if rawget(x, t[1]) ~= nil then print(t[2]); return end
    end
    local n = #x
    local firsts = {}
    for i = 1, math.min(n, 5) do firsts[i] = type(x[i]) == "string" and string.format("%q", x[i]) or tostring(x[i]) end
    print("a table with " .. n .. " list items" .. (n > 0 and (": " .. table.concat(firsts, ", ") .. (n > 5 and ", ..." or "")) or ""))
    local named = false
    for k in pairs(x) do if type(k) == "string" then named = true; break end end
    if named then print("named members:"); list_members(x) end
    return
  end
  if type(x) == "function" then
    local info = debug.getinfo(x, "S")
    if info.what == "Lua" then print("a Lua function defined at " .. info.short_src .. ":" .. info.linedefined .. "; it has no doc"); return end
  end
  print("no help for this " .. type(x) .. "; help() lists the API")
end

-- exit / quit, as Python users type them; at the prompt the bare words work too.
function exit(code) os.exit(code == nil and 0 or code, true) end
quit = exit

--- Pretty printer for the prompt: one-line summaries for Dreamlab objects, tables to a bounded depth.
local function show(v, depth, seen)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  -- A tensor inside a table is one line; on its own it prints in full (torch's compact form).
  if t == "userdata" and depth < 3 then
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__name") == "dreamlab.Tensor" then return v:summary() end
  end
  if t ~= "table" then return tostring(v) end
  local mt = getmetatable(v)
  if mt and mt.__tostring then return tostring(v) end
  if seen[v] then return "<cycle>" end
  if depth <= 0 then return "{...}" end
  seen[v] = true
  local parts, n = {}, 0
  local len = #v
  for i = 1, len do
    n = n + 1
    if n > 12 then parts[#parts + 1] = "... (" .. len .. " items)"; break end
    parts[#parts + 1] = show(v[i], depth - 1, seen)
  end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= len) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do
    if i > 16 then parts[#parts + 1] = "... (" .. #keys .. " keys)"; break end
    local ks = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or "[" .. show(k, 0, seen) .. "]"
    parts[#parts + 1] = ks .. " = " .. show(v[k], depth - 1, seen)
  end
  seen[v] = nil
  return "{" .. table.concat(parts, ", ") .. "}"
end
function lab.__show(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do out[i] = show((select(i, ...)), 3, {}) end
  return table.concat(out, "\t")
end

-- dreamlab -i script.lua: the script's top-level locals become globals when it ends (see Interpreter.runFile).
function lab.__keep_locals()
  local i = 1
  while true do
    local name, value = debug.getlocal(2, i)
    if not name then break end
    if not name:match("^%(") then rawset(_G, name, value) end
    i = i + 1
  end
end

-- The lab tables answer a misspelt name with "did you mean" (lab.__did_you_mean, the Swift errors' own) rather than a
-- nil that fails later.
local function strict(t, name)
  setmetatable(t, { __index = function(_, k)
    local names = {}
    for n in pairs(t) do if type(n) == "string" and not n:match("^__") then names[#names + 1] = n end end
    table.sort(names)
    error(name .. " has no field " .. tostring(k) .. lab.__did_you_mean(tostring(k), names) .. "; it has " .. table.concat(names, " "), 2)
  end })
end
strict(lab, "lab"); strict(lab.objectives, "lab.objectives"); strict(lab.schedules, "lab.schedules"); strict(lab.json, "lab.json")
strict(lab.npy, "lab.npy")
