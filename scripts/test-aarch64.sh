#!/usr/bin/env bash
# Cross-builds ner-tag for aarch64-unknown-linux-gnu on an x86-64 Debian/Ubuntu machine and runs
# it under qemu-user: slow (two builds, emulated tests), not part of `cargo test`.
#
#   bash scripts/test-aarch64.sh [--no-install]
#
# 1. installs (apt, unless --no-install) the aarch64 cross gcc/g++ and qemu-user, and the Rust
#    aarch64 std (`rustup target add`);
# 2. runs the kernel unit tests (`cargo test --lib kernels`) for aarch64 under qemu twice: on
#    qemu's default CPU (NEON + dotprod: the `sdot` int8 kernel) and as a Cortex-A53 (ARMv8.0,
#    no dotprod: the `smull` + `sadalp` one) — each int8 kernel bit for bit against the scalar
#    reference on odd shapes;
# 3. builds `cargo build --release` for aarch64 and the host's `cargo build`, tags
#    tests/fixtures/inputs.txt with tests/fixtures/models/tiny-bert (f32 and `--quantize int8`,
#    `-a first` and word mode, `--stride 12`) on both, and requires the same spans (text, label, offsets) on
#    every line, scores within 1e-5; the aarch64 int8 output byte-identical with its three
#    kernels (sdot, plain NEON, scalar); `--stats` naming the kernel; f32 spans equal to the
#    `transformers` pipeline's (`expected/first.jsonl`).
# Prints what it checked and exits 1 on the first failure. Build outputs go to $CARGO_TARGET_DIR
# (default target/); AARCH64_PROFILE=dev builds the aarch64 binary in the dev profile instead of
# release (reuses the test build's dependencies: one build fewer).
set -euo pipefail
cd "$(dirname "$0")/.."
target=aarch64-unknown-linux-gnu
tdir=${CARGO_TARGET_DIR:-target}
profile=${AARCH64_PROFILE:-release}
pdir=$profile; [[ $profile == dev ]] && pdir=debug
say() { printf 'test-aarch64: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

if [[ ${1:-} != --no-install ]]; then
    need=()
    command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
    command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
    command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
    if ((${#need[@]})); then
        sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
        $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
    fi
    rustup target add "$target" >/dev/null
fi
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar

# 2. Kernel unit tests under qemu, with and without dotprod.
for cpu in max cortex-a53; do
    say "cargo test --lib kernels for $target under qemu -cpu $cpu"
    QEMU_CPU=$cpu cargo test --locked --lib --target "$target" kernels -- --test-threads 2 \
        || fail "kernel tests under qemu -cpu $cpu"
done

# 3. End to end: the release binary for aarch64 against the host's build.
say "cargo build --profile $profile --target $target; cargo build (host)"
cargo build --locked --profile "$profile" --target "$target"
cargo build --locked
arm=(qemu-aarch64 -L /usr/aarch64-linux-gnu "$tdir/$target/$pdir/ner-tag")
x86=("$tdir/debug/ner-tag")
model=tests/fixtures/models/tiny-bert
input=tests/fixtures/inputs.txt
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Same spans on every line, scores within 1e-5 (SIMD paths round the last bits differently).
same_spans() {
    python3 - "$1" "$2" <<'PY'
import json, sys
def load(p):
    return [json.loads(l) for l in open(p, encoding="utf-8")]
a, b = load(sys.argv[1]), load(sys.argv[2])
if len(a) != len(b):
    sys.exit(f"{len(a)} vs {len(b)} records")
spans = lambda r: [(e["text"], e["label"], e["start"], e["end"]) for e in r["entities"]]
worst, n = 0.0, 0
for i, (x, y) in enumerate(zip(a, b)):
    if spans(x) != spans(y):
        sys.exit(f"line {i + 1}: {spans(x)} vs {spans(y)}")
    for e, f in zip(x["entities"], y["entities"]):
        worst, n = max(worst, abs(e["score"] - f["score"])), n + 1
if worst >= 1e-5:
    sys.exit(f"scores differ by {worst}")
print(f"{len(a)} lines, {n} entities, max score diff {worst:.2e}")
PY
}

for q in none int8; do
    for agg in first word; do
        # --stride 12: what tests/fixtures/generate.py passed to the pipeline.
        args=(-m "$model" -a "$agg" --quantize "$q" --stride 12 "$input")
        "${x86[@]}" "${args[@]}" >"$out/x86.$q.$agg.jsonl"
        "${arm[@]}" "${args[@]}" --stats 2>"$out/arm.$q.$agg.err" >"$out/arm.$q.$agg.jsonl" \
            || fail "aarch64 binary: $(cat "$out/arm.$q.$agg.err")"
        r=$(same_spans "$out/x86.$q.$agg.jsonl" "$out/arm.$q.$agg.jsonl") \
            || fail "--quantize $q -a $agg: aarch64 and x86 differ: $r"
        say "--quantize $q -a $agg: aarch64 = x86 ($r)"
    done
done
grep -qF 'int8 neon-dotprod (sdot)' "$out/arm.int8.first.err" \
    || fail "--stats does not name the sdot kernel: $(cat "$out/arm.int8.first.err")"
r=$(same_spans "$model/expected/first.jsonl" "$out/arm.none.first.jsonl") \
    || fail "aarch64 f32 -a first differs from the transformers pipeline: $r"
say "f32 -a first: aarch64 = transformers pipeline ($r)"

# The three int8 kernels compute the same integers: the same bytes out.
for run in "QEMU_CPU=cortex-a53 neon (smull + sadalp)" "NER_TAG_SIMD=base scalar"; do
    read -r var name <<<"$run"
    env "$var" "${arm[@]}" -m "$model" -a first --quantize int8 --stride 12 --stats "$input" \
        2>"$out/k.err" >"$out/k.jsonl"
    grep -qF "int8 $name" "$out/k.err" \
        || fail "$var: --stats does not name $name: $(cat "$out/k.err")"
    cmp -s "$out/k.jsonl" "$out/arm.int8.first.jsonl" \
        || fail "int8 with $name differs from the sdot kernel's output"
    say "int8 -a first with $name ($var): byte-identical to sdot"
done

# 4. The fixture-parity and CLI suites, emulated end to end.
say "cargo test --test fixture_parity --test cli for $target under qemu"
NER_TAG_TEST_RUNNER=$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER \
    cargo test --locked --target "$target" --test fixture_parity --test cli -- --test-threads 2 \
    || fail "integration tests under qemu"
say "OK"
