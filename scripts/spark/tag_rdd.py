#!/usr/bin/env python3
"""ner-tag as a stage of an Apache Spark job: every partition is streamed through the binary
with RDD.pipe, JSONL in and out, so each record carries its id through the stage.

    spark-submit scripts/spark/tag_rdd.py INPUT OUTPUT_DIR [--text] [--partitions N]
        [--binary /shared/bin/ner-tag] [--model /shared/models/ckpt] [-- extra ner-tag flags]

INPUT is JSONL with a text field (`--text-field`, default `text`; the other fields pass through),
or plain text lines with --text (each line becomes {"id": <0-based line index>, "text": line}).
OUTPUT_DIR receives the tagged records as JSONL part files (Spark's saveAsTextFile). A partition
whose ner-tag exits 1 fails its task (Spark retries it); exit 3 — some records could not be
tagged — keeps the error records written in their place, as on one machine.
"""

import argparse
import json
import shlex
import sys


def command(binary, model=None, text_field="text", extra=()):
    """The shell command RDD.pipe runs per partition: ner-tag reading JSONL from stdin. Exit 3
    (error records written) is a success for the stage, any other failure fails the task."""
    args = [binary, "--input-format", "jsonl", "--text-field", text_field, "-q"]
    if model:
        args += ["-m", model]
    args += list(extra)
    quoted = " ".join(shlex.quote(a) for a in args)
    script = f'{quoted}; rc=$?; [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || exit "$rc"'
    return "sh -c " + shlex.quote(script)


def text_to_jsonl(lines):
    """Plain text lines → JSONL records with their 0-based index as id."""
    return lines.zipWithIndex().map(
        lambda p: json.dumps({"id": p[1], "text": p[0]}, ensure_ascii=False)
    )


def tag(records, cmd):
    """JSONL records → tagged JSONL records (one out per one in, partition order kept)."""
    return records.pipe(cmd, checkCode=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input")
    p.add_argument("output_dir")
    p.add_argument("--text", action="store_true", help="INPUT is plain text lines")
    p.add_argument("--text-field", default="text")
    p.add_argument("--partitions", type=int, default=None)
    p.add_argument("--binary", default="ner-tag", help="ner-tag on every executor (PATH, a shared path, or ./ner-tag shipped with --files)")
    p.add_argument("--model", default=None, help="checkpoint directory on every executor [default: the built-in model]")
    p.add_argument("extra", nargs="*", help="more ner-tag flags, after --")
    a = p.parse_args(argv)

    from pyspark.sql import SparkSession

    spark = SparkSession.builder.appName("ner-tag").getOrCreate()
    sc = spark.sparkContext
    lines = sc.textFile(a.input, minPartitions=a.partitions)
    records = text_to_jsonl(lines) if a.text else lines
    tagged = tag(records, command(a.binary, a.model, a.text_field, a.extra))
    tagged.saveAsTextFile(a.output_dir)
    spark.stop()


if __name__ == "__main__":
    sys.exit(main())
