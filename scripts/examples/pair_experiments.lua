-- Every PAIR text-dream experiment from Lua, on the default model (and an MLM model for the MLM ones).
--   dreamlab run scripts/examples/pair_experiments.lua [STEPS] [OUT] [MLM_MODEL]
-- STEPS scales every optimisation (PAIR's budgets are 1000-10000); OUT receives the files; MLM_MODEL is a model with
-- an MLM head (e.g. bert-base-uncased, or a folder from `dreamlab random-model`). The command line equivalents are in
-- README.md ("PAIR's experiments").
local steps = tonumber(arg[1]) or 300
local out = arg[2] or "pair_out"
local mlm_name = arg[3]
local m = lab.load()
local sentence = "i hate kickshaws"
local tr = m:run(sentence)
print(string.format("tokenize_sentence.py: %s", table.concat(m:encode(sentence).tokens, " ")))

-- dream.py: PAIR's relaxed dream of neuron 300 at layer 5, word 2 (top-k records at every iteration).
local o = lab.objectives.neuron{layer = 5, word = 2, unit = 300}
local r = lab.dream{objective = o, first = 2, last = 2, steps = steps, quiet = true}
r:save(out .. "/dream")
print(string.format("dream.py: %s  activation %.4f, best %q %.4f", r.text, r.activation, r.best.text, r.best.activation))

-- token_search.py: every token at position 2, scored exactly (a quick run, STEPS < 100, tries the first 3000 ids).
local s = lab.search{objective = o, position = 2, topk = 5, quiet = true, limit = steps < 100 and 3000 or nil}
print(string.format("token_search.py: best %s %.4f of %d", s[1].token, s[1].activation, s.candidates))

-- similar_embedding_activation.py: the nearest input embeddings to "hate", each scored in place.
local near = m:neighbours("hate", 5)
local ids = m:encode(sentence).ids
for _, n in ipairs(near) do
  ids[3] = n.id   -- Lua lists are 1-based: ids[3] is position 2
  n.activation = o:eval(m, ids)
end
print(string.format("similar_embedding_activation.py: %s (distance %.3f, activation %.4f), %s (%.3f, %.4f)",
  near[2].token, near[2].distance, near[2].activation, near[3].token, near[3].distance, near[3].activation))

-- reconstruct_activation.py: from random logits, match layer 5's activations of the sentence (PAIR's MSE).
local site = "blocks.5.hook_resid_post"
local target = tr:site(site)
local rec = lab.dream{objective = lab.objectives.reconstruct{site = site, target = target}, start = "random", steps = steps, quiet = true}
print(string.format("reconstruct_activation.py: %q, loss %.4f", rec.best.text, -rec.best.activation))

-- linear classifier (export_token_activation.py + train.py): a he/she probe at layer 5, its weights a direction.
local rows, labels = {}, {}
for _, pair in ipairs({ {"he", 0}, {"she", 1} }) do
  for _, frame in ipairs({ "%s went home", "then %s laughed", "%s is a doctor", "%s wrote a letter", "yesterday %s ran", "%s plays piano" }) do
    local text = frame:format(pair[1])
    local t = m:run(text)
    local pos
    for i, tok in ipairs(t:tokens()) do if tok == pair[1] then pos = i - 1 end end
    rows[#rows + 1] = t:site(site)[pos]:totable()
    labels[#labels + 1] = pair[2]
  end
end
local probe = lab.probe{x = lab.tensor(rows), y = labels, val_split = 0.25}
lab.npy.save(out .. "/he_she_layer5.npy", probe.weights)
print(string.format("train.py: probe accuracy %.2f (validation %.2f)", probe.train_accuracy, probe.validation_accuracy or 0 / 0))

-- reconstruct_shifted_activation.py: the target at position 1 shifted along the probe's direction.
local w = probe.weights / probe.weights:max() * 2
local shifted = target:totable()
for h = 1, #shifted[2] do shifted[2][h] = shifted[2][h] + w[h - 1] end
local sh = lab.dream{objective = lab.objectives.reconstruct{site = site, target = lab.tensor(shifted)}, start = "random", steps = steps, quiet = true}
print(string.format("reconstruct_shifted_activation.py: %q, loss %.4f", sh.best.text, -sh.best.activation))

if mlm_name then
  local mm = lab.load(mlm_name)
  -- mlm.py: the top predictions at a masked word.
  local v, i = mm:run({ "[CLS]", "i", "[MASK]", "kicks", "##haw", "##s", "[SEP]" }):site("mlm.logits")[2]:softmax():topk(3)
  print(string.format("mlm.py: %s %.4f, %s %.4f", mm:decode({ i[1] }), v[0], mm:decode({ i[2] }), v[1]))
  -- dream_mlm.py: dream the words around the mask so that token i[3] is predicted there.
  local d = lab.dream{model = mm, sentence = "i [MASK] kickshaws", spans = { { 1, 1 }, { 3, 5 } }, steps = steps, quiet = true,
                      objective = lab.objectives.mlm{model = mm, word = 2, token = i[3], measure = "probability"}}
  print(string.format("dream_mlm.py: %q, probability of %s %.4g (started at %.4g)", d.best.text, mm:decode({ i[3] }), d.best.activation, v[2]))
end
print("wrote " .. out)
