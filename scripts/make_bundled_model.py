"""Writes models/bert-minilm-conll03/, the checkpoint built into ner-tag (`--model default`):
the shared BERT-layout CoNLL-03 checkpoint with its weights stored as f16 (half the size; computed
in f32 as before), plus its config and tokenizer files.

usage:  VENV=$(../shared/tools/ref-env.sh) && $VENV/bin/python scripts/make_bundled_model.py [SHARED_DIR]
"""
import json
import os
import shutil
import sys

import torch
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "shared")
src = os.path.join(shared, "models", "bert-minilm-conll03")
dst = os.path.join(HERE, "..", "models", "bert-minilm-conll03")
os.makedirs(dst, exist_ok=True)
tensors = load_file(os.path.join(src, "model.safetensors"))
# Position ids and other integer buffers keep their dtype; float tensors become f16.
half = {k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
save_file(half, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
config = json.load(open(os.path.join(src, "config.json")))
config["dtype" if "dtype" in config else "torch_dtype"] = "float16"
json.dump(config, open(os.path.join(dst, "config.json"), "w"), indent=2)
for f in ["tokenizer.json", "tokenizer_config.json"]:
    shutil.copy(os.path.join(src, f), os.path.join(dst, f))
print(f"{dst}: {sum(v.numel() for v in half.values())} parameters, "
      f"{os.path.getsize(os.path.join(dst, 'model.safetensors')) / 1e6:.1f} MB")
