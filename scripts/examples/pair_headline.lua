-- PAIR's headline experiment: dream the word at position 2 of "i hate kickshaws" for one neuron at layer 5.
-- On the default model (hidden 384) the neuron is 300; with bert-base (hidden 768) it is PAIR's own 414.
-- usage: dreamlab run scripts/examples/pair_headline.lua [steps=3000] [output_dir=out/pair_headline]
local steps = tonumber(arg[1]) or 3000
local out = arg[2] or "out/pair_headline"
local m = lab.load()
local unit = m.config.hidden >= 768 and 414 or 300
local obj = lab.objectives.neuron{model=m, layer=5, word=2, unit=unit}
local r = lab.dream{model=m, sentence="i hate kickshaws", first=2, last=2, objective=obj, steps=steps}
print(r)
print("best discrete input:", r.best.text, r.best.activation)
r:save(out)
print("saved to " .. out)
