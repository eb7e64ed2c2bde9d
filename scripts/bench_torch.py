#!/usr/bin/env python3
"""PyTorch reference for scripts/bench: the same work as `dreamlab bench`, on the same machine.

Installs torch + transformers into a throw-away venv under /tmp (never a project dependency).
usage: bench_torch.py MODEL_DIR|random-base SECONDS
Prints human lines and one `BENCH_JSON {...}` line.
"""
import json, os, resource, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchenv import ensure_venv
ensure_venv()

import torch
from transformers import BertConfig, BertModel

spec, seconds = sys.argv[1], float(sys.argv[2])
torch.set_num_threads(2)
torch.manual_seed(0)
if spec == "random-base":
    model = BertModel(BertConfig(), add_pooling_layer=False)
else:
    model = BertModel.from_pretrained(spec, add_pooling_layer=False)
model.eval()
cfg = model.config
V, L = cfg.vocab_size, cfg.num_hidden_layers
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {spec}")

def timeit(label, units, fn):
    fn()
    start = time.time(); n = 0
    while True:
        fn(); n += 1
        el = time.time() - start
        if el >= seconds: break
    rate = n * units / el
    print(f"{label:46s} {rate:10.1f}  ({el / n * 1000:.2f} ms per call, {n} calls)")
    return rate

def ids(T, seed):
    return [101] + [2000 + (seed * 131 + k * 17) % 5000 for k in range(T - 2)] + [102]

res = {}
for p in model.parameters(): p.requires_grad_(False)
with torch.inference_mode():
    for B in (1, 64):
        x = torch.tensor([ids(16, b) for b in range(B)])
        res[f"forward_b{B}"] = timeit(f"forward T=16 batch {B}", B, lambda: model(input_ids=x))

# Dream step: T=12, span 1..10, PAIR's normalised neuron at layer 5 (as dreamlab bench).
layer = min(5, L - 1)
E = model.embeddings.word_embeddings.weight
seq = torch.tensor(ids(12, 7))
def make_step(R, pair_way):
    z = torch.nn.functional.one_hot(seq[1:11], V).float().repeat(R, 1, 1).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.1)
    def objective(out):
        hs = torch.stack(out.hidden_states[1:], dim=1)            # (R, L, T, H)
        return hs[:, layer, 5, 100] / hs[:, :, 5, :].flatten(1).norm(dim=1)
    def step():
        opt.zero_grad()
        p = torch.softmax(z / 1.0, -1)
        fixed = E[seq].unsqueeze(0).expand(R, -1, -1)
        emb = torch.cat([fixed[:, :1], p @ E, fixed[:, 11:]], dim=1)
        out = model(inputs_embeds=emb, output_hidden_states=True)
        (-objective(out).sum()).backward()
        opt.step()
        with torch.no_grad():   # the argmax input's activation, as PAIR's loop computes every step
            am = torch.cat([seq[:1].repeat(R, 1), z.argmax(-1), seq[11:].repeat(R, 1)], dim=1)
            objective(model(input_ids=am, output_hidden_states=True))
    return step

res["dream_r1"] = timeit("dream step, PyTorch at its best, batch 1", 1, make_step(1, False))
res["dream_r8"] = timeit("dream step, PyTorch at its best, batch 8", 8, make_step(8, False)) 
print(f"{'  = batch-8 throughput':46s} {res['dream_r8']:10.1f} restart-steps/s")
# Token search: "i hate kickshaws" position 2, candidates 0..2047 batched by 256 (full model), and PAIR's
# one-at-a-time loop over 64 candidates; rates extrapolate to the vocabulary.
search_ids = [101, 1045, 5223, 14590, 14238, 2015, 102]
def norm_neuron(hs, layer, unit, normalize):
    x = hs[:, layer, 2, unit]
    return x / hs[:, :, 2, :].flatten(1).norm(dim=1) if normalize else x
def search_batched(layer, normalize, n=2048, bs=256):
    with torch.inference_mode():
        for s in range(0, n, bs):
            x = torch.tensor(search_ids).repeat(bs, 1); x[:, 2] = torch.arange(s, s + bs)
            out = model(input_ids=x, output_hidden_states=True)
            norm_neuron(torch.stack(out.hidden_states[1:], dim=1), layer, unit=100, normalize=normalize)
def search_loop(layer, normalize, n=64):
    with torch.inference_mode():
        for i in range(n):
            x = torch.tensor([search_ids]); x[0, 2] = i
            out = model(input_ids=x, output_hidden_states=True)
            norm_neuron(torch.stack(out.hidden_states[1:], dim=1), layer, unit=100, normalize=normalize)
res["search_last"] = timeit("search last-layer unit, batched 256", 2048, lambda: search_batched(L - 1, True))
res["search_mid"] = timeit("search middle-layer unit, batched 256", 2048, lambda: search_batched(L // 2 - 1, False))
res["search_loop"] = timeit("search, PAIR's one-at-a-time loop", 64, lambda: search_loop(L - 1, True))
# The discrete method's work, done by PyTorch: its 128 candidates a step (T=12, one token changed) in one batched
# forward to layer 5 with the normalised neuron read, as dreamlab bench's "exact inputs scored".
disc = torch.tensor(ids(12, 3)).repeat(128, 1)
disc[:, 2] = torch.arange(2000, 2128)
def discrete_batch():
    with torch.inference_mode():
        out = model(input_ids=disc, output_hidden_states=True)
        norm_neuron(torch.stack(out.hidden_states[1:], dim=1), layer, unit=100, normalize=True)
res["discrete_ref"] = timeit("discrete candidates, batched forward of 128", 128, discrete_batch)

for p in model.parameters(): p.requires_grad_(True)
model.train(False)
res["dream_pair"] = timeit("dream step, PAIR's way (weights require grad)", 1, make_step(1, True))
res["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"peak memory (max RSS): {res['peak_mb']:.0f} MB")
print("BENCH_JSON " + json.dumps(res))
