#!/usr/bin/python3
# Copyright (c) Quiver authors.
"""Syscall-level faults on the real binaries, injected by strace, and short writes.

A counting run under `strace -y` numbers every fsync, fdatasync, write, pwrite64,
rename(at)(2), openat and unlink(at) call (as strace's inject when= counts them:
per syscall name and per thread) and marks the calls made inside each index
checkpoint: from the openat that creates "<g>.usearch.tmp" to the log line
"checkpoint generation <g> written" (so the manifest and change-log commits of
SQLite are included). Then, one run per (call, errno):

  faults     `strace -e inject=NAME:error=EIO|ENOSPC:when=N` on the workload
             (quiver_crash_workload run), on `quiver import` (its checkpoint on
             close) and on `quiver rebuild`; and, outside checkpoints, in the
             SQLite commits of the workload's upserts and deletes (fdatasync,
             pwrite64 of the WAL). Afterwards, WITHOUT injection, the
             store must open, pass Verify and hold every acknowledged record
             (`quiver_crash_workload check`, which also writes a probe record);
             operations that returned an error are indeterminate.
  short      LD_PRELOAD=libquiver_short_write_shim.so makes every write to a file
             short (at most 1000 bytes, or half the request): every op must still
             succeed, and the store must reopen from its checkpoint (the open log
             says "loaded", not "rebuilt").
  lie        `strace -e inject=write:retval=COUNT:when=N` makes one checkpoint
             write report success without writing anything. The checkpoint must
             notice at once (the file is shorter than its writes reported) and
             fail, so the process reports an error, and it must never name the
             short file: the next open finds no unusable checkpoint (it loads the
             previous one, or builds from SQLite if there was none).

Each injection must really fire (strace marks the call "(INJECTED)") on the call
the counting run numbered, or the run is not deterministic and the test fails.

Exit status: 0 pass, 1 a violation or a harness failure, 77 skipped (strace
missing or ptrace not permitted). Root is not needed.

Knobs (environment):
  QUIVER_FAULTS_SOAK=1        every checkpoint of a longer (30-op) run, and of the CLI runs
  QUIVER_FAULTS_OPS=N         ops of the workload (default 14)
  QUIVER_FAULTS_CHECKPOINTS=N workload checkpoints whose calls are all faulted
                              (default 3: the first two and the last; 0 = all)
  QUIVER_FAULTS_SEED=N        workload seed (default 3)
With --sanitized (an ASan/TSan build, set by CMake) two checkpoints are faulted (the
first and the last) and every 16th commit pwrite64.
"""

import argparse
import os
import re
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

TRACED = ["fsync", "fdatasync", "write", "pwrite64", "rename", "renameat", "renameat2",
          "openat", "unlink", "unlinkat"]
ERRNOS = {"fsync": ["EIO", "ENOSPC"], "fdatasync": ["EIO", "ENOSPC"], "write": ["EIO", "ENOSPC"],
          "pwrite64": ["EIO", "ENOSPC"], "rename": ["EIO", "ENOSPC"],
          "renameat": ["EIO", "ENOSPC"], "renameat2": ["EIO", "ENOSPC"],
          "openat": ["EIO", "ENOSPC"], "unlink": ["EIO"], "unlinkat": ["EIO"]}
DIMS = 16


def env_int(name, default):
    """The integer in environment variable `name`, or `default` if unset or empty."""
    value = os.environ.get(name)
    return int(value) if value else default


def checkpoint_regions(calls, store):
    """Splits a counting run's calls into checkpoints: lists of the calls on files
    under `store` from the creation of a "*.usearch.tmp" to the log line
    "checkpoint generation ... written". Returns a list of (generation, calls)."""
    regions = []
    current = None
    for call in calls:
        if call["name"] == "openat" and h.call_path(call).endswith(".usearch.tmp") and \
                "O_CREAT" in call["args"]:
            generation = os.path.basename(h.call_path(call)).split(".")[0]
            current = (generation, [])
        if current is None:
            continue
        if call["name"] == "write" and "checkpoint generation" in call["args"]:
            regions.append(current)
            current = None
            continue
        if h.call_path(call).startswith(store + "/") or h.call_path(call) == store:
            current[1].append(call)
    return regions


class Faults:
    """State shared by the scenarios: binaries, scratch space, counters, failures."""

    def __init__(self, args, scratch):
        self.workload = args.workload
        self.quiver = args.quiver
        self.shim = args.shim
        self.scratch = scratch
        self.failures = []
        self.counts = {}  # scenario -> injected faults
        self.op_errors = 0  # operations that returned an error under injection

    def fail(self, what, output=""):
        """Records a failure of the test and prints it with the checker's violations."""
        self.failures.append(what)
        h.log(f"FAILURE: {what}")
        if output:
            h.log(h.violation_lines(output) or output[-3000:])

    def fresh(self, name):
        """An empty directory in the scratch space (removed first if it exists)."""
        path = self.scratch.join(name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def count_trace(self, cmd, name, env=None):
        """Runs `cmd` to completion under strace -y; returns (calls, result)."""
        trace = self.scratch.join(f"{name}.strace")
        result = h.run(["strace", "-f", "-qq", "-y", "-s", "160", "-o", trace,
                        "-e", "trace=" + ",".join(TRACED), "--", *cmd],
                       timeout=600, check=False, env=env or h.sanitizer_env())
        return h.number_per_path(h.parse_strace(trace)), result

    def inject(self, cmd, call, spec, label, env=None):
        """Runs `cmd` under `strace -P FILE -e inject=NAME:SPEC:when=k` for the
        counting run's `call` (the k-th call of NAME on FILE, see
        harness.number_per_path). Returns the process result, or None (after
        recording a failure) if the injection did not fire on that same call."""
        trace = self.scratch.join("inject.strace")
        name, k, path = call["name"], call["k"], h.call_path(call)
        result = h.run(["strace", "-f", "-qq", "-y", "-s", "160", "-o", trace, "-P", path,
                        "-e", f"trace={name}", "-e", f"inject={name}:{spec}:when={k}", "--",
                        *cmd], timeout=600, check=False, env=env or h.sanitizer_env())
        injected = [c for c in h.parse_strace(trace) if "(INJECTED)" in c["ret"]]
        if len(injected) != 1 or injected[0]["n"] != k or h.call_path(injected[0]) != path:
            self.fail(f"{label}: the injection fired on "
                      f"{[c['line'][:120] for c in injected] or 'no call'}, expected "
                      f"{name} #{k} on {path} (the run is not deterministic)")
            return None
        if spec.startswith("retval=") and int(spec[7:]) > requested_bytes(injected[0]):
            # A kernel never reports more than was asked; such a "lie" tests nothing real.
            self.fail(f"{label}: the lie ({spec}) exceeds the {requested_bytes(injected[0])} "
                      "bytes that call asked to write (the run is not deterministic)")
            return None
        if result.returncode < 0 or result.returncode > 3:
            self.fail(f"{label}: the process crashed or misbehaved (exit {result.returncode})",
                      result.stdout + result.stderr)
        return result

    def check(self, store, ack_log, label, expect_open="usable", env=None):
        """Runs the checker (no injection); records a failure on any violation.
        `expect_open` is the checker's --expect-open: by default no checkpoint
        the manifest names may be unusable. Returns the checker's output."""
        violations, output = h.run_checker(self.workload, store, ack_log, expect_open, env=env)
        if violations != 0:
            self.fail(f"{label}: {violations} violations after recovery", output)
        return output


def describe(call):
    """E.g. "fdatasync #2 on quiver.db-wal": the call as inject's -P/when= picks it."""
    return f"{call['name']} #{call['k']} on {os.path.basename(h.call_path(call))}"


def requested_bytes(call):
    """The byte count a write(2) call asked for: its last argument."""
    return int(call["args"].rsplit(",", 1)[1])


def op_errors(ack_log):
    """Lines "error <op> <status>" of an ack log."""
    with open(ack_log) as f:
        return [line.strip() for line in f if line.startswith("error ")]


# --- The workload -----------------------------------------------------------------------------

def workload_cmd(f, store, ack_log, ops, seed):
    """The command line of a workload run (the same parameters for every scenario)."""
    return [f.workload, "run", "--store", store, "--log", ack_log, "--seed", str(seed),
            "--ops", str(ops), "--dims", str(DIMS), "--keys", "1500", "--bulk", "300",
            "--batch", "25", "--checkpoint-every", "120"]


def select_regions(regions, wanted):
    """The first wanted-1 checkpoints and the last one (all if wanted is 0)."""
    if wanted <= 0 or wanted >= len(regions):
        return list(range(len(regions)))
    return sorted(set(list(range(wanted - 1)) + [len(regions) - 1]))


def workload_faults(f, ops, seed, wanted_regions):
    """EIO/ENOSPC at each call of the selected checkpoints of the workload. Every
    run uses the same paths as the counting run, so that calls compare by path."""
    run_dir = f.fresh("run")
    store, ack_log = run_dir + "/store", run_dir + "/ack.log"
    calls, result = f.count_trace(workload_cmd(f, store, ack_log, ops, seed), "workload")
    if result.returncode != 0:
        f.fail(f"workload counting run exited {result.returncode}", result.stderr[-2000:])
        return [], []
    regions = checkpoint_regions(calls, store)
    h.log(f"workload counting run: {ops} ops, {len(regions)} checkpoints; calls per checkpoint: "
          + ", ".join(f"gen {g}: {len(cs)}" for g, cs in regions))
    if not regions:
        f.fail("the workload counting run made no checkpoint")
        return calls, regions
    chosen = select_regions(regions, wanted_regions)
    injected = 0
    for index in chosen:
        generation, region_calls = regions[index]
        for call in region_calls:
            for errno in ERRNOS[call["name"]]:
                label = f"workload checkpoint {generation}: {describe(call)} -> {errno}"
                injected += inject_workload_error(f, ops, seed, call, errno, label)
    f.counts["workload EIO/ENOSPC"] = injected
    return calls, regions


def inject_workload_error(f, ops, seed, call, errno, label):
    """Runs the workload on a fresh store with `errno` injected at `call`,
    checks the result against its log, and logs a line. Returns 1 if the
    injection fired, else 0 (f.inject has recorded why)."""
    run_dir = f.fresh("run")
    store, ack_log = run_dir + "/store", run_dir + "/ack.log"
    result = f.inject(workload_cmd(f, store, ack_log, ops, seed), call, f"error={errno}", label)
    if result is None:
        return 0
    errors = op_errors(ack_log)
    f.op_errors += len(errors)
    output = f.check(store, ack_log, label)
    h.log(f"{label}: exit {result.returncode}, {len(errors)} ops failed"
          + (f" (first: {errors[0][:110]})" if errors else "") + "; "
          + output.strip().splitlines()[-1])
    return 1


def commit_faults(f, ops, seed, calls, regions, soak, stride):
    """EIO/ENOSPC in the SQLite commits of upserts and deletes (outside
    checkpoints): every fdatasync of the database's files, and every
    `stride`-th pwrite64 (all with QUIVER_FAULTS_SOAK=1). The failed op is
    indeterminate; the ops after it must keep working and be durable."""
    in_checkpoint = {(c["name"], c["n"]) for _, cs in regions for c in cs}
    run_dir = f.scratch.join("run")
    candidates = [c for c in calls if c["name"] in ("fdatasync", "pwrite64")
                  and (c["name"], c["n"]) not in in_checkpoint
                  and h.call_path(c).startswith(run_dir + "/store/quiver.db")]
    writes = [c for c in candidates if c["name"] == "pwrite64"]
    chosen = [c for c in candidates if c["name"] == "fdatasync"] + (
        writes if soak else writes[::stride])
    injected = 0
    for call in chosen:
        for errno in ("EIO", "ENOSPC") if soak or call["name"] == "fdatasync" else ("EIO",):
            label = f"workload commit: {describe(call)} -> {errno}"
            injected += inject_workload_error(f, ops, seed, call, errno, label)
    f.counts["workload commit EIO/ENOSPC"] = injected


def short_writes(f, ops, seed):
    """The workload under the short-write shim, in both modes."""
    runs = 0
    for mode in ("1000", "half"):
        env = h.sanitizer_env()
        env["LD_PRELOAD"] = f.shim
        env["QUIVER_SHORT_WRITE"] = mode
        run_dir = f.fresh("short")
        store, ack_log = run_dir + "/store", run_dir + "/ack.log"
        result = h.run(workload_cmd(f, store, ack_log, ops, seed), check=False, env=env,
                       timeout=600)
        label = f"short writes ({mode})"
        shim = re.search(r"short-write shim: shortened (\d+) of (\d+)", result.stderr)
        if result.returncode != 0:
            f.fail(f"{label}: the workload failed (exit {result.returncode}); a short write must "
                   "be retried, not reported",
                   "\n".join(op_errors(ack_log)) + result.stderr[-2000:])
        if not shim or int(shim.group(1)) == 0:
            f.fail(f"{label}: the shim shortened no write (was it preloaded?)",
                   result.stderr[-500:])
        checkpoints = result.stderr.count("checkpoint generation")
        if checkpoints == 0:
            f.fail(f"{label}: the workload wrote no checkpoint")
        # Reopen under the shim too: the checkpoint must be loaded, not rebuilt.
        output = f.check(store, ack_log, label, expect_open="loaded", env=env)
        runs += 1
        h.log(f"{label}: {shim.group(0) if shim else 'shim silent'}; {checkpoints} checkpoints "
              f"written; {output.strip().splitlines()[-1]}")
    f.counts["short-write runs"] = runs


def lying_writes(f, ops, seed, regions):
    """write() to a checkpoint file reports success but writes nothing."""
    lies = 0
    for generation, region_calls in regions:
        for call in region_calls:
            if call["name"] != "write" or not h.call_path(call).endswith(".usearch.tmp"):
                continue
            count = requested_bytes(call)
            label = f"lying write: checkpoint {generation} write #{call['k']} ({count} bytes)"
            run_dir = f.fresh("run")
            store, ack_log = run_dir + "/store", run_dir + "/ack.log"
            result = f.inject(workload_cmd(f, store, ack_log, ops, seed), call,
                              f"retval={count}", label)
            if result is None:
                continue
            lies += 1
            if result.returncode == 0:
                f.fail(f"{label}: the checkpoint accepted a file its writes lied about "
                       "(the workload reported no failed operation)")
            output = f.check(store, ack_log, label, expect_open="usable")
            h.log(f"{label}: exit {result.returncode}; expected open: usable; "
                  + output.strip().splitlines()[-1])
    f.counts["lying writes"] = lies


# --- The CLI ----------------------------------------------------------------------------------

IMPORT_RECORDS = 1200
IMPORT_BATCH = 300


def import_cmd(f, data, jsonl):
    """`quiver import` of the JSONL file into collection docs of the store `data`,
    with --log-level info so that the checkpoint's log line marks its end."""
    return [f.quiver, "--log-level", "info", "import", "--data", data, "--collection", "docs",
            "--create", "--metric", "l2sq", "--batch-size", str(IMPORT_BATCH), jsonl]


def write_import_log(path, outcome):
    """An ack log for the checker describing one `quiver import` of keys
    0..IMPORT_RECORDS-1 at version 1: batches up to `acked` acknowledged, the
    batch `acked` indeterminate if `partial`, the rest never attempted."""
    acked, indeterminate = outcome
    batches = IMPORT_RECORDS // IMPORT_BATCH
    with open(path, "w") as log:
        log.write(f"start pid=0 seed=0 dims={DIMS} keys={IMPORT_RECORDS}\n")
        for b in range(batches):
            if b >= acked + indeterminate:
                break
            keys = " ".join(str(k) for k in range(b * IMPORT_BATCH, (b + 1) * IMPORT_BATCH))
            log.write(f"intent {b + 1} upsert 1 {keys}\n")
            if b < acked:
                log.write(f"ack {b + 1}\n")


def import_outcome(result):
    """(acked batches, indeterminate batches) from `quiver import`'s exit status
    and messages (see cli/import_command.cc)."""
    batches = IMPORT_RECORDS // IMPORT_BATCH
    if result.returncode == 0:
        return batches, 0
    committed = re.search(r"(\d+) records? committed into docs before the failure", result.stderr)
    if committed:
        acked = int(committed.group(1)) // IMPORT_BATCH
        return acked, 1 if acked < batches else 0
    if "closing the store (the acknowledged writes are durable)" in result.stderr:
        return batches, 0  # every batch committed; the checkpoint on close failed
    return 0, batches  # failed before or while opening: nothing acknowledged for sure


def cli_faults(f, soak):
    """EIO/ENOSPC in the checkpoint `quiver import` writes on close and in `quiver
    rebuild`; the short-write shim and a lying write under `quiver import`."""
    jsonl = f.scratch.join("records.jsonl")
    h.run([f.workload, "jsonl", "--out", jsonl, "--first-key", "0", "--count",
           str(IMPORT_RECORDS), "--version", "1", "--dims", str(DIMS)])
    data = f.fresh("cli") + "/store"
    calls, result = f.count_trace(import_cmd(f, data, jsonl), "import")
    if result.returncode != 0:
        f.fail(f"quiver import counting run exited {result.returncode}", result.stderr)
        return
    import_regions = checkpoint_regions(calls, data)
    if not import_regions:
        f.fail("quiver import wrote no checkpoint on close")
        return
    h.log(f"quiver import counting run: {len(import_regions)} checkpoints, "
          f"{sum(len(cs) for _, cs in import_regions)} calls in them")
    template = f.scratch.join("cli-template")
    shutil.rmtree(template, ignore_errors=True)
    shutil.copytree(data, template)  # a store that holds the import, closed cleanly

    injected = 0
    for generation, region_calls in import_regions:
        for call in region_calls:
            for errno in (ERRNOS[call["name"]] if soak else ERRNOS[call["name"]][:1]):
                label = (f"quiver import, checkpoint {generation}: {describe(call)} -> {errno}")
                data = f.fresh("cli") + "/store"
                result = f.inject(import_cmd(f, data, jsonl), call, f"error={errno}", label)
                if result is None:
                    continue
                injected += 1
                outcome = import_outcome(result)
                ack_log = f.scratch.join("cli.log")
                write_import_log(ack_log, outcome)
                verify = h.run([f.quiver, "verify", "--data", data], check=False)
                if verify.returncode != 0:
                    f.fail(f"{label}: `quiver verify` exited {verify.returncode} after recovery",
                           verify.stdout + verify.stderr)
                output = f.check(data, ack_log, label)
                h.log(f"{label}: exit {result.returncode}, batches acked/indeterminate {outcome}; "
                      + output.strip().splitlines()[-1])

    # quiver rebuild: its checkpoint is the swap; a fault must leave the old index in charge.
    def rebuild_cmd(data):
        """`quiver rebuild` of docs in `data` with another connectivity (a new index)."""
        return [f.quiver, "--log-level", "info", "rebuild", "--data", data, "--collection", "docs",
                "--connectivity", "8"]

    count_dir = f.scratch.join("rebuild")
    shutil.rmtree(count_dir, ignore_errors=True)
    shutil.copytree(template, count_dir)
    calls, result = f.count_trace(rebuild_cmd(count_dir), "rebuild")
    regions = checkpoint_regions(calls, count_dir) if result.returncode == 0 else []
    if not regions:
        f.fail(f"quiver rebuild counting run: exit {result.returncode}, no checkpoint",
               result.stderr)
    ack_log = f.scratch.join("cli.log")
    write_import_log(ack_log, (IMPORT_RECORDS // IMPORT_BATCH, 0))
    for generation, region_calls in regions:
        for call in region_calls:
            for errno in (ERRNOS[call["name"]] if soak else ERRNOS[call["name"]][:1]):
                label = (f"quiver rebuild, checkpoint {generation}: {describe(call)} -> {errno}")
                data = f.scratch.join("rebuild")
                shutil.rmtree(data, ignore_errors=True)
                shutil.copytree(template, data)
                result = f.inject(rebuild_cmd(data), call, f"error={errno}", label)
                if result is None:
                    continue
                injected += 1
                output = f.check(data, ack_log, label)
                h.log(f"{label}: exit {result.returncode}; " + output.strip().splitlines()[-1])
    f.counts["quiver import/rebuild EIO/ENOSPC"] = injected

    # quiver import under the short-write shim, then a reopen that loads its checkpoint.
    env = h.sanitizer_env()
    env["LD_PRELOAD"] = f.shim
    env["QUIVER_SHORT_WRITE"] = "1000"
    data = f.fresh("cli-short") + "/store"
    result = h.run(import_cmd(f, data, jsonl), check=False, env=env)
    shim = re.search(r"short-write shim: shortened (\d+) of (\d+)", result.stderr)
    if result.returncode != 0 or not shim or int(shim.group(1)) == 0:
        f.fail(f"quiver import under the short-write shim: exit {result.returncode}, "
               f"{shim.group(0) if shim else 'shim silent'}", result.stderr[-2000:])
    ack_log = f.scratch.join("cli.log")
    write_import_log(ack_log, (IMPORT_RECORDS // IMPORT_BATCH, 0))
    output = f.check(data, ack_log, "quiver import with short writes", expect_open="loaded")
    h.log(f"quiver import with short writes: {shim.group(0) if shim else 'shim silent'}; "
          + output.strip().splitlines()[-1])

    # quiver import whose checkpoint write lies: the checkpoint at close must fail
    # (import exits non-zero) and never name the short file.
    # Its insert threads make the payload's size vary from run to run, so the
    # payload write lies about 1 byte (less than any request); the 64-byte
    # footer write lies about all of it.
    lie_calls = [c for _, cs in import_regions for c in cs
                 if c["name"] == "write" and h.call_path(c).endswith(".usearch.tmp")]
    for call in lie_calls:
        count = requested_bytes(call)
        lie = count if count == 64 else 1
        label = f"quiver import, lying write #{call['k']} (claims {lie} of {count} bytes)"
        data = f.fresh("cli") + "/store"
        result = f.inject(import_cmd(f, data, jsonl), call, f"retval={lie}", label)
        if result is None:
            continue
        f.counts["lying writes"] = f.counts.get("lying writes", 0) + 1
        write_import_log(ack_log, import_outcome(result))
        if result.returncode == 0:
            f.fail(f"{label}: quiver import accepted a checkpoint its writes lied about")
        output = f.check(data, ack_log, label, expect_open="usable")
        h.log(f"{label}: exit {result.returncode}; " + output.strip().splitlines()[-1])


def main():
    """Runs every scenario; prints the counts; returns the exit status (0 pass, 1 fail)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", required=True, help="the quiver_crash_workload binary")
    parser.add_argument("--quiver", default="", help="the quiver binary (CLI scenarios)")
    parser.add_argument("--shim", required=True, help="libquiver_short_write_shim.so")
    parser.add_argument("--sanitized", action="store_true",
                        help="the binaries are built with a sanitizer: smaller defaults")
    args = parser.parse_args()
    h.require_strace()

    soak = os.environ.get("QUIVER_FAULTS_SOAK") == "1"
    small = args.sanitized and not soak
    ops = env_int("QUIVER_FAULTS_OPS", 30 if soak else 14)
    wanted_regions = env_int("QUIVER_FAULTS_CHECKPOINTS", 0 if soak else 2 if small else 3)
    seed = env_int("QUIVER_FAULTS_SEED", 3)
    started = time.monotonic()
    with h.Scratch("faults") as scratch:
        f = Faults(args, scratch)
        calls, regions = workload_faults(f, ops, seed, wanted_regions)
        commit_faults(f, ops, seed, calls, regions, soak, stride=16 if small else 8)
        short_writes(f, ops, seed)
        lying_writes(f, ops, seed, regions)
        if args.quiver:
            cli_faults(f, soak)
        else:
            h.log("the quiver binary was not built: CLI scenarios not run")
        elapsed = time.monotonic() - started
        h.log(f"[ syscall faults ] " + ", ".join(f"{k}: {v}" for k, v in f.counts.items())
              + f"; {f.op_errors} workload ops returned an error (indeterminate); "
              f"{len(f.failures)} failures; {elapsed:.0f} s")
        if f.failures:
            h.log(f"FAILED: {len(f.failures)} problems:\n  " + "\n  ".join(f.failures))
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
