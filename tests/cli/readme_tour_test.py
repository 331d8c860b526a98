#!/usr/bin/env python3
"""Runs the tour of README.md and compares every output with what the README shows.

Every ```console block of the README is run, in order, one "$ command" line at a
time on a pseudo-terminal, and what the terminal finally shows (standard output
and standard error merged, a progress bar in its last state) must equal the
lines the README shows under it, after
normalizing only what must vary from run to run:

  timestamps (2026-11-22T06:14:20.572Z)           -> <TIME>
  durations and rates ("in 0.03 s", "92 records/s", "in 4.7 ms", "Q queries/s")
  the CPU's SIMD capabilities and kernel names, the number of worker threads
  the scratch directory the test runs in

Log lines ("<TIME> INFO ...") are compared only where the README shows log lines
for that command; elsewhere they are dropped (the library logs to standard error).

The commands run in a scratch directory laid out like a clone of the repository
(examples/, data/fashion-mnist/ and build/release/ are links into the real
tree), with the build directory first on PATH, so `quiver` is the binary under
test. Paths under /tmp/ in commands are moved into the scratch directory, and
port 8093 to a free port; outputs are mapped back before comparing.

  export VAR=VALUE    sets VAR for the commands that follow
  quiver serve ...    starts in the background; its first lines are compared once
                      they appear, and it is stopped (SIGTERM) at the end

An HTML comment right above a block (blank lines between are allowed) says how
to run it; several may be given:

  <!-- tour: needs PATH -->    skip the block (and say so) unless PATH, relative
                               to the source tree, exists (e.g. a data set)
  <!-- tour: setup COMMAND --> run COMMAND first; its output is not compared
  <!-- tour: skip REASON -->   do not run the block

A new block needs nothing else: it is run and compared as soon as it is in the
README. Exit status: 0 all blocks matched, 1 a mismatch (a diff per command is
printed), 77 no block could run.

  tests/cli/readme_tour_test.py --readme README.md --source-dir . --build-dir build/release
"""

import argparse
import difflib
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

COMMAND_TIMEOUT_S = 600
SERVER_START_TIMEOUT_S = 30
README_PORT = "8093"

DIRECTIVE = re.compile(r"^<!--\s*tour:\s*(needs|setup|skip)\b\s*(.*?)\s*-->\s*$")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LOG_LINE = re.compile(r"^<TIME> (DEBUG|INFO|WARN|ERROR) ")
NORMALIZERS = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"), "<TIME>"),
    (re.compile(r"\bin \d+(\.\d+)? (s|ms)\b"), r"in <DURATION> \2"),
    (re.compile(r"\d+(\.\d+)? records/s"), "<RATE> records/s"),
    (re.compile(r"\d+(\.\d+)? queries/s"), "<RATE> queries/s"),
    (re.compile(r"SIMD: [^)]*\)"), "SIMD: <CPU>)"),
    (re.compile(r"(simd kernel\s+)\S+"), r"\1<CPU>"),
    (re.compile(r"\(\d+ worker threads"), "(<N> worker threads"),
]


class Block:
    """One ```console block: its line in the README, directives and commands."""

    def __init__(self, line, directives):
        self.line = line  # 1-based line of the opening fence
        self.directives = directives  # [(kind, argument)]
        self.commands = []  # [(line, command, [expected output lines])]


def parse_readme(path):
    """The ```console blocks of `path`, in order."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        directives = []
        j = i - 1
        while j >= 0 and (lines[j].strip() == "" or DIRECTIVE.match(lines[j].strip())):
            m = DIRECTIVE.match(lines[j].strip())
            if m:
                directives.insert(0, (m.group(1), m.group(2)))
            j -= 1
        block = Block(i + 1, directives)
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            if lines[i].startswith("$ "):
                block.commands.append((i + 1, lines[i][2:], []))
            elif block.commands:
                block.commands[-1][2].append(lines[i])
            else:
                raise SystemExit(f"{path}:{i + 1}: output before the first '$ ' line of the block")
            i += 1
        blocks.append(block)
        i += 1
    return blocks


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


class Tour:
    def __init__(self, args):
        self.source = os.path.abspath(args.source_dir)
        self.build = os.path.abspath(args.build_dir)
        self.scratch = tempfile.mkdtemp(prefix="quiver-tour-")
        self.root = os.path.join(self.scratch, "repo")
        self.port = free_port()
        self.env = dict(os.environ)
        self.env["PATH"] = self.build + os.pathsep + self.env.get("PATH", "")
        self.env.pop("QUIVER_DATA", None)
        self.servers = []
        self.failures = 0
        self.compared = 0
        os.makedirs(os.path.join(self.root, "data"))
        os.makedirs(os.path.join(self.root, "build"))
        os.makedirs(os.path.join(self.scratch, "tmp"))
        os.symlink(os.path.join(self.source, "examples"), os.path.join(self.root, "examples"))
        os.symlink(self.build, os.path.join(self.root, "build", "release"))
        fmnist = os.path.join(self.source, "data", "fashion-mnist")
        if os.path.isdir(fmnist):
            os.symlink(fmnist, os.path.join(self.root, "data", "fashion-mnist"))

    # Paths and ports: README -> this run, and back.
    def localize(self, command):
        command = command.replace("/tmp/", self.scratch + "/tmp/")
        command = re.sub(r"\b" + README_PORT + r"\b", self.port, command)
        return command

    def normalize(self, text):
        text = text.replace(self.scratch + "/tmp/", "/tmp/").replace(self.root + "/", "")
        text = re.sub(r"\b" + self.port + r"\b", README_PORT, text)
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        out = []
        for line in lines:
            for pattern, replacement in NORMALIZERS:
                line = pattern.sub(replacement, line)
            out.append(line.rstrip())
        return out

    def run_shell(self, command):
        """Runs `command` in the fake repository on a pseudo-terminal, as a reader of the
        README would, and returns what the terminal finally shows: standard output and
        standard error merged, a line redrawn with carriage returns (a progress bar) as
        its last state, terminal escape sequences removed."""
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(["bash", "-c", command], cwd=self.root, env=self.env,
                                stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
                                close_fds=True)
        os.close(secondary)
        chunks = []
        deadline = time.time() + COMMAND_TIMEOUT_S
        while time.time() < deadline:
            ready, _, _ = select.select([primary], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's last writer is gone
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
        text = ANSI_ESCAPE.sub("", text)
        return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))

    def start_server(self, command, expected_lines):
        """Starts `command` in the background; its output once it printed enough lines."""
        log_path = os.path.join(self.scratch, f"server{len(self.servers)}.log")
        log = open(log_path, "wb")
        proc = subprocess.Popen(["bash", "-c", "exec " + command], cwd=self.root, env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.servers.append(proc)
        deadline = time.time() + SERVER_START_TIMEOUT_S
        while time.time() < deadline and proc.poll() is None:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            if "ready" in text and len(text.splitlines()) >= expected_lines:
                break
            time.sleep(0.1)
        time.sleep(0.2)  # let a line being written finish
        with open(log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def compare(self, readme, line, command, expected, actual_text):
        want = self.normalize("\n".join(expected))
        got = self.normalize(actual_text)
        if not any(LOG_LINE.match(w) for w in want):
            got = [g for g in got if not LOG_LINE.match(g)]
        self.compared += 1
        if want == got:
            return
        self.failures += 1
        print(f"MISMATCH {readme}:{line}: $ {command}")
        for diff_line in difflib.unified_diff(want, got, "README.md", "actual", lineterm="", n=1):
            print("    " + diff_line)

    def run(self, readme, only_lines):
        blocks = [b for b in parse_readme(readme) if not only_lines or b.line in only_lines]
        ran_blocks = 0
        for block in blocks:
            kinds = dict(block.directives)
            if "skip" in kinds:
                print(f"skip block at line {block.line}: {kinds['skip']}")
                continue
            missing = [arg for kind, arg in block.directives
                       if kind == "needs" and not os.path.exists(os.path.join(self.source, arg))]
            if missing:
                print(f"skip block at line {block.line}: needs {', '.join(missing)}")
                continue
            ran_blocks += 1
            for kind, arg in block.directives:
                if kind == "setup":
                    out = self.run_shell(self.localize(arg))
                    print(f"setup (line {block.line}): {arg}\n" +
                          "".join("    " + l + "\n" for l in out.splitlines()[-3:]), end="")
            for line, command, expected in block.commands:
                local = self.localize(command)
                m = re.match(r"^export (\w+)=(\S*)$", local)
                if m:
                    self.env[m.group(1)] = m.group(2)
                    actual = ""
                elif re.match(r"^quiver serve\b", command):
                    actual = self.start_server(local, len(expected))
                else:
                    actual = self.run_shell(local)
                self.compare(readme, line, command, expected, actual)
        return ran_blocks

    def close(self):
        for proc in self.servers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readme", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--blocks", default="",
                        help="run only the blocks whose opening fence is on these README lines "
                             "(comma-separated), e.g. while editing one")
    args = parser.parse_args()
    if not os.access(os.path.join(args.build_dir, "quiver"), os.X_OK):
        print(f"no quiver binary in {args.build_dir}; build it first")
        return 77
    tour = Tour(args)
    try:
        ran = tour.run(args.readme, {int(n) for n in args.blocks.split(",") if n})
    finally:
        tour.close()
    print(f"{tour.compared} commands compared in {ran} blocks, {tour.failures} mismatched")
    if ran == 0:
        return 77
    return 1 if tour.failures else 0


if __name__ == "__main__":
    sys.exit(main())
