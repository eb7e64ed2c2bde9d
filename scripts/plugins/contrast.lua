-- contrast: excite some neurons while suppressing others, at one layer and word, each PAIR-normalised.
--   local p = lab.plugin("contrast")
--   local obj = p.contrast{layer=5, word=2, up={300, 17}, down={100}, weight=1.0}
-- Value: mean(neuron(up)) - weight * mean(neuron(down)).
return {
  contrast = function(args)
    local function mean_of(units)
      local list = {}
      for i, u in ipairs(units) do list[i] = lab.objectives.neuron{layer = args.layer, word = args.word, unit = u} end
      return lab.objectives.mean(list)
    end
    return mean_of(args.up) - (args.weight or 1.0) * mean_of(args.down)
  end,
}
