#!/usr/bin/env python3
"""Golden values from Hugging Face transformers for Dreamlab's tests.

Run: scripts/golden.py            (creates a throw-away venv under /tmp with torch + transformers;
                                  they are never project dependencies)
Writes Tests/Golden/golden.json: tokenizations of varied strings, sampled values at every site kind
for a few sentences, and PAIR-objective gradients w.r.t. the relaxed logits z.
"""
import json, os, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.environ.get("LAB_MODEL", os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchenv import ensure_venv
ensure_venv()
import numpy as np
import torch
from transformers import BertModel, BertTokenizer

torch.set_grad_enabled(True)
tok = BertTokenizer.from_pretrained(MODEL)
model = BertModel.from_pretrained(MODEL, attn_implementation="eager", add_pooling_layer=False).eval()
cfg = model.config

TOKENIZE = [
    "i hate kickshaws", "Hello, World!", "The quick brown fox jumps over the lazy dog.",
    "UPPER lower MiXeD", "naïve café résumé", "Ångström Øresund Ærø", "Straße groß",
    "ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΥΣ", "İstanbul ıi", "日本語のテキスト", "中文分词测试", "한국어 문장입니다",
    "हिन्दी पाठ", "العربية النص", "emoji 😀👍🏽 test", "tab\tseparated\nnew line\r\nend",
    "zero\u200bwidth\u200djoiner", "non\u00a0breaking\u2003spaces\u3000here", "line\u2028separator",
    "control\x00chars\x07here\ufffd", "don't won't can't it's", "e-mail: someone@example.com",
    "https://example.org/path?q=1&r=2", "$100.50 + 20% = ???", "(parentheses) [brackets] {braces}",
    "hello [MASK] world", "hello[MASK]world", "[CLS] already [SEP] there", "[mask] lowercase mask",
    "a" * 101, "b" * 100, "supercalifragilisticexpialidocious", "unaffable unbelievable",
    "   leading and trailing   ", "", "...", "mixed汉字and latin", "ﬁ ligature ﬀ", "Ｆｕｌｌｗｉｄｔｈ",
    "combining e\u0301 vs é", "numbers 1234567890 3.14159", "«quotes» „German“ ‘single’",
    "em—dash – en-dash", "C++ and C# and F#", "kickshaws are bric-a-brac",
]

def site_values(text, second=None):
    enc = tok(text, second, return_tensors="pt") if second else tok(text, return_tensors="pt")
    rec = {}
    hooks = []
    def hook(name):
        def f(mod, inp, out):
            rec[name] = (out[0] if isinstance(out, tuple) else out).detach()
        return f
    for l, layer in enumerate(model.encoder.layer):
        hooks.append(layer.attention.self.query.register_forward_hook(hook(f"q{l}")))
        hooks.append(layer.attention.self.key.register_forward_hook(hook(f"k{l}")))
        hooks.append(layer.attention.self.register_forward_hook(hook(f"blocks.{l}.attn.hook_z")))
        hooks.append(layer.attention.output.dense.register_forward_hook(hook(f"blocks.{l}.hook_attn_out")))
        hooks.append(layer.attention.output.register_forward_hook(hook(f"blocks.{l}.hook_resid_mid")))
        hooks.append(layer.intermediate.dense.register_forward_hook(hook(f"blocks.{l}.mlp.hook_pre")))
        hooks.append(layer.intermediate.register_forward_hook(hook(f"blocks.{l}.mlp.hook_post")))
        hooks.append(layer.output.dense.register_forward_hook(hook(f"blocks.{l}.hook_mlp_out")))
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True, output_attentions=True)
    for h in hooks: h.remove()
    T = enc["input_ids"].shape[1]
    NH, hs = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    sites = {"embed": out.hidden_states[0][0]}
    for l in range(cfg.num_hidden_layers):
        q = rec[f"q{l}"][0].view(T, NH, hs).transpose(0, 1)
        k = rec[f"k{l}"][0].view(T, NH, hs).transpose(0, 1)
        sites[f"blocks.{l}.attn.hook_scores"] = q @ k.transpose(1, 2) / hs ** 0.5
        sites[f"blocks.{l}.attn.hook_pattern"] = out.attentions[l][0]
        sites[f"blocks.{l}.attn.hook_z"] = rec[f"blocks.{l}.attn.hook_z"][0].view(T, NH, hs)
        for name in ["hook_attn_out", "hook_resid_mid", "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out"]:
            sites[f"blocks.{l}.{name}"] = rec[f"blocks.{l}.{name}"][0]
        sites[f"blocks.{l}.hook_resid_post"] = out.hidden_states[l + 1][0]
    return enc, sites

def sample(t, rng, n=16):
    flat = t.reshape(-1).numpy().astype(np.float64)
    idx = sorted(set(rng.choice(flat.size, size=min(n, flat.size), replace=False).tolist() + [int(np.abs(flat).argmax())]))
    return {"shape": list(t.shape), "samples": [[i, float(flat[i])] for i in idx]}

def pair_gradient(sentence, first, last, temperature, layer, word, unit):
    """d/dz of PAIR's normalised neuron, z = one-hot logits of positions first..last, p = softmax(z/T)."""
    enc = tok(sentence, return_tensors="pt")
    ids = enc["input_ids"][0]
    V = cfg.vocab_size
    E = model.embeddings.word_embeddings.weight.detach()
    z = torch.nn.functional.one_hot(ids[first:last + 1], V).float().requires_grad_(True)
    p = torch.softmax(z / temperature, dim=-1)
    words = E[ids].clone()
    words = torch.cat([words[:first], p @ E, words[last + 1:]], dim=0)
    out = model(inputs_embeds=words.unsqueeze(0), token_type_ids=enc["token_type_ids"],
                attention_mask=enc["attention_mask"], output_hidden_states=True)
    layers = torch.stack(out.hidden_states[1:])[:, 0]          # (L, T, H): encoder outputs, as PAIR
    value = layers[layer, word, unit] / torch.norm(layers[:, word, :])
    value.backward()
    g = z.grad
    rows = []
    for i in range(g.shape[0]):
        top = torch.topk(g[i], 5).indices.tolist()
        rows.append({"position": first + i, "norm": float(torch.norm(g[i])), "top5": top,
                     "top5_values": [float(g[i][j]) for j in top]})
    return {"sentence": sentence, "first": first, "last": last, "temperature": temperature,
            "layer": layer, "word": word, "unit": unit, "value": float(value), "rows": rows}

RANDOM_MLM = {"hidden": 32, "layers": 2, "heads": 2, "intermediate": 64, "max_positions": 128, "seed": 7}

def fluency_goldens():
    """Pseudo-log-likelihood and its one-hot gradient from transformers' BertForMaskedLM, on the random MLM model that
    `dreamlab random-model` writes with the default model's vocabulary (no real MLM checkpoint is reachable offline;
    the test rebuilds the same weights in memory). Each dreamed position is masked in turn; the scored term is
    onehot_i · log q_i, so its gradient w.r.t. onehot_i is log q_i, plus the context terms through the other copies."""
    import subprocess, tempfile
    from transformers import BertForMaskedLM
    binary = os.path.join(ROOT, ".build", "release", "dreamlab")
    if not os.path.exists(binary):
        sys.exit("golden.py: build the CLI first: swift build -c release --product dreamlab")
    d = tempfile.mkdtemp(prefix="dreamlab-golden-mlm-")
    flags = sum([[f"--{k}", str(v)] for k, v in RANDOM_MLM.items()], [])
    subprocess.check_call([binary, "random-model", "--out", d, "--vocab_from", MODEL] + flags, stdout=subprocess.DEVNULL)
    mlm = BertForMaskedLM.from_pretrained(d, attn_implementation="eager").eval()
    E = mlm.bert.embeddings.word_embeddings.weight.detach()
    V = E.shape[0]
    cases = []
    for sentence, first, last in [("i hate kickshaws", 1, 4), ("the quick brown fox jumps over the lazy dog", 2, 5), ("i hate kickshaws", 2, 2)]:
        enc = tok(sentence, return_tensors="pt")
        ids = enc["input_ids"][0]
        P = last - first + 1
        onehot = torch.nn.functional.one_hot(ids[first:last + 1], V).float().requires_grad_(True)
        total, per = 0, []
        for i in range(P):
            rows = [E[ids[t]] for t in range(len(ids))]
            for j in range(P):
                rows[first + j] = onehot[j] @ E if j != i else E[tok.mask_token_id]
            logits = mlm(inputs_embeds=torch.stack(rows).unsqueeze(0), token_type_ids=enc["token_type_ids"],
                         attention_mask=enc["attention_mask"]).logits[0, first + i]
            term = (onehot[i] * torch.log_softmax(logits, -1)).sum()
            per.append(float(term)); total = total + term
        pll = total / P
        pll.backward()
        g = onehot.grad
        grows = []
        for i in range(P):
            top = torch.topk(g[i], 5).indices.tolist()
            grows.append({"position": first + i, "norm": float(torch.norm(g[i])), "top5": top, "top5_values": [float(g[i][j]) for j in top]})
        cases.append({"sentence": sentence, "first": first, "last": last, "ids": ids.tolist(), "pll": float(pll),
                      "per_position": per, "gradient": grows})
    return {"config": RANDOM_MLM, "cases": cases}

def grad_rows(g, first):
    rows = []
    for i in range(g.shape[0]):
        top = torch.topk(g[i], 5).indices.tolist()
        rows.append({"position": first + i, "norm": float(torch.norm(g[i])), "top5": top, "top5_values": [float(g[i][j]) for j in top]})
    return rows

def pair13_goldens():
    """Issue 13's references: PAIR's dream_mlm objective (the probability of a token at a masked word) and its gradient
    on the random MLM model; PAIR's reconstruction loss (F.mse_loss to a layer's activations) and its gradient on the
    default model; and the input-embedding neighbours of a word (torch.pairwise_distance and cosine_similarity)."""
    import subprocess, tempfile
    from transformers import BertForMaskedLM
    out = {}
    # Neighbours of "hate" in the default model's input embeddings.
    E = model.embeddings.word_embeddings.weight.detach()
    q = E[tok.convert_tokens_to_ids("hate")]
    d = torch.pairwise_distance(E, q.expand_as(E))
    c = torch.cosine_similarity(E, q.expand_as(E))
    de, ie = torch.topk(d, 10, largest=False)
    dc, ic = torch.topk(c, 10, largest=True)
    out["neighbours"] = {"token": "hate", "euclidean": {"ids": ie.tolist(), "values": de.tolist()},
                         "cosine": {"ids": ic.tolist(), "values": dc.tolist()}}
    # Reconstruction: the relaxed "i hate kickshaws" (positions 1..2, T=1.5) against the layer-5 activation of
    # "i love kickshaws" (same length), PAIR's loss = F.mse_loss; the dream maximises -loss.
    target = model(**tok("i love kickshaws", return_tensors="pt"), output_hidden_states=True).hidden_states[6][0].detach()
    enc = tok("i hate kickshaws", return_tensors="pt")
    ids = enc["input_ids"][0]
    V = cfg.vocab_size
    z = torch.nn.functional.one_hot(ids[1:3], V).float().requires_grad_(True)
    p = torch.softmax(z / 1.5, dim=-1)
    words = torch.cat([E[ids[:1]], p @ E, E[ids[3:]]], dim=0)
    hs = model(inputs_embeds=words.unsqueeze(0), token_type_ids=enc["token_type_ids"], attention_mask=enc["attention_mask"],
               output_hidden_states=True).hidden_states[6][0]
    loss = torch.nn.functional.mse_loss(hs, target)
    (-loss).backward()
    out["reconstruct"] = {"sentence": "i hate kickshaws", "target_sentence": "i love kickshaws", "layer": 5, "first": 1, "last": 2,
                          "temperature": 1.5, "loss": float(loss), "rows": grad_rows(z.grad, 1)}
    # dream_mlm's objective on the random MLM model: softmax(logits[2])[token] with word 2 masked, positions 1 and 3..5
    # relaxed at T=2 from the sentence's one-hots.
    binary = os.path.join(ROOT, ".build", "release", "dreamlab")
    dd = tempfile.mkdtemp(prefix="dreamlab-golden-mlm13-")
    flags = sum([[f"--{k}", str(v)] for k, v in RANDOM_MLM.items()], [])
    subprocess.check_call([binary, "random-model", "--out", dd, "--vocab_from", MODEL] + flags, stdout=subprocess.DEVNULL)
    mlm = BertForMaskedLM.from_pretrained(dd, attn_implementation="eager").eval()
    Em = mlm.bert.embeddings.word_embeddings.weight.detach()
    ids = tok("i hate kickshaws", return_tensors="pt")["input_ids"][0].clone()
    ids[2] = tok.mask_token_id
    positions = [1, 3, 4, 5]
    zm = torch.nn.functional.one_hot(ids[positions], V).float().requires_grad_(True)
    pm = torch.softmax(zm / 2.0, dim=-1)
    rows = [Em[ids[t]] for t in range(len(ids))]
    for i, t in enumerate(positions): rows[t] = pm[i] @ Em
    logits = mlm(inputs_embeds=torch.stack(rows).unsqueeze(0), token_type_ids=torch.zeros(1, len(ids), dtype=torch.long),
                 attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits[0, 2]
    token = 2000
    prob = torch.softmax(logits, -1)[token]
    prob.backward()
    g = zm.grad
    out["dream_mlm"] = {"config": RANDOM_MLM, "ids": ids.tolist(), "positions": positions, "word": 2, "token": token, "temperature": 2.0,
                        "probability": float(prob), "rows": [dict(r, position=positions[i]) for i, r in enumerate(grad_rows(g, 0))]}
    return out

def main():
    rng = np.random.RandomState(0)
    golden = {"model": os.path.basename(MODEL), "transformers": __import__("transformers").__version__,
              "torch": torch.__version__, "tokenize": [], "sites": [], "gradients": []}
    for s in TOKENIZE:
        golden["tokenize"].append({"text": s, "ids": tok(s)["input_ids"]})
    pair = tok("the first segment", "and the second one")
    golden["tokenize_pair"] = {"a": "the first segment", "b": "and the second one",
                               "ids": pair["input_ids"], "type_ids": pair["token_type_ids"]}
    last = cfg.num_hidden_layers - 1
    for text in ["i hate kickshaws", "The quick brown fox jumps over the lazy dog.", "naïve café, 日本!"]:
        enc, sites = site_values(text)
        entry = {"text": text, "ids": enc["input_ids"][0].tolist(), "sites": {}}
        for name, t in sites.items():
            if name == "embed" or name.startswith(f"blocks.0.") or name.startswith(f"blocks.{last}."):
                entry["sites"][name] = sample(t, rng)
        golden["sites"].append(entry)
    _, sites = site_values("i hate kickshaws")
    golden["check"] = {"text": "i hate kickshaws", "site": f"blocks.{last}.hook_resid_post", "pos": 2, "unit": 300,
                       "value": float(sites[f"blocks.{last}.hook_resid_post"][2][300])}
    golden["gradients"].append(pair_gradient("i hate kickshaws", 2, 2, 2.0, last, 2, 300))
    golden["gradients"].append(pair_gradient("the quick brown fox jumps over the lazy dog", 1, 4, 0.7, 3, 2, 100))
    golden["gradients"].append(pair_gradient("i hate kickshaws", 1, 3, 1.3, last, 1, 17))
    golden["fluency"] = fluency_goldens()
    golden["pair13"] = pair13_goldens()
    path = os.path.join(ROOT, "Tests", "Golden", "golden.json")
    with open(path + ".tmp", "w") as f:
        json.dump(golden, f, ensure_ascii=True, separators=(",", ":"))
    os.replace(path + ".tmp", path)
    print(f"wrote {path} ({os.path.getsize(path)} bytes); check value {golden['check']['value']:.6f}")

main()
