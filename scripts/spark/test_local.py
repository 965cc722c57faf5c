#!/usr/bin/env python3
"""Spark local-mode test of the pipe stage (scripts/spark/tag_rdd.py) on the CoNLL-2003 valid
sentences as lines: every record comes back exactly once and equals the single-process output,
through RDD.pipe over several partitions and through the job script itself; prints the stage's
overhead against one process on the same input. Exit 1 on any failure.

    bash scripts/spark/test_local.sh        # builds the binary, sets up PySpark, runs this
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tag_rdd  # noqa: E402


def conll_lines(path):
    """The sentences of a CoNLL file as space-joined lines (the benchmark's 'valid lines')."""
    out, cur = [], []
    for line in open(path, encoding="utf-8"):
        f = line.split()
        if not f or f[0] == "-DOCSTART-":
            if cur:
                out.append(" ".join(cur))
                cur = []
            continue
        cur.append(f[0])
    if cur:
        out.append(" ".join(cur))
    return out


def single(cmd, data):
    """One process over the whole input: output lines, seconds."""
    t = time.perf_counter()
    r = subprocess.run(cmd, shell=True, input=data, capture_output=True, check=True)
    return r.stdout.decode("utf-8").splitlines(), time.perf_counter() - t


def check(name, got, want_by_id, failures):
    """Every id exactly once, each record byte-equal to one process's."""
    ids = collections.Counter(json.loads(line)["id"] for line in got)
    dup = [i for i, n in ids.items() if n > 1]
    missing = set(want_by_id) - set(ids)
    differ = sum(1 for line in got if want_by_id.get(json.loads(line)["id"]) != line)
    ok = not dup and not missing and differ == 0 and len(got) == len(want_by_id)
    print(f"{name}: {len(got)} records, {len(ids)} ids, {len(dup)} duplicated, "
          f"{len(missing)} missing, {differ} differ from one process: {'ok' if ok else 'FAIL'}")
    if not ok:
        failures.append(name)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default="target/release/ner-tag")
    p.add_argument("--model", default=None)
    p.add_argument("--valid", default="../shared/data/conll2003/valid.txt")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    binary = os.path.abspath(a.binary)
    lines = conll_lines(a.valid)
    good = [json.dumps({"id": i, "text": t}, ensure_ascii=False) for i, t in enumerate(lines)]
    records = list(good)
    # A record that cannot be tagged (its text is not a string): ner-tag writes an error record
    # keeping the object (and its id) and exits 3, which the stage takes as success.
    bad = len(records) // 2
    records[bad] = json.dumps({"id": bad, "text": 5, "source": "bad on purpose"})
    data = ("\n".join(records) + "\n").encode("utf-8")

    # One process, all cores (ner-tag's default threads).
    cmd1 = tag_rdd.command(binary, a.model)
    # In Spark each task gets one core: --threads 1, `cores` tasks at a time.
    cmd_task = tag_rdd.command(binary, a.model, extra=["--threads", "1"])

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    t0 = time.perf_counter()
    spark = (SparkSession.builder.master(f"local[{a.cores}]").appName("ner-tag-test")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    start_secs = time.perf_counter() - t0
    sc = spark.sparkContext

    failures = []
    want, _ = single(cmd1, data)
    want_by_id = {json.loads(line)["id"]: line for line in want}
    assert len(want_by_id) == len(records), "one record out per record in"
    assert "error" in json.loads(want_by_id[bad]), want_by_id[bad]
    # What the job script should give for the text lines (every record good).
    want_text, _ = single(cmd1, ("\n".join(good) + "\n").encode("utf-8"))
    want_text_by_id = {json.loads(line)["id"]: line for line in want_text}

    one, stage = [], []
    for _ in range(a.runs):  # alternate, quote medians
        _, secs = single(cmd1, data)
        one.append(secs)
        rdd = sc.parallelize(records, a.partitions)
        t = time.perf_counter()
        got = tag_rdd.tag(rdd, cmd_task).collect()
        stage.append(time.perf_counter() - t)
    check(f"RDD.pipe, {a.partitions} partitions on local[{a.cores}]", got, want_by_id, failures)

    # The job script end to end: text lines in, part files out.
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "valid.txt")
        with open(src, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        out = os.path.join(d, "out")
        args = ["--text", "--partitions", str(a.partitions), "--binary", binary, src, out]
        if a.model:
            args[0:0] = ["--model", a.model]
        args += ["--", "--threads", "1"]
        t = time.perf_counter()
        tag_rdd.main(args)  # stops the session
        job_secs = time.perf_counter() - t
        parts = sorted(n for n in os.listdir(out) if n.startswith("part-"))
        got = [line for n in parts for line in open(os.path.join(out, n), encoding="utf-8").read().splitlines()]
        check(f"tag_rdd.py --text, {len(parts)} part files", got, want_text_by_id, failures)

    m1, ms = statistics.median(one), statistics.median(stage)
    print(f"\n{len(records)} records; medians of {a.runs} alternating runs")
    print(f"| run | seconds | records/s |\n|---|---|---|")
    print(f"| one ner-tag process (all cores) | {m1:.2f} | {len(records) / m1:.0f} |")
    print(f"| Spark RDD.pipe stage, {a.partitions} partitions, local[{a.cores}], --threads 1 | {ms:.2f} | {len(records) / ms:.0f} |")
    print(f"| tag_rdd.py job (session start, read, pipe, write) | {job_secs:.2f} | {len(records) / job_secs:.0f} |")
    print(f"Spark stage overhead vs one process: {ms / m1:.2f}x ({ms - m1:+.2f} s); session start {start_secs:.1f} s")
    if failures:
        print("FAILED:", ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
