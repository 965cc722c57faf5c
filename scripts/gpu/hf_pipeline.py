"""lines/s of the transformers token-classification pipeline on the GPU in fp16, per batch size.

usage: python3 scripts/gpu/hf_pipeline.py MODEL_DIR LINES_FILE --batch-sizes 32,128,512
Prints {"batch size": lines/s, ...} as JSON on stdout. aggregation_strategy="simple" (what
`ner-tag -a simple` is compared with); model and tokenizer loaded once, one warm-up pass.
"""
import argparse
import json
import time

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("lines")
ap.add_argument("--batch-sizes", default="32")
args = ap.parse_args()
lines = [l.rstrip("\n") for l in open(args.lines, encoding="utf-8")]
tok = AutoTokenizer.from_pretrained(args.model)
model = AutoModelForTokenClassification.from_pretrained(args.model, dtype=torch.float16).to("cuda").eval()
nlp = pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy="simple", device=0)
out = {}
for bs in [int(b) for b in args.batch_sizes.split(",")]:
    nlp(lines[:512], batch_size=bs)  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    t0 = time.time()
    res = nlp(lines, batch_size=bs)
    torch.cuda.synchronize()
    out[str(bs)] = len(lines) / (time.time() - t0)
print(json.dumps(out))
