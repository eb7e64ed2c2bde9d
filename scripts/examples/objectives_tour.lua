-- One dream each with a built-in objective, a composite, a custom Lua objective and a plugin objective.
-- usage: dreamlab run scripts/examples/objectives_tour.lua [steps=300]
local steps = tonumber(arg[1]) or 300
local m = lab.load()
local o = lab.objectives
local custom = lab.objective(function(a)
  -- PAIR's normalised neuron written by hand: equals o.neuron{layer=5, word=2, unit=300}
  local s = 0
  for l = 0, m.config.layers - 1 do s = s + (a["blocks." .. l .. ".hook_resid_post"][2] ^ 2):sum() end
  return a["blocks.5.hook_resid_post"][2][300] / s:sqrt()
end, "custom neuron")
local objectives = {
  o.neuron{model=m, layer=5, word=2, unit=300},
  0.5 * o.neuron{model=m, layer=5, word=2, unit=300} - o.neuron{model=m, layer=5, word=2, unit=100},
  custom,
  lab.plugin("prev_token").prev_token(3, 7, {from=1, to=5}),
}
for _, obj in ipairs(objectives) do
  local r = lab.dream{model=m, sentence="i hate kickshaws", first=1, last=5, objective=obj, steps=steps, every=steps, quiet=true}
  print(string.format("%-55s best %.4f  %s  (%.1f steps/s)", tostring(obj), r.best.activation, r.best.text, r.steps_per_second))
end
