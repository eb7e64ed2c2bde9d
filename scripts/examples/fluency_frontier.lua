-- Activation against fluency: discrete dreams of PAIR's headline neuron at several fluency weights λ, the Pareto
-- frontier of activation vs pseudo-log-likelihood, and a report that plots it.
-- usage: dreamlab run scripts/examples/fluency_frontier.lua MLM_MODEL [steps=100] [out=out/frontier]
--   MLM_MODEL: a BERT with an MLM head and the default model's vocabulary (a path or a Hugging Face cache name,
--   e.g. bert-base-uncased); `dreamlab random-model --out DIR` writes a random one for trying the pipeline.
local mlm_name = arg[1] or error("usage: fluency_frontier.lua MLM_MODEL [steps] [out]; MLM_MODEL is e.g. bert-base-uncased")
local steps = tonumber(arg[2]) or 100
local out = arg[3] or "out/frontier"
local m = lab.load()
local mlm = lab.load(mlm_name)
local o = lab.objectives.neuron{model=m, layer=5, word=2, unit=300}
-- The neuron's normalised activation is about 0.1-0.5 and PLL a few nats per token: λ of 0.005-0.1 spans the trade-off.
local f = lab.fluency_sweep{model=m, objective=o, first=2, last=4, method="discrete", steps=steps, every=10,
                            fluency_model=mlm, lambdas={0, 0.005, 0.02, 0.1}, out=out}
print(string.format("%d inputs, %d on the frontier (PLL under %s):", #f.points, #f.frontier, f.fluency_model))
for _, p in ipairs(f.frontier) do print(string.format("  λ=%-6g activation %.4f  PLL %.3f  %s", p.lambda, p.activation, p.pll, p.text)) end
print("report: " .. lab.report(f, out .. "/frontier.html", "fluency frontier, L5 unit 300"))
