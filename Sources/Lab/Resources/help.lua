local docs = setmetatable({}, { __mode = "k" })
lab.__docs = docs

local function doc(f, text) if f ~= nil then docs[f] = text end end

doc(lab.load, [==[lab.load([dir_or_name]) -> model
  The default model (all-MiniLM-L6-v2, or $LAB_MODEL) with no argument; a Hugging Face BERT directory; or a name
  already in the Hugging Face cache (offline), e.g. lab.load("bert-base-uncased").
  m.config  {layers=, hidden=, heads=, intermediate=, vocab=, max_positions=, has_mlm=}
  m:encode(text [, text2]) -> {tokens=, ids=, type_ids=}    m:decode(ids) -> text
  m:run(text | ids) -> trace;  tr:site("blocks.5.hook_resid_post") -> tensor;  m.sites lists every site
  m:pll(text | ids [, first, last]) -> mean log-probability per token, per-position list (needs an MLM head)
  example:  m = lab.load(); print(m:run("i hate kickshaws"):site("blocks.5.hook_resid_post"):get(2, 300))]==])
doc(lab.dream, [==[lab.dream{objective=, model=, sentence="i hate kickshaws", sentence2=, first=1, last=T-2, steps=3000, lr=0.1,
          temperature=lab.schedules.anneal{start=2.0, stop=0.1, rate=0.9995, warmup=200}, gumbel=false, hard=false,
          seed=1, topk=10, every=250, restarts=1, init_noise=0.5, on_step=function(s) end, quiet=false} -> result
  PAIR's relaxed dream: softmax(z/T) over the vocabulary at positions first..last (0-based), Adam on z.
  temperature: a number, a lab.schedules.* schedule, or function(step) return T end.
  on_step(s) gets {step, temperature, activation, ids_activation, best, tokens}; return false to stop.
  Ctrl-C stops at the next step and returns what was found so far.
  method="relaxed" (default): PAIR's algorithm, exactly; good for studying the relaxation itself, weak at finding maxima.
  method="hybrid": Gumbel-softmax annealed to T=0.05, the argmax input scored exactly each step and the best kept.
  method="discrete": gradient-guided token swaps (GCG/AutoPrompt, as a population like EPO) scored exactly in
    batches: population=8 (or restarts= when above 1), candidates=128 per step drawn from the top k tokens by gradient, k=8 doubling after a step
    that finds nothing better (up to k_max, default the whole vocabulary; back to k after a gain); explore=0.25 of the
    swaps drawn from the whole vocabulary (for units whose gradient is flat), neighbors=0.25 from the current token's
    nearest embeddings; after 8 steps without a gain the weaker half restarts near the best input. No input is
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
          r.runs r.method r.fluency r:save(dir)
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
doc(lab.plugin, [==[lab.plugin(name_or_path [, {instructions=50e6, memory=256MB}]) -> table of objective factories
  Loads a plugin someone else wrote in a sandbox: Lua source only; no os, io, package, debug, load, dofile or require;
  an instruction budget and a memory cap. Searches ./plugins, ~/.dreamlab/plugins, $DREAMLAB_PATH and scripts/plugins.
  example:  p = lab.plugin("prev_token"); obj = p.prev_token(3, 7)]==])
doc(lab.search, [==[lab.search{objective=, model=, sentence="i hate kickshaws", position=2, topk=100, batch=256, limit=nil} -> s
  Every vocabulary token at one position (PAIR's token search), scored exactly in batches that stop at the layer the
  objective needs. s[1..topk] = {token=, id=, activation=}, best first; s.candidates, s.seconds, s.interrupted.
  Ctrl-C keeps the partial top-k.  example:  lab.search{objective=lab.objectives.neuron{layer=5, word=2, unit=300}, topk=10}]==])
doc(lab.corpus, [==[lab.corpus{file=, unit={layer=, unit= [, site=]} or objective=, topk=10, batch=32, max_tokens=128, model=} -> c
  Top passages of a text file (one per line), streamed in batches in bounded memory. With unit=, each token's
  activation of the unit (c[i].activations) and the passage's maximum (c[i].activation); with objective=, its value.
  example:  lab.corpus{file="text.txt", unit={layer=5, unit=300}, topk=10}]==])
doc(lab.sweep, [==[lab.sweep{objective=function(unit) return ... end, units={...} | from=, to=, out="sweep.jsonl", batch=8, shard="i/n",
           <any lab.dream argument: method=, restarts=, fluency=, fluency_model=, steps=, temperature=, gumbel=, seed=, ...>}
           -> the records written by this call (one per unit: unit, best{text, tokens, activation}, top_tokens, ...),
              with s.done, s.skipped, s.interrupted, s.seconds, s.out
  One dream per unit; relaxed and hybrid share each pass among `batch` units, discrete dreams one unit at a time.
  One JSON line per finished unit is appended atomically to out, and units already in out are skipped, so rerunning
  an interrupted sweep resumes it. shard="i/n" takes every n-th unit. The same sweep as dreamlab sweep on the command line.
  example:  lab.sweep{objective=function(u) return lab.objectives.neuron{layer=5, word=2, unit=u} end, from=0, to=63, first=2, last=2, steps=500, out="l5.jsonl"}]==])
doc(lab.sweep_merge, [==[lab.sweep_merge(out, {file, ...}) -> number of units
  Joins shard files into one, one line per unit (the first seen wins), sorted; as dreamlab sweep --merge OUT IN...]==])
doc(lab.report, [==[lab.report(x, "file.html" [, title]) -> path
  One self-contained HTML file (inline SVG, no network) from a dream result, a token search, a corpus result, a fluency
  sweep, or a list of them: activation and temperature curves against search and corpus maxima, top-k heatmaps,
  token colouring, attention grids, and the activation / PLL frontier. Written atomically.
  example:  lab.report({r, s, c}, "unit300.html", "L5 unit 300")]==])
doc(lab.tensor, "lab.tensor(nested lists) -> Tensor; tensors support + - * / with tensors and numbers (edited or shifted targets)")
doc(lab.plugins, "lab.plugins() -> names of the installed plugins")
doc(lab.quiet, "lab.quiet(true|false): silence the progress line of long work")
doc(lab.info, "lab.info() -> {version=, blas_core=, blas_threads=}")
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
doc(o.mlm, "lab.objectives.mlm{word=, token=} log-probability of a token at a position (needs an MLM head)")
doc(o.reconstruct, "lab.objectives.reconstruct{site=, target=, pos=nil} -‖site - target‖², as PAIR's reconstruct experiments")
doc(o.diversity, "lab.objectives.diversity{site=\"embed\"} minus the mean cosine similarity between restarts (use with restarts=N)")
doc(o.sum, "lab.objectives.sum{a, b, ...}; objectives also combine with + - * / and numbers")
doc(o.mean, "lab.objectives.mean{a, b, ...}")
doc(lab.schedules.anneal, "lab.schedules.anneal{start=2.0, stop=0.1, rate=0.9995, warmup=200} PAIR's: after step i > warmup, T = max(T*rate, stop)")
doc(lab.schedules.constant, "lab.schedules.constant(T)")
doc(lab.schedules.linear, "lab.schedules.linear{start=, stop=, steps=} straight line, reaching stop at step steps-1")
doc(lab.schedules.cosine, "lab.schedules.cosine{start=, stop=, steps=} half cosine, reaching stop at step steps-1")

function help(f)
  if f == nil then
    print([==[Dreamlab: Lua 5.4 with the lab API. help(f) documents a function, e.g. help(lab.dream).
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
  lab.json.encode/decode, lab.quiet(on), lab.info()
Sites: embed, blocks.L.{attn.hook_scores, attn.hook_pattern, attn.hook_z, hook_attn_out, hook_resid_mid, mlp.hook_pre,
       mlp.hook_post, hook_mlp_out, hook_resid_post}, mlm.logits. Coordinates are 0-based; Lua lists are 1-based.
At the prompt: expressions print (=expr too), _ is the last result, a trailing ; stays quiet, Tab completes,
Ctrl-C stops long work and keeps its result, Ctrl-D exits.]==])
    return
  end
  local d = docs[f]
  if d then print(d) else print("no help for this " .. type(f) .. "; try help() for the list") end
end

--- Pretty printer for the prompt: one-line summaries for Dreamlab objects, tables to a bounded depth.
local function show(v, depth, seen)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
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
