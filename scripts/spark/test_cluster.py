#!/usr/bin/env python3
"""The Spark pipe stage (scripts/spark/tag_rdd.py) on a real Spark standalone cluster on loopback,
with faults: a master and two workers (one core each, own work dirs), the job submitted with
spark-submit and the ner-tag binary shipped with --archives (unpacked in each executor's work
dir), over the CoNLL-2003 valid sentences as text lines in several partitions. Three runs:

  A  no fault;
  B  one running ner-tag child process SIGKILLed mid-partition: its task fails, Spark retries it;
  C  one worker JVM SIGKILLed while its executor runs tasks: the job finishes on the other worker.

Each run must give every record exactly once, byte-equal (sorted by id) to one ner-tag process
over the same JSONL input; B and C must show the failed task attempts in the event log. Exit 1 on
any failure. Every daemon is stopped at the end (and the wrapper's trap kills whatever is left).

    bash scripts/spark/test_cluster.sh [path/to/ner-tag]   # sets up PySpark, runs this
"""

import argparse
import collections
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tag_rdd  # noqa: E402
from test_local import conll_lines  # noqa: E402


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def java_tmp(tmp):
    """JVM options: temp files under the test's dir and no /tmp/hsperfdata_root/PID file, so a
    SIGKILLed JVM leaves nothing in /tmp."""
    os.makedirs(os.path.join(tmp, "jtmp"), exist_ok=True)
    return "-XX:-UsePerfData -Djava.io.tmpdir=" + os.path.join(tmp, "jtmp")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode("utf-8"))


def proc_link(pid, name):
    try:
        return os.readlink(f"/proc/{pid}/{name}")
    except OSError:
        return ""


def proc_age(pid):
    """Seconds since the process started (from /proc), or None when it is gone (or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            return None
        start_ticks = int(fields[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def shipped_ner_tags(root):
    """pids of running ner-tag processes whose executable is the shipped copy under `root` (a
    worker's work dir): pgrep finds the ner-tag processes, /proc/PID/exe tells which are ours
    (the command line says only ./nt/ner-tag, and other ner-tag processes may run on the box)."""
    r = subprocess.run(["pgrep", "-x", "ner-tag"], capture_output=True, text=True)
    pids = [int(p) for p in r.stdout.split()]
    return [p for p in pids
            if proc_link(p, "exe").startswith(root + os.sep) and proc_link(p, "exe").endswith("/nt/ner-tag")]


def ours(tmp):
    """pids of processes that belong to this test: working directory, executable or command
    line under its temp dir (the stray check after the cluster is stopped)."""
    me = os.getpid()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        pid = int(d)
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if any(s.startswith(tmp) for s in (proc_link(pid, "cwd"), proc_link(pid, "exe"))) or tmp in cmdline:
            found.append(pid)
    return found


class Cluster:
    """A standalone master and workers on 127.0.0.1, each in its own process group."""

    def __init__(self, tmp, spark_home, workers=2):
        self.tmp = tmp
        self.spark_class = os.path.join(spark_home, "bin", "spark-class")
        self.port, self.ui = free_port(), free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.procs = {}  # name -> Popen
        self.work_dirs = {}  # worker name -> work dir
        self.worker_ui = {}  # worker name -> web UI port
        self.n_workers = workers
        self.env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_DAEMON_MEMORY="256m",
                        # the master drops a worker whose heartbeats stop after 20 s, not 60 s; the
                        # worker's heartbeat interval is a quarter of its own setting, so both get it
                        SPARK_DAEMON_JAVA_OPTS=f"-Dspark.worker.timeout=20 {java_tmp(tmp)}",
                        TMPDIR=os.path.join(tmp, "jtmp"))

    def _start(self, name, args):
        local = os.path.join(self.tmp, "local", name)
        os.makedirs(local, exist_ok=True)
        out = open(os.path.join(self.tmp, f"{name}.log"), "wb")
        p = subprocess.Popen([self.spark_class] + args, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True,
                             env=dict(self.env, SPARK_LOCAL_DIRS=local), cwd=self.tmp)
        self.procs[name] = p
        with open(os.path.join(self.tmp, "pids"), "a") as f:  # for the wrapper's trap
            f.write(f"{p.pid}\n")
        return p

    def state(self):
        try:
            return get_json(f"http://127.0.0.1:{self.ui}/json/")
        except OSError:
            return None

    def start(self, timeout=120):
        t = time.perf_counter()
        self._start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(self.port), "--webui-port", str(self.ui)])
        self._wait(lambda s: s.get("status") == "ALIVE", "master ALIVE", timeout)
        for i in range(1, self.n_workers + 1):
            name = f"worker{i}"
            wd = os.path.join(self.tmp, "work", name)
            os.makedirs(wd)
            self.work_dirs[name] = wd
            self.worker_ui[name] = free_port()
            self._start(name, ["org.apache.spark.deploy.worker.Worker", self.url, "--host", "127.0.0.1",
                               "--work-dir", wd, "--cores", "1", "--memory", "1g",
                               "--webui-port", str(self.worker_ui[name])])
        self._wait(lambda s: s.get("aliveworkers", 0) == self.n_workers, f"{self.n_workers} workers ALIVE", timeout)
        log(f"cluster up in {time.perf_counter() - t:.1f} s: master {self.url} (UI :{self.ui}), "
            f"{self.n_workers} workers x 1 core, 1 GiB")

    def _wait(self, ok, what, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited ({p.returncode}) before {what}; see {self.tmp}/{name}.log")
            s = self.state()
            if s and ok(s):
                return
            time.sleep(0.3)
        raise RuntimeError(f"timed out waiting for {what}")

    def stop(self):
        """SIGTERM every daemon's process group (a worker takes its executors with it), SIGKILL
        what is left after 10 s; then kill any process of ours still around and say so."""
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 10
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs.values():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
        time.sleep(0.5)
        stray = ours(self.tmp)
        for pid in stray:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return stray


def event_summary(events_dir, worker_ui):
    """What the event log says about the run: per-stage task ends, the failed attempts with their
    reasons, the executors (and which worker each ran on), executor removals, the job results."""
    logs = glob.glob(os.path.join(events_dir, "*"))
    if len(logs) != 1 or logs[0].endswith(".inprogress"):
        return None
    if os.path.isdir(logs[0]):  # a rolling event log (Spark 4's default): events_N_<app> files
        if glob.glob(os.path.join(logs[0], "appstatus_*.inprogress")):
            return None
        files = sorted(glob.glob(os.path.join(logs[0], "events_*")),
                       key=lambda f: int(os.path.basename(f).split("_")[1]))
    else:
        files = logs
    s = {"stages": {}, "ok": collections.Counter(), "failed": [], "executors": {}, "removed": [],
         "jobs": [], "ok_on": collections.Counter(), "ok_attempt": {}, "start": None}
    ui_to_worker = {str(port): name for name, port in worker_ui.items()}
    for line in (line for f in files for line in open(f, encoding="utf-8")):
        e = json.loads(line)
        ev = e["Event"]
        if ev == "SparkListenerApplicationStart":
            s["start"] = e["Timestamp"]
        elif ev == "SparkListenerStageSubmitted":
            si = e["Stage Info"]
            s["stages"][si["Stage ID"]] = (si["Stage Name"], si["Number of Tasks"])
        elif ev == "SparkListenerTaskEnd":
            info, reason = e["Task Info"], e["Task End Reason"]
            key = (e["Stage ID"], info["Index"])
            if reason["Reason"] == "Success":
                s["ok"][key] += 1
                s["ok_attempt"][key] = (info["Attempt"], info["Executor ID"])
                s["ok_on"][(e["Stage ID"], info["Executor ID"])] += 1
            else:
                text = (reason.get("Description") or "") + (reason.get("Full Stack Trace") or "")
                pipe = re.search(r"Pipe function .* (exited with error code -?\d+)", text)
                why = [pipe.group(1)] if pipe else \
                    (reason.get("Description") or reason.get("Loss Reason") or "").strip().splitlines()
                s["failed"].append({"stage": e["Stage ID"], "index": info["Index"], "attempt": info["Attempt"],
                                    "executor": info["Executor ID"], "reason": reason["Reason"],
                                    "why": why[-1][:160] if why else "", "finish": info["Finish Time"]})
        elif ev == "SparkListenerExecutorAdded":
            urls = json.dumps(e["Executor Info"].get("Log Urls", {}))
            worker = next((w for port, w in ui_to_worker.items() if f":{port}/" in urls), "?")
            s["executors"][e["Executor ID"]] = worker
        elif ev == "SparkListenerExecutorRemoved":
            s["removed"].append((e["Executor ID"], e["Timestamp"], e.get("Removed Reason", "")))
        elif ev == "SparkListenerJobEnd":
            s["jobs"].append((e["Job ID"], e["Job Result"]["Result"]))
    return s


def read_parts(out_dir):
    parts = sorted(glob.glob(os.path.join(out_dir, "part-*")))
    lines = []
    for p in parts:
        with open(p, "rb") as f:
            lines += f.read().splitlines()
    return parts, lines


def check(got, want_by_id):
    """Every id exactly once, each record byte-equal to one process's; the records sorted by id
    joined as one process writes them (the byte-for-byte comparison of the whole output)."""
    ids = collections.Counter(json.loads(line)["id"] for line in got)
    dup = sorted(i for i, n in ids.items() if n > 1)
    missing = sorted(set(want_by_id) - set(ids))
    differ = sum(1 for line in got if want_by_id.get(json.loads(line)["id"]) != line)
    whole = b"\n".join(sorted(got, key=lambda line: json.loads(line)["id"])) == \
        b"\n".join(want_by_id[i] for i in sorted(want_by_id))
    ok = not dup and not missing and differ == 0 and len(got) == len(want_by_id) and whole
    return ok, (f"{len(got)} records, {len(ids)} ids, {len(dup)} duplicated, {len(missing)} missing, "
                f"{differ} differ; sorted by id byte-equal to one process: {'yes' if whole else 'NO'}")


class Runner:
    def __init__(self, a, tmp, cluster, spark_home):
        self.a, self.tmp, self.cluster = a, tmp, cluster
        self.submit = os.path.join(spark_home, "bin", "spark-submit")

    def conf(self):
        c = {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.memory": "512m",
            "spark.executor.memory": "512m",
            "spark.executor.cores": "1",
            "spark.cores.max": "2",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.eventLog.enabled": "true",
            "spark.eventLog.compress": "false",
            # file:// splits name "localhost", executors are 127.0.0.1: don't wait for locality
            "spark.locality.wait": "0s",
            # a task may fail 4 times before the job fails (Spark's default, said explicitly):
            # the faults here cost one failed attempt per task they hit
            "spark.task.maxFailures": "4",
            # an executor whose heartbeats stop is dropped after 20 s, checked every 2 s (defaults
            # 120 s / 60 s); heartbeats every 2 s (default 10 s, must stay well under the timeout)
            "spark.network.timeout": "20s",
            "spark.network.timeoutInterval": "2s",
            "spark.executor.heartbeatInterval": "2s",
            "spark.pyspark.python": sys.executable,
            # the executors' temp files (fetched archives, JVM perf data) inside the test's dir too
            "spark.executor.extraJavaOptions": java_tmp(self.tmp),
        }
        return c

    def run(self, name, fault=None):
        out = os.path.join(self.tmp, f"out-{name}")
        events = os.path.join(self.tmp, f"events-{name}")
        os.makedirs(events)
        conf = dict(self.conf(), **{"spark.eventLog.dir": "file://" + events})
        cmd = [self.submit, "--master", self.cluster.url, "--archives", self.a.tgz + "#nt"]
        for k, v in conf.items():
            cmd += ["--conf", f"{k}={v}"]
        cmd += [os.path.join(HERE, "tag_rdd.py"), "--text", "--partitions", str(self.a.partitions),
                "--binary", "./nt/ner-tag"]
        if self.a.model:
            cmd += ["--model", self.a.model]
        # ner-tag: one thread (a task has one core); chunks of 64 records, not 512, so a task's
        # output flows out as it goes and a kill comes after some of it was written
        cmd += [self.a.input, "file://" + out, "--", "-j", "1", "--read-ahead", "64"]
        logf = os.path.join(self.tmp, f"driver-{name}.log")
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
                   SPARK_SUBMIT_OPTS=java_tmp(self.tmp), TMPDIR=os.path.join(self.tmp, "jtmp"),
                   PYSPARK_DRIVER_PYTHON=sys.executable,
                   SPARK_LOCAL_DIRS=os.path.join(self.tmp, "local", f"driver-{name}"))
        log(f"run {name}: spark-submit tag_rdd.py, {self.a.partitions} partitions, ner-tag -j 1 --read-ahead 64" +
            (f", fault: {fault.__doc__.strip()}" if fault else ""))
        t0 = time.perf_counter()
        with open(logf, "wb") as f:
            p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, env=env, cwd=self.tmp)
        with open(os.path.join(self.tmp, "pids"), "a") as f:
            f.write(f"{p.pid}\n")
        fault_info = {}
        try:
            if fault:
                fault_info = fault(p, t0) or {}
            p.wait(timeout=self.a.job_timeout - (time.perf_counter() - t0))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            fault_info["error"] = f"spark-submit still running after {self.a.job_timeout} s, killed"
        wall = time.perf_counter() - t0
        return self.result(name, p.returncode, wall, out, events, logf, fault_info)

    def result(self, name, rc, wall, out, events, logf, fault_info):
        problems = []
        if "error" in fault_info:
            problems.append(fault_info["error"])
        if rc != 0:
            problems.append(f"spark-submit exited {rc}")
        ev = event_summary(events, self.cluster.worker_ui)
        if ev is None:
            problems.append("no (finished) event log")
            ev = {"stages": {}, "ok": {}, "failed": [], "executors": {}, "removed": [], "jobs": [], "ok_on": {},
                  "ok_attempt": {}}
        save = max(ev["stages"]) if ev["stages"] else None  # the last stage: pipe + saveAsTextFile
        if save is not None:
            sname, ntasks = ev["stages"][save]
            counts = [ev["ok"].get((save, i), 0) for i in range(ntasks)]
            if counts != [1] * ntasks:
                problems.append(f"stage {save}: successful attempts per task {counts}, not one each")
            on = {ex: n for (st, ex), n in ev["ok_on"].items() if st == save}
        else:
            problems.append("no stage in the event log")
            sname, ntasks, on = "?", 0, {}
        if not all(r == "JobSucceeded" for _, r in ev["jobs"]) or not ev["jobs"]:
            problems.append(f"jobs: {ev['jobs']}")
        parts, got = read_parts(out)
        if not os.path.exists(os.path.join(out, "_SUCCESS")):
            problems.append("no _SUCCESS in the output dir")
        ok, detail = check(got, self.want_by_id) if got else (False, "no output records")
        if not ok:
            problems.append("output: " + detail)
        fails = ev["failed"]
        res = {"name": name, "wall": wall, "fails": fails, "ev": ev, "problems": problems,
               "fault": fault_info, "ntasks": ntasks, "detail": detail, "parts": len(parts)}
        log(f"run {name}: {wall:.1f} s wall (spark-submit start to exit), rc {rc}")
        for k, v in fault_info.items():
            if k not in ("error", "task", "kill_epoch"):
                print(f"    fault: {k}: {v}")
        execs = ", ".join(f"executor {ex} on {w}" for ex, w in sorted(ev["executors"].items()))
        print(f"    executors: {execs or 'none seen'}")
        for ex, ts, why in ev["removed"]:
            after = (f", {ts / 1000 - fault_info['kill_epoch']:.1f} s after the kill" if "kill_epoch" in fault_info else "")
            print(f"    executor {ex} removed at +{(ts - ev['start']) / 1000:.1f} s of the app{after}: {why}")
        print(f"    stage {save} ({sname}): {ntasks} tasks; successful attempts by executor: "
              f"{dict(sorted(on.items()))}; failed attempts: {len(fails)}")
        for fl in fails:
            print(f"      task {fl['index']} attempt {fl['attempt']} (stage {fl['stage']}, executor {fl['executor']}): "
                  f"{fl['reason']}: {fl['why']}")
            retry = ev["ok_attempt"].get((fl["stage"], fl["index"]))
            if retry:
                print(f"        retried: task {fl['index']} attempt {retry[0]} succeeded on executor {retry[1]} "
                      f"({ev['executors'].get(retry[1], '?')})")
        print(f"    output: {len(parts)} part files; {detail}")
        return res


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--model", default=None, help="checkpoint dir readable on every executor [default: built in]")
    p.add_argument("--tmp", required=True, help="an empty temp dir (the wrapper makes and removes it)")
    p.add_argument("--valid", default="../shared/data/conll2003/valid.txt")
    p.add_argument("--partitions", type=int, default=8)
    p.add_argument("--job-timeout", type=float, default=420)
    p.add_argument("--runs", default="ABC", help="which runs, e.g. AB")
    a = p.parse_args()
    tmp = os.path.abspath(a.tmp)
    a.binary = os.path.abspath(a.binary)
    if a.model:
        a.model = os.path.abspath(a.model)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    import pyspark
    spark_home = os.path.dirname(os.path.abspath(pyspark.__file__))
    t_all = time.perf_counter()

    # The input as Spark reads it (text lines) and as one ner-tag process reads it (the same
    # JSONL records tag_rdd.text_to_jsonl makes: {"id": line index, "text": line}).
    lines = conll_lines(a.valid)
    a.input = os.path.join(tmp, "valid-lines.txt")
    with open(a.input, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    jsonl = "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(lines))
    t = time.perf_counter()
    r = subprocess.run(tag_rdd.command(a.binary, a.model), shell=True, input=jsonl.encode("utf-8"),
                       capture_output=True, check=True)
    want = r.stdout.splitlines()
    want_by_id = {json.loads(line)["id"]: line for line in want}
    assert len(want_by_id) == len(lines), "one record out per record in"
    log(f"{len(lines)} lines; one ner-tag process (all cores) over the JSONL: {time.perf_counter() - t:.1f} s")

    # The binary shipped to the executors: a tar.gz unpacked as ./nt in each executor's work dir.
    a.tgz = os.path.join(tmp, "ner-tag.tgz")
    with tarfile.open(a.tgz, "w:gz", compresslevel=1) as tf:
        tf.add(a.binary, arcname="ner-tag")

    cluster = Cluster(tmp, spark_home)
    results, failures = [], []
    try:
        cluster.start()
        runner = Runner(a, tmp, cluster, spark_home)
        runner.want_by_id = want_by_id

        def task_log(pid):
            """(index, attempt, stage, finished) for the executor running ner-tag `pid`: the task
            it runs now (its log's last "Running task" line: one core, one task at a time) and
            how many tasks of that stage it has finished; None when its log can't tell."""
            exec_dir = os.path.dirname(os.path.dirname(proc_link(pid, "exe")))
            try:
                with open(os.path.join(exec_dir, "stderr"), encoding="utf-8", errors="replace") as f:
                    text = f.read()
            except OSError:
                return None
            running = re.findall(r"Running task (\d+)\.(\d+) in stage (\d+)\.", text)
            if not running:
                return None
            index, attempt, stage = running[-1]
            done = len(re.findall(rf"Finished task \d+\.\d+ in stage {stage}\.", text))
            return int(index), int(attempt), int(stage), done

        def kill_child(proc, t0):
            """SIGKILL one running ner-tag child (the shipped binary, under a worker work dir), its task's output begun"""
            # The child's executor is the work dir it runs from (.../<app>/<executor id>/nt/ner-tag);
            # that executor runs one task at a time (1 core), the last "Running task N.A" of its log.
            # Wait until that attempt has written part of its (uncommitted) part file, so the kill
            # comes mid-output: what the dead attempt wrote must not reach the result.
            deadline = time.time() + 180
            while time.time() < deadline:
                for pid in shipped_ner_tags(os.path.join(tmp, "work")):
                    exe = proc_link(pid, "exe")
                    task = task_log(pid)
                    if task is None:
                        continue
                    index, attempt, stage, _ = task
                    parts = glob.glob(os.path.join(tmp, "out-B", "_temporary", "*", "_temporary", "*",
                                                   f"part-{index:05d}"))
                    written = sum(os.path.getsize(f) for f in parts if os.path.exists(f))
                    age = proc_age(pid)
                    if written and age is not None:
                        os.kill(pid, signal.SIGKILL)
                        return {"killed": f"ner-tag pid {pid} ({os.path.relpath(exe, tmp)}) at +{time.perf_counter() - t0:.1f} s, "
                                          f"{age:.1f} s into task {index} attempt {attempt} of stage {stage}, which had "
                                          f"written {written} bytes of its uncommitted part-{index:05d}",
                                "task": index}
                time.sleep(0.05)
            return {"error": "no shipped ner-tag child seen running with its task's output started"}

        def kill_worker(proc, t0):
            """SIGKILL the worker2 JVM while its executor runs a task, after it finished one"""
            victim = "worker2"
            root = cluster.work_dirs[victim]
            # Wait until the victim's executor has finished (committed) a task of the stage and
            # runs the next one with ner-tag going for 1 s: the finished task's output must stay
            # (once), the running one must be redone on the other worker.
            deadline, pid = time.time() + 180, None
            while time.time() < deadline and pid is None:
                for q in shipped_ner_tags(root):
                    task, age = task_log(q), proc_age(q)
                    if task and task[3] >= 1 and age is not None and age >= 1.0:
                        pid, (index, attempt, stage, done) = q, task
                        break
                time.sleep(0.1)
            if pid is None:
                return {"error": f"no second task seen running on {victim}"}
            wpid = cluster.procs[victim].pid
            # its executor JVM(s): the java processes working in an app dir under its work dir
            execs = [q for q in ours(root) if proc_link(q, "exe").endswith("/java")
                     and proc_link(q, "cwd").startswith(os.path.join(root, "app-"))]
            os.kill(wpid, signal.SIGKILL)
            t_kill, kill_epoch = time.perf_counter(), time.time()
            cluster.procs[victim].wait()
            info = {"killed": f"{victim} JVM pid {wpid} at +{t_kill - t0:.1f} s; its executor had finished {done} "
                              f"task(s) of stage {stage} and its ner-tag pid {pid} was {age:.1f} s into task {index}",
                    "task": index, "kill_epoch": kill_epoch}
            # Its executor JVM (a child of the worker, own work dir under the victim's) has no
            # worker left: it must go away by itself (Spark's WorkerWatcher), and its tasks with it.
            deadline = time.time() + 60
            while time.time() < deadline and any(proc_age(q) is not None for q in execs):
                time.sleep(0.2)
            left = [q for q in execs if proc_age(q) is not None]
            info["victim's executor JVM"] = (f"pid {execs} exited by itself {time.perf_counter() - t_kill:.1f} s after the kill"
                                             if not left else f"pid {left} STILL RUNNING 60 s after the kill")
            if left:
                info["error"] = "the killed worker's executor kept running"
            if not execs:
                info["error"] = f"no executor JVM found under {victim}'s work dir"
            return info

        runs = {"A": ("A (no fault)", None), "B": ("B (ner-tag child SIGKILLed)", kill_child),
                "C": ("C (worker JVM SIGKILLed)", kill_worker)}
        for key in a.runs:
            name, fault = runs[key]
            res = runner.run(key, fault)
            res["title"] = name
            if key == "B" and not any("137" in f["why"] and f["index"] == res["fault"].get("task")
                                      for f in res["fails"]):
                res["problems"].append("no attempt of the killed child's task failed with its exit 137")
            if key == "C":
                victim_execs = {ex for ex, w in res["ev"]["executors"].items() if w == "worker2"}
                if not res["ev"]["removed"] or not any(ex in victim_execs for ex, _, _ in res["ev"]["removed"]):
                    res["problems"].append("the event log shows no executor of worker2 removed")
                if not any(f["index"] == res["fault"].get("task") and f["executor"] in victim_execs
                           for f in res["fails"]):
                    res["problems"].append("no failed attempt of the task that ran on the killed worker")
                last = max(res["ev"]["stages"], default=None)
                if not any(ex in victim_execs for (st, ex) in res["ev"]["ok_on"] if st == last):
                    res["problems"].append("the killed worker had no finished task of the stage (the fault came too early)")
                st = cluster.state()
                if st:
                    print(f"    master after the run: {st.get('aliveworkers')} alive workers of "
                          f"{len(st.get('workers', []))} known")
            results.append(res)
            for pr in res["problems"]:
                print(f"    FAIL: {pr}")
            if res["problems"]:
                failures.append(key)
    finally:
        stray = cluster.stop()
        log(f"cluster stopped; {len(stray)} stray processes of ours killed after it" +
            (f": {stray}" if stray else ""))
        if stray:
            failures.append("stray processes")

    print(f"\n| run | wall s | failed task attempts | result |\n|---|---|---|---|")
    for r in results:
        reasons = collections.Counter(f["reason"] for f in r["fails"])
        fa = ", ".join(f"{n} {k}" for k, n in reasons.items()) or "0"
        print(f"| {r['title']} | {r['wall']:.1f} | {fa} | {'ok' if not r['problems'] else 'FAIL'}: {r['detail']} |")
    print(f"total {time.perf_counter() - t_all:.0f} s (cluster start, one-process reference, {len(results)} runs)")
    if failures:
        print("FAILED:", ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
