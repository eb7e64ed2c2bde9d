"""Re-runs the calling script inside a throw-away venv under /tmp that has torch and transformers.

They are reference tools for goldens and benchmarks, never Dreamlab dependencies. DREAMLAB_TORCH_VENV picks the venv.
"""
import os, subprocess, sys

VENV = os.environ.get("DREAMLAB_TORCH_VENV", "/tmp/dreamlab-torch-venv")

def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    if sys.executable != py:
        if not os.path.exists(py):
            subprocess.check_call([sys.executable, "-m", "venv", VENV])
            subprocess.check_call([py, "-m", "pip", "install", "-q", "torch", "transformers", "safetensors"])
        os.execv(py, [py] + sys.argv)
