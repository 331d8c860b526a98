#!/usr/bin/python3
# Copyright (c) Quiver authors.
"""Real power cuts: the workload runs on a loop-mounted ext4 image and is frozen at
an exact syscall; a copy of the image file is what the power cut leaves.

The loop device writes into the image file, so a copy of the file holds exactly
what reached the "disk"; whatever is still in the ext4 page cache of the mounted
image (written but not fsynced) is missing from the copy, as after a power cut.

  1. Counting run: strace -y lists every fsync, fdatasync and rename(at)(2) the
     workload issues (per syscall name, numbered as strace's inject when= counts).
     It and every cut-point run start from a seeded image: a store left by a
     250-op run that did not close, so SQLite's WAL has been checkpointed and
     restarted and commits overwrite it in place. There an fdatasync commits no
     ext4 journal transaction, unlike the fdatasync of a growing WAL, which
     would make a not-yet-durable rename durable by accident.
  2. One cut after EACH of them: `strace -e inject=NAME:signal=SIGSTOP:when=N`
     stops the workload right after its N-th call of NAME returns; the driver
     copies the image, kills the workload, mounts the copy read-write (ext4
     replays its journal) and runs `quiver_crash_workload check` on it against
     the ack log kept outside the image. Every acked write must be there (I1), no
     acked delete may come back (I2), the op in flight is all-or-nothing (I9),
     Verify is clean (I7) and searches return only live keys; and no checkpoint
     the manifest names may be unusable (I4: the index must load, not rebuild).
     Each cut point is cut twice: once as the call left the image, once after a
     forced ext4 journal commit (what the periodic commit every 5 s would do):
     then metadata such as a rename not yet made durable by a directory fsync
     is on disk, while unsynced delayed-allocation data is not.
  3. Random cuts: the workload runs untraced and is stopped (SIGSTOP) after a
     random delay, then the same copy-and-check. The random cuts are chained:
     each run starts from the previous cut's image (its open recovers from the
     cut, and may itself be cut), and the ack log spans all of them.
  4. Teeth: the same random cut with the workload under eatmydata (fsync is a
     no-op), on a store seeded by a clean run: the checker MUST report lost
     acknowledged writes; if it does not, the harness cannot see a lost write and
     the test fails.

The live image is mounted with commit=300 so that no periodic ext4 journal
commit writes to the image while it is being copied (a copy racing a journal
commit could tear the journal in the copy); fsync still commits at once.

Exit status: 0 pass, 1 a violation or a harness failure, 77 skipped (not root,
loop mounts not permitted, strace/eatmydata/mkfs.ext4 missing).

Knobs (environment):
  QUIVER_POWERCUT_SOAK=1      soak defaults: 80-op cut workload, 200 random cuts, 10 eatmydata runs
  QUIVER_POWERCUT_OPS=N       ops of the cut-point workload (default 30; every fsync/rename is cut)
  QUIVER_POWERCUT_RANDOM=N    random-time cuts (default 24; every other one with a journal commit)
  QUIVER_POWERCUT_EATMYDATA=N eatmydata iterations (default 3)
  QUIVER_POWERCUT_SEED=N      workload seed (default 1); random delays use it too
  QUIVER_POWERCUT_KEEP=1      keep the image of the first failing cut (path printed)
With --sanitized (an ASan/TSan build, set by CMake) the defaults are 14 ops, 8 random
cuts and 2 eatmydata runs.
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

IMAGE_MIB = 128
# Syscalls that make data durable or move files into place; the counting run shows
# which of them the workload (SQLite and Quiver) really calls.
DURABILITY_SYSCALLS = ["fsync", "fdatasync", "rename", "renameat", "renameat2", "sync",
                       "syncfs", "sync_file_range", "msync"]
CUT_SYSCALLS = ["fsync", "fdatasync", "rename", "renameat", "renameat2", "sync_file_range"]
LIVE_MOUNT_OPTIONS = "commit=300"
# Ops of the run that fills the cut-point runs' starting image: enough to push
# SQLite's WAL past its 1000-page auto-checkpoint (about 200 here).
SEED_OPS = 250


def env_int(name, default):
    """The integer in environment variable `name`, or `default` if unset or empty."""
    value = os.environ.get(name)
    return int(value) if value else default


class PowerCuts:
    """Runs cuts against one workload binary inside one Scratch directory."""

    def __init__(self, workload, scratch, seed):
        self.workload = workload
        self.scratch = scratch
        self.seed = seed
        self.pristine = scratch.join("pristine.img")
        self.run_image = scratch.join("run.img")
        self.cut_image = scratch.join("cut.img")
        self.live = scratch.join("live")
        self.check_mount = scratch.join("check")
        self.ack_log = scratch.join("ack.log")
        self.pidfile = scratch.join("workload.pid")
        self.chain_image = scratch.join("chain.img")  # the last chained cut, unrecovered
        self.seeded_image = scratch.join("seeded.img")  # see make_seeded_image
        self.seeded_log = scratch.join("seeded.log")
        self.failures = []
        self.kept_image = None

    def make_pristine_image(self):
        """A fresh ext4 image; lazy init off so that ext4 writes nothing in the
        background after mounting it."""
        with open(self.pristine, "wb") as f:
            f.truncate(IMAGE_MIB << 20)
        h.run(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0",
               self.pristine])

    def workload_args(self, ops, seed, extra=()):
        """The command line of a workload run of `ops` ops on the live image's store."""
        return [self.workload, "run", "--store", os.path.join(self.live, "store"),
                "--log", self.ack_log, "--pidfile", self.pidfile, "--seed", str(seed),
                "--ops", str(ops), "--dims", "16", "--keys", "1500", "--bulk", "300",
                "--batch", "25", "--checkpoint-every", "120", *extra]

    def fresh_live_image(self, start_image=None, start_log=None):
        """Copies `start_image` (default: the pristine image) to the run image and
        mounts it. The ack log becomes a copy of `start_log` if given, is kept
        if only `start_image` is (a chained cut), and is cleared otherwise."""
        h.run(["cp", "--sparse=always", start_image or self.pristine, self.run_image])
        self.scratch.mount_image(self.run_image, self.live, LIVE_MOUNT_OPTIONS)
        for path in (self.pidfile,) if start_image else (self.ack_log, self.pidfile):
            if os.path.exists(path):
                os.remove(path)
        if start_log:
            shutil.copyfile(start_log, self.ack_log)

    def make_seeded_image(self, ops):
        """The starting image of the cut-point runs: a store filled by an untraced
        run that ends without closing (--close 0). Its SQLite WAL is then past
        the 1000-page auto-checkpoint and restarted, so later commits overwrite
        WAL blocks in place, and their fdatasync commits no ext4 journal
        transaction (a growing WAL's does, and that commit would make an earlier
        rename durable by accident, hiding a missing directory fsync)."""
        self.fresh_live_image()
        h.run(self.workload_args(ops, self.seed + 104729) + ["--close", "0"], timeout=600,
              env=h.sanitizer_env())
        self.scratch.unmount(self.live)
        os.rename(self.run_image, self.seeded_image)
        shutil.copyfile(self.ack_log, self.seeded_log)

    def counting_run(self, ops):
        """Runs the workload to completion under strace, listing every
        durability syscall, from the seeded image. Returns (calls, seconds)."""
        self.fresh_live_image(self.seeded_image, self.seeded_log)
        trace = self.scratch.join("count.strace")
        start = time.monotonic()
        h.run(["strace", "-f", "-qq", "-y", "--seccomp-bpf", "-o", trace,
               "-e", "trace=" + ",".join(DURABILITY_SYSCALLS), "--",
               *self.workload_args(ops, self.seed)], timeout=600, env=h.sanitizer_env())
        seconds = time.monotonic() - start
        self.scratch.unmount(self.live)
        calls = h.parse_strace(trace)
        # A clean run must pass the checker, and reopen from its checkpoint.
        violations, output = self.check_image(self.run_image, expect_open="loaded")
        if violations != 0:
            self.fail("the counting run (no cut) does not pass the checker", output)
        return calls, seconds

    def check_image(self, image, expect_open="any"):
        """Mounts `image` read-write (ext4 replays its journal) and checks its store
        against the ack log. Returns (violations, checker output)."""
        try:
            self.scratch.mount_image(image, self.check_mount)
        except RuntimeError as error:
            return 1, f"VIOLATION mount: the image does not mount after the cut: {error}"
        try:
            store = os.path.join(self.check_mount, "store")
            if not os.path.exists(os.path.join(store, "quiver.db")) and not os.path.exists(
                    self.ack_log):
                return 0, "no store and no ack log"
            return h.run_checker(self.workload, store, self.ack_log, expect_open=expect_open)
        finally:
            self.scratch.unmount(self.check_mount)

    def force_journal_commit(self):
        """Commits ext4's running journal transaction on the live image, as its
        periodic commit would: the fsync of a new empty file commits every pending
        metadata change (renames not yet made durable by a directory fsync, file
        creations) but writes back no delayed-allocation data of other files."""
        fd = os.open(os.path.join(self.live, "journal-commit-marker"),
                     os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def cut(self, label, cmd, strace_output=None, delay=None, env=None, seed_ops=0,
            journal_commit=False, expect_open="usable", chain=False, seeded=False,
            min_data_acks=0):
        """One power cut. Starts `cmd` (the workload, maybe under strace or
        eatmydata) on a fresh live image, waits until it is stopped (strace stops
        it at its cut point; otherwise SIGSTOP after `delay` seconds), copies the
        image, kills the workload, and checks the copy. With `seed_ops`, a clean
        untraced run of that many ops first fills the store. With
        `journal_commit`, ext4's journal is committed after the stop and before
        the copy (force_journal_commit). With `chain`, the run starts from the
        previous chained cut's image as the cut left it (not recovered: the
        workload's own open recovers it) and appends to its ack log. With
        `seeded`, it starts from the seeded image (make_seeded_image). With
        `min_data_acks`, the delay starts once the run has acked that many
        upserts and deletes. Returns a dict: stopped (False if the workload ended
        first), violations, output, acked, data_acked (upserts and deletes)."""
        if chain and os.path.exists(self.chain_image):
            self.fresh_live_image(self.chain_image)
        elif seeded or chain:  # a chain starts from the seeded image
            self.fresh_live_image(self.seeded_image, self.seeded_log)
        else:
            self.fresh_live_image()
        if seed_ops:
            h.run(self.workload_args(seed_ops, self.seed + 7919), timeout=300,
                  env=h.sanitizer_env())
            os.remove(self.pidfile)
        acked_before = count_acks(self.ack_log)
        data_acked_before = count_acks(self.ack_log, data_only=True)
        out = open(self.scratch.join("workload.out"), "w")
        child = self.scratch.spawn(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            pid = h.wait_for_pid(self.pidfile, child)
            stopped = False
            if pid is not None:
                deadline = time.monotonic() + 120
                while (count_acks(self.ack_log, data_only=True) - data_acked_before < min_data_acks
                       and child.poll() is None and time.monotonic() < deadline):
                    time.sleep(0.01)
                if delay is not None:
                    time.sleep(delay)
                    if child.poll() is None:
                        os.kill(pid, signal.SIGSTOP)
                stopped = h.wait_until_stopped(pid, child, strace_output=strace_output)
            if journal_commit:
                self.force_journal_commit()
            # The power cut: what reached the loop device, i.e. the image file.
            h.run(["cp", "--sparse=always", self.run_image, self.cut_image])
            if chain:
                h.run(["cp", "--sparse=always", self.cut_image, self.chain_image])
            if pid is not None and child.poll() is None:
                os.kill(pid, signal.SIGKILL)
            child.wait(timeout=60)
        finally:
            out.close()
        self.scratch.unmount(self.live)
        acked = count_acks(self.ack_log) - acked_before
        data_acked = count_acks(self.ack_log, data_only=True) - data_acked_before
        violations, output = self.check_image(self.cut_image, expect_open)
        summary = [l for l in output.splitlines() if l.startswith("check: ") and "violations" in l]
        result = {"stopped": stopped, "violations": violations, "output": output,
                  "acked": acked, "data_acked": data_acked,
                  "summary": summary[-1] if summary else "(no verdict)"}
        if violations != 0 and os.environ.get("QUIVER_POWERCUT_KEEP") == "1" and \
                self.kept_image is None:
            self.kept_image = self.scratch.join(f"kept-{label.replace(' ', '_')}.img")
            os.rename(self.cut_image, self.kept_image)
            keep_dir = f"/tmp/quiver-powercut-kept-{os.getpid()}"
            os.makedirs(keep_dir, exist_ok=True)
            for path in (self.kept_image, self.ack_log):
                subprocess.run(["cp", "--sparse=always", path, keep_dir])
            h.log(f"kept the image and ack log of '{label}' in {keep_dir}")
        elif os.path.exists(self.cut_image):
            os.remove(self.cut_image)
        return result

    def fail(self, what, output=""):
        """Records a failure of the test and prints it with the checker's violations."""
        self.failures.append(what)
        h.log(f"FAILURE: {what}")
        if output:
            h.log(h.violation_lines(output) or output[-3000:])


def count_acks(path, data_only=False):
    """Acknowledged operations in an ack log (0 if there is none yet); with
    `data_only`, only upserts and deletes (not open, close or checkpoint)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return 0
    data_ops = {line.split()[1] for line in lines
                if line.startswith("intent ") and line.split()[2] in ("upsert", "delete")}
    return sum(1 for line in lines if line.startswith("ack ")
               and (not data_only or line.split()[1] in data_ops))


def preflight():
    """Skips the test (exit 77) unless it can really cut power here."""
    if os.geteuid() != 0:
        h.skip("needs root: the power-cut test loop-mounts ext4 images (run as root, or "
               "rely on the in-process power-cut tests of fault_injection_test.cc)")
    h.require_tools("mkfs.ext4", "mount", "umount", "losetup", "eatmydata", "cp")
    h.require_strace()


def probe_loop_mount(scratch):
    """Skips unless this machine lets us loop-mount an ext4 image."""
    image = scratch.join("probe.img")
    with open(image, "wb") as f:
        f.truncate(8 << 20)
    h.run(["mkfs.ext4", "-q", "-F", image])
    try:
        scratch.mount_image(image, scratch.join("probe"))
    except RuntimeError as error:
        h.skip(f"cannot loop-mount an ext4 image here: {error}")
    scratch.unmount(scratch.join("probe"))
    os.remove(image)


def main():
    """Runs the counting run, the cut points, the random cuts and the eatmydata
    cuts; prints the counts; returns the exit status (0 pass, 1 fail)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", required=True, help="the quiver_crash_workload binary")
    parser.add_argument("--sanitized", action="store_true",
                        help="the binaries are built with a sanitizer: smaller defaults")
    args = parser.parse_args()
    preflight()

    soak = os.environ.get("QUIVER_POWERCUT_SOAK") == "1"
    small = args.sanitized and not soak
    ops = env_int("QUIVER_POWERCUT_OPS", 80 if soak else 14 if small else 30)
    random_cuts = env_int("QUIVER_POWERCUT_RANDOM", 200 if soak else 8 if small else 24)
    eatmydata_runs = env_int("QUIVER_POWERCUT_EATMYDATA", 10 if soak else 2 if small else 3)
    seed = env_int("QUIVER_POWERCUT_SEED", 1)
    rng = random.Random(seed)
    started = time.monotonic()

    with h.Scratch("powercut") as scratch:
        probe_loop_mount(scratch)
        cuts = PowerCuts(args.workload, scratch, seed)
        cuts.make_pristine_image()
        cuts.make_seeded_image(SEED_OPS)

        # 1. Which durability syscalls does a run make, and how many?
        calls, count_seconds = cuts.counting_run(ops)
        tids = {c["pid"] for c in calls}
        if len(tids) > 1:
            cuts.fail(f"durability syscalls came from {len(tids)} threads; strace's when= "
                      "counts per thread, so cut points would be ambiguous")
        by_name = {}
        for c in calls:
            by_name.setdefault(c["name"], []).append(c)
        h.log(f"counting run: {ops} ops in {count_seconds:.1f} s under strace; " + ", ".join(
            f"{name} x{len(cs)}" for name, cs in sorted(by_name.items())))
        for c in calls:
            h.log(f"  {c['name']} #{c['n']}: {c['line'][:150]}")
        if not any(c["name"] in CUT_SYSCALLS for c in calls):
            cuts.fail("the counting run made no fsync/fdatasync/rename call at all")

        # 2. A cut after every durability call, each twice: as the call left the
        # image, and after a journal commit (metadata durable, unsynced data not).
        cut_points = [c for c in calls if c["name"] in CUT_SYSCALLS]
        point_violations = 0
        kinds = {}
        for c in cut_points:
            path = h.call_path(c)
            kind = "checkpoint" if "/indexes/" in path else "commit"
            kinds[kind] = kinds.get(kind, 0) + 1
            for journal_commit in (False, True):
                label = (f"{c['name']} #{c['n']} ({os.path.basename(path) or path}, {kind})"
                         + (" + journal commit" if journal_commit else ""))
                trace = scratch.join("cut.strace")
                # No --seccomp-bpf here: with it, strace 6.1 drops the injected signal.
                cmd = ["strace", "-f", "-qq", "-y", "-o", trace, "-e", f"trace={c['name']}",
                       "-e", f"inject={c['name']}:signal=SIGSTOP:when={c['n']}", "--",
                       *cuts.workload_args(ops, seed)]
                result = cuts.cut(label, cmd, strace_output=trace, env=h.sanitizer_env(),
                                  journal_commit=journal_commit, seeded=True)
                if not result["stopped"]:
                    cuts.fail(f"cut after {label}: the workload finished without reaching it "
                              "(the run is not deterministic)")
                    continue
                landed = [x for x in h.parse_strace(trace) if x["name"] == c["name"]]
                if not landed or landed[-1]["n"] != c["n"] or h.call_path(landed[-1]) != path:
                    cuts.fail(f"cut after {label}: strace stopped the workload at "
                              f"{landed[-1]['line'] if landed else 'no call'}, not at the call "
                              "the counting run numbered")
                h.log(f"cut after {label}: {result['acked']} ops acked, "
                      f"{result['violations']} violations")
                if result["violations"] != 0:
                    point_violations += result["violations"]
                    cuts.fail(f"cut after {label}: {result['violations']} violations",
                              result["output"])

        # 3. Random-time cuts, untraced, chained: each run starts from the previous
        # cut's image as the cut left it, so the workload's open recovers from a
        # power cut (and may itself be cut). A control run measures a run's length.
        random_ops = 300
        cuts.fresh_live_image()
        start = time.monotonic()
        h.run(cuts.workload_args(random_ops, seed), timeout=600, env=h.sanitizer_env())
        run_seconds = time.monotonic() - start
        cuts.scratch.unmount(cuts.live)
        random_violations = 0
        finished_early = 0
        for i in range(random_cuts):
            delay = rng.uniform(0.0, run_seconds)
            run_seed = seed + 1 + i
            journal_commit = i % 2 == 1
            result = cuts.cut(f"random {i}", cuts.workload_args(random_ops, run_seed),
                              delay=delay, env=h.sanitizer_env(), journal_commit=journal_commit,
                              chain=True)
            finished_early += not result["stopped"]
            if not result["stopped"]:
                run_seconds = max(0.05, 0.8 * delay)  # runs got faster: cut earlier
            h.log(f"random cut {i}: SIGSTOP after {delay * 1000:.0f} ms of a "
                  f"{run_seconds * 1000:.0f} ms run (seed {run_seed}"
                  + (", then a journal commit" if journal_commit else "") + "): "
                  f"{result['acked']} ops acked in this run"
                  + ("" if result["stopped"] else " (the run had ended)")
                  + f"; {result['summary']}")
            if result["violations"] != 0:
                random_violations += result["violations"]
                cuts.fail(f"random cut {i} (seed {run_seed}, {delay:.3f} s): "
                          f"{result['violations']} violations", result["output"])

        # 4. Teeth: without fsync, a power cut must lose acknowledged writes and the
        # checker must say so. The cut comes once the run has acked 20 upserts and
        # deletes, plus a random delay (well inside ext4's 30 s writeback delay).
        teeth = []
        for i in range(eatmydata_runs):
            delay = rng.uniform(0.0, 0.5)
            cmd = ["eatmydata", *cuts.workload_args(100000, seed + 5000 + i)]
            result = cuts.cut(f"eatmydata {i}", cmd, delay=delay, env=h.sanitizer_env(),
                              seed_ops=12, expect_open="any", min_data_acks=20)
            teeth.append(result["violations"])
            first = h.violation_lines(result["output"], limit=3)
            h.log(f"eatmydata cut {i}: SIGSTOP {delay * 1000:.0f} ms after the 20th data ack: "
                  f"{result['data_acked']} upserts and deletes acked after the seed run, "
                  f"{result['violations']} violations found (expected > 0)\n{first}")
            if not result["stopped"] or result["data_acked"] < 20:
                cuts.fail(f"eatmydata cut {i}: the workload acked {result['data_acked']} upserts "
                          "and deletes before the cut, expected at least 20 (nothing to lose)")
            elif result["violations"] <= 0:
                cuts.fail(f"eatmydata cut {i}: no violation although fsync was disabled and "
                          f"{result['data_acked']} writes were acked: the harness cannot see lost "
                          "writes (is the ack log really ahead of the image?)",
                          result["output"])

        elapsed = time.monotonic() - started
        h.log(
            f"[ power cut ] {len(cut_points)} cut points ("
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            + f"), each cut twice (plain, + journal commit), with {point_violations} "
            f"violations; {random_cuts} random cuts "
            f"({finished_early} after the run ended) with {random_violations} violations; "
            f"{eatmydata_runs} eatmydata cuts found {teeth} violations (each must be > 0); "
            f"{elapsed:.0f} s")
        if cuts.failures:
            h.log(f"FAILED: {len(cuts.failures)} problems:\n  " + "\n  ".join(cuts.failures))
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
