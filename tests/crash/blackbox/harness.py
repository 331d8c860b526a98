# Copyright (c) Quiver authors.
"""Shared parts of the black-box crash drivers (power_cut_test.py, syscall_fault_test.py).

- skip(): exit 77, which CTest reports as "skipped" (SKIP_RETURN_CODE), with a message.
- Scratch: a private scratch directory that is always cleaned up: loop mounts
  unmounted (their loop devices detached), child processes killed, files removed,
  on normal exit, on an exception, and on SIGTERM/SIGINT/SIGHUP (CTest's timeout).
- Strace helpers: parse `strace -f -y -o FILE` output into numbered calls per syscall,
  as strace's `inject=...:when=N` counts them (per syscall name and per thread).
- The workload's checker: run it, parse its verdict.
"""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77

# strace line: "1234  fdatasync(5</mnt/store/quiver.db-wal>) = 0"; with -f and -o the pid
# comes first. "<... resumed>" lines do not occur with one traced thread.
_STRACE_LINE = re.compile(
    r"^(?:(?P<pid>\d+)\s+)?(?P<name>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>.*)$")
# Syscalls whose file is a path argument rather than an fd.
_PATH_ARG_SYSCALLS = {"open", "openat", "rename", "renameat", "renameat2", "unlink", "unlinkat",
                      "mkdir", "mkdirat"}


def log(message):
    """Prints a progress line at once (CTest shows it on failure or with -V)."""
    print(message, flush=True)


def skip(message):
    """Reports why the test cannot run here and exits 77 (CTest: skipped)."""
    print(f"SKIPPED: {message}", flush=True)
    sys.exit(SKIP)


def require_tools(*names):
    """Skips the test unless every program in `names` is on PATH."""
    for name in names:
        if shutil.which(name) is None:
            skip(f"`{name}` is not installed (scripts/setup.sh installs it)")


def require_strace():
    """Skips unless strace is installed and may trace a child (ptrace permitted)."""
    require_tools("strace")
    probe = subprocess.run(["strace", "-f", "-qq", "-o", "/dev/null", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        skip(f"strace cannot trace a child here (ptrace not permitted?): {probe.stderr.strip()}")


def run(cmd, timeout=120, check=True, **kwargs):
    """Runs `cmd` (a list), capturing output as text. Raises on a non-zero exit
    when `check`, with the command's output in the message."""
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n"
                           f"{result.stdout}{result.stderr}")
    return result


class Scratch:
    """A scratch directory (on tmpfs when available) that owns every mount and
    child process the driver makes. Use as a context manager; cleanup also runs
    on SIGTERM/SIGINT/SIGHUP. `name` prefixes the directory, e.g. "powercut"."""

    def __init__(self, name):
        base = os.environ.get("QUIVER_CRASH_SCRATCH") or (
            "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp")
        self.prefix = os.path.join(base, f"quiver-{name}-")
        self.path = f"{self.prefix}{os.getpid()}"
        self.mounts = []  # mount points, innermost last
        self.children = []  # Popen objects
        self._remove_stale()
        os.makedirs(self.path)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _remove_stale(self):
        """Unmounts and removes scratch directories of earlier runs of this driver
        whose process is gone (a run killed with SIGKILL cannot clean up)."""
        parent = os.path.dirname(self.prefix)
        stem = os.path.basename(self.prefix)
        for entry in os.listdir(parent):
            if not entry.startswith(stem):
                continue
            pid = entry[len(stem):]
            if not pid.isdigit() or os.path.exists(f"/proc/{pid}"):
                continue
            stale = os.path.join(parent, entry)
            for mount_point in self._mount_points_under(stale):
                subprocess.run(["umount", "-l", mount_point], capture_output=True)
            shutil.rmtree(stale, ignore_errors=True)
            log(f"removed the stale scratch directory {stale}")

    @staticmethod
    def _mount_points_under(path):
        with open("/proc/self/mounts") as mounts:
            points = [line.split()[1] for line in mounts]
        return sorted((p for p in points if p == path or p.startswith(path + "/")),
                      key=len, reverse=True)

    def join(self, *names):
        """A path inside the scratch directory."""
        return os.path.join(self.path, *names)

    def mount_image(self, image, mount_point, options=""):
        """Loop-mounts the ext4 `image` read-write at `mount_point` (created if
        needed). The loop device is detached automatically when unmounted."""
        os.makedirs(mount_point, exist_ok=True)
        opts = "loop" + ("," + options if options else "")
        run(["mount", "-t", "ext4", "-o", opts, image, mount_point], timeout=60)
        self.mounts.append(mount_point)

    def unmount(self, mount_point):
        """Unmounts `mount_point` (lazily if it is busy) and forgets it."""
        if mount_point in self.mounts:
            self.mounts.remove(mount_point)
        result = subprocess.run(["umount", mount_point], capture_output=True, text=True)
        if result.returncode != 0:
            subprocess.run(["umount", "-l", mount_point], capture_output=True)

    def spawn(self, cmd, **kwargs):
        """Starts `cmd` as a child process that cleanup() kills if still running,
        and that the kernel kills if this driver dies first, even by SIGKILL (a
        stopped workload must not outlive it; strace kills its tracee when it dies)."""
        child = subprocess.Popen(cmd, preexec_fn=_die_with_parent, **kwargs)
        self.children.append(child)
        return child

    def cleanup(self):
        """Kills our children, unmounts our mounts, removes the directory. Idempotent."""
        for child in self.children:
            if child.poll() is None:
                child.kill()
                child.wait()
        self.children = []
        for mount_point in reversed(list(self.mounts)):
            self.unmount(mount_point)
        for leftover in self._mount_points_under(self.path):
            subprocess.run(["umount", "-l", leftover], capture_output=True)
        shutil.rmtree(self.path, ignore_errors=True)

    def _on_signal(self, signum, frame):
        log(f"signal {signum}: cleaning up {self.path}")
        self.cleanup()
        sys.exit(128 + signum)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
        return False


def _die_with_parent():
    """In a child before exec: ask for SIGKILL when the parent dies (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def wait_for_pid(pidfile, child, timeout=30.0):
    """Returns the workload's pid from `pidfile` once written, or None if
    `child` (the process that runs it, maybe strace) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(pidfile) as f:
                text = f.read().strip()
            if text:
                return int(text)
        except FileNotFoundError:
            pass
        if child.poll() is not None:
            return None
        time.sleep(0.002)
    raise RuntimeError(f"the workload did not write {pidfile} within {timeout} s")


def process_state(pid):
    """The state letter of /proc/PID/stat ('R', 'S', 'D', 'T' stopped, 't'
    traced, 'Z'), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def wait_until_stopped(pid, child, timeout=60.0, strace_output=None):
    """Waits until every thread of `pid` is stopped by SIGSTOP. With
    `strace_output` (the -o file of the strace that runs it), the stop is
    confirmed by strace's "stopped by SIGSTOP" line, since a traced process is
    also in state 't' at each syscall stop. Returns False if `child` exits
    first (the cut point was never reached)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        confirmed = True
        if strace_output is not None:
            try:
                with open(strace_output, errors="replace") as f:
                    confirmed = "stopped by SIGSTOP" in f.read()
            except FileNotFoundError:
                confirmed = False
        if confirmed:
            tasks = os.listdir(f"/proc/{pid}/task") if os.path.exists(f"/proc/{pid}") else []
            states = [process_state(f"{pid}/task/{t}") for t in tasks]
            if states and all(s in ("T", "t") for s in states):
                return True
        time.sleep(0.005)
    raise RuntimeError(f"process {pid} did not stop within {timeout} s")


def parse_strace(path):
    """Parses `strace -f -y -o path` output. Returns a list of calls, in order:
    dicts with name, n (the call's number among calls of that name by that
    thread, as inject's when= counts), pid, args, ret, and line."""
    calls = []
    counters = {}
    with open(path, errors="replace") as f:
        for line in f:
            match = _STRACE_LINE.match(line.rstrip("\n"))
            if not match:
                continue
            key = (match["pid"] or "0", match["name"])
            counters[key] = counters.get(key, 0) + 1
            calls.append({"name": match["name"], "n": counters[key], "pid": key[0],
                          "args": match["args"], "ret": match["ret"], "line": line.strip()})
    return calls


def call_path(call):
    """The file a call acts on: the (first) path argument of openat, rename(at)(2),
    unlink(at) and mkdir(at); otherwise the path strace -y printed for the fd
    that is the call's first argument; '' if there is neither."""
    if call["name"] in _PATH_ARG_SYSCALLS:
        match = re.search(r'"([^"]*)"', call["args"])
        if match:
            return match.group(1)
    match = re.match(r"\d+<([^<>]*)>", call["args"])
    return match.group(1) if match else ""


def number_per_path(calls):
    """Sets call["k"] on each call: its number among the calls of the same name,
    thread and file (call_path), which is how `strace -P FILE -e inject=NAME:...:when=k`
    counts when -P limits it to that file. Unlike the plain number, k does not
    move when unrelated calls (a log line, malloc reading /proc) come and go."""
    counters = {}
    for call in calls:
        key = (call["pid"], call["name"], call_path(call))
        counters[key] = counters.get(key, 0) + 1
        call["k"] = counters[key]
    return calls


def run_checker(workload, store, ack_log, expect_open="any", env=None, timeout=300):
    """Runs `workload check` on `store` against `ack_log`. Returns (violations,
    output): violations is the count the checker reports (-1 if it printed no
    verdict, e.g. it crashed)."""
    result = subprocess.run([workload, "check", "--store", store, "--log", ack_log,
                             "--expect-open", expect_open],
                            capture_output=True, text=True, timeout=timeout, env=env)
    output = result.stdout + result.stderr
    match = re.search(r"^check: (\d+) violations", result.stdout, re.M)
    if match is None:
        return -1, output + f"\n(checker exited {result.returncode} without a verdict)"
    violations = int(match.group(1))
    if (violations == 0) != (result.returncode == 0):
        return max(violations, 1), output + f"\n(checker exited {result.returncode})"
    return violations, output


def violation_lines(output, limit=20):
    """The first `limit` VIOLATION lines (and open-log warnings) of a checker's output."""
    lines = [l for l in output.splitlines()
             if l.startswith("VIOLATION") or l.startswith(("open-log: WARN", "open-log: ERROR"))]
    return "\n".join(lines[:limit]) + (f"\n... {len(lines) - limit} more" if len(lines) > limit
                                       else "")


def sanitizer_env():
    """The environment for processes run under strace or LD_PRELOAD: an ASan
    build's LeakSanitizer cannot run under ptrace, and ASan refuses to start
    when a preloaded library comes before it."""
    env = dict(os.environ)
    extra = "detect_leaks=0:verify_asan_link_order=0"
    env["ASAN_OPTIONS"] = (env["ASAN_OPTIONS"] + ":" + extra) if env.get("ASAN_OPTIONS") else extra
    return env
