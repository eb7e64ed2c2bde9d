-- A multi-neuron contrast: excite neuron 300 while suppressing neuron 100 (layer 5, word 2), with the algebra.
-- usage: dreamlab run scripts/examples/contrast.lua [steps=1000]
local steps = tonumber(arg[1]) or 1000
local m = lab.load()
local o = lab.objectives
local obj = o.neuron{model=m, layer=5, word=2, unit=300} - 0.5 * o.neuron{model=m, layer=5, word=2, unit=100}
print("objective:", obj)
local r = lab.dream{model=m, first=2, last=2, objective=obj, steps=steps, restarts=4, every=100}
for i, run in ipairs(r.runs) do print(i, run.best.text, run.best.activation) end
print("best:", r.best.text, r.best.activation)
