#!/usr/bin/env bash
# Proves ner-tag on a machine with an NVIDIA GPU, no network and no Rust toolchain (python3 with
# torch + transformers, a CUDA 13 driver), from the bundle scripts/gpu-bundle.sh made:
#
#   bash scripts/gpu-check.sh [BUNDLE=.gpu] [OUT_DIR=gpu-check-out] [--quick]
#
# Parity of the GPU's spans with the CPU reference (f32 ≥ 99.9% of CoNLL valid lines), `ner-tag
# eval` F1 per dtype (f16/bf16 within 0.1 point of f32), and lines/s against the transformers
# pipeline in fp16 at its best batch size on the same GPU (target ≥ 3×), for the real checkpoint
# in the tree and base-sized random-weight ones built there. Prints one table; exits 1 on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${1:-.gpu}
out=${2:-gpu-check-out}
shift $(( $# > 2 ? 2 : $# ))
mkdir -p "$out"

# The CUDA libraries the binary links: the driver's libcuda.so.1, and cuBLAS, cuRAND and NVRTC
# from wherever this machine has them (its Python's NVIDIA wheels, or a CUDA toolkit).
libs=$(python3 - <<'PY'
import glob, os, site, sys
want = ["libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10", "libnvrtc.so.13"]
roots = site.getsitepackages() + ["/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"]
dirs = []
for w in want:
    hits = [h for r in roots for h in glob.glob(os.path.join(r, "**", w), recursive=True)]
    if not hits:
        sys.exit(f"gpu-check: {w} not found under {roots}")
    d = os.path.dirname(hits[0])
    if d not in dirs:
        dirs.append(d)
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
work=${NER_TAG_GPU_WORK:-/tmp/ner-tag-gpu-work}
mkdir -p "$work"
bin=$work/ner-tag
xz -dc "$bundle/ner-tag.xz" >"$bin"
chmod +x "$bin"
if ldd "$bin" | grep -q "not found"; then
    echo "gpu-check: missing libraries:" >&2
    ldd "$bin" | grep "not found" >&2
    exit 1
fi
nvidia-smi -L >&2
PYTHONUNBUFFERED=1 python3 scripts/gpu/check.py "$bin" "$bundle" --out "$out" "$@"
