-- An attention-pattern dream: what makes head 3.7 attend from position 2 to position 4?
-- usage: dreamlab run scripts/examples/attention_dream.lua [steps=1000] [output_dir=out/attention]
local steps = tonumber(arg[1]) or 1000
local m = lab.load()
local obj = lab.objectives.attention{model=m, layer=3, head=7, from=2, to=4}
local before = obj:eval(m, "the cat sat on the mat")
local r = lab.dream{model=m, sentence="the cat sat on the mat", first=1, last=5, objective=obj, steps=steps,
                    temperature=lab.schedules.anneal{start=2.0, stop=0.1, rate=0.995, warmup=50}, every=100}
print(string.format("attention 2->4 before %.4f, dreamed (soft) %.4f, best discrete %.4f: %s",
                    before, r.activation, r.best.activation, r.best.text))
r:save(arg[2] or "out/attention")
