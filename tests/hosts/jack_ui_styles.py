#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every style of a model on cantus-jack's terminal view (tests/hosts/t_jack_ui.sh).

usage: jack_ui_styles.py CANTUS_JACK MODEL LOG

Starts cantus-jack with MODEL (one with ten or more styles: the shipped
models/default.cantus has 11) on an 80x24 pseudo-terminal and checks that the
view lists every style numbered from 1 ("1:ashover ... 11:slide") within 80
columns, wrapped rather than cut, and that the keys ] and [ step through
all of them, wrapping at either end (keys 1-9 alone never reach the 10th).
Prints "ok NAME" / "FAIL NAME" lines; exits 1 on any failure.
"""
import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
COLS, ROWS = 80, 24


def style_names(binary_dir, model):
    """The model's styles, from cantus-info --json."""
    import json
    import subprocess

    info = os.path.join(binary_dir, "cantus-info")
    out = subprocess.run([info, "--json", model], capture_output=True, check=True).stdout
    return [s["name"] for s in json.loads(out)["styles"]]


def main(argv):
    binary, model, log = argv[:3]
    names = style_names(os.path.dirname(binary), model)
    failures = []

    def result(name, good, why=""):
        print(("ok   " if good else "FAIL ") + name + ("" if good else " (" + why + ")"))
        if not good:
            failures.append(name)

    if len(names) < 10:
        result("model-has-10-styles", False, "%s has %d styles" % (model, len(names)))
        return 1
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(binary, [binary, "--name", "ui2", "--model", model])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    out = bytearray()

    def pump(seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    return False
                if not data:
                    return False
                out.extend(data)
        return True

    def last_frame():
        """The lines of the last complete frame, without escape codes."""
        frames = bytes(out).split(b"\x1b[H")
        frame = frames[-2] if len(frames) > 2 else frames[-1]
        return [ANSI.sub(b"", l).decode("utf-8", "replace") for l in frame.split(b"\r\n")]

    def wait_for(pattern, seconds, mark):
        end = time.time() + seconds
        while time.time() < end:
            text = ANSI.sub(b"", bytes(out[mark:])).decode("utf-8", "replace")
            if re.search(pattern, text):
                return True
            if not pump(0.1):
                break
        return False

    ready = wait_for(r"styles:", 10, 0)
    pump(0.5)
    lines = last_frame()
    start = next((i for i, l in enumerate(lines) if l.startswith("styles:")), None)
    block = []
    if start is not None:
        block = [lines[start]]
        for l in lines[start + 1:]:
            if not l.startswith("       "):
                break
            block.append(l)
    listed = " ".join(block).split()[1:] if block else []
    want = ["%d:%s" % (i + 1, n) for i, n in enumerate(names)]
    result("view-lists-every-style-from-1", ready and listed == want, "listed %s" % listed)
    result("view-style-list-fits-80-columns",
           bool(block) and all(len(l) <= COLS for l in block) and len(block) > 1,
           "lines %s" % [len(l) for l in block])

    # From the default style, ] steps up to the last style, then wraps to
    # the first; [ wraps back to the last.
    default = 0
    status = re.search(r"style (\S+)  temperature", "\n".join(lines))
    if status and status.group(1) in names:
        default = names.index(status.group(1))
    mark = len(out)
    for _ in range(len(names) - 1 - default):
        os.write(fd, b"]")
        pump(0.15)
    last = names[-1]
    result("key-]-reaches-the-last-style", wait_for(r"style = %s\b" % re.escape(last), 3, mark),
           "no 'style = %s'" % last)
    mark = len(out)
    os.write(fd, b"]")
    result("key-]-wraps-to-the-first", wait_for(r"style = %s\b" % re.escape(names[0]), 3, mark),
           "no 'style = %s'" % names[0])
    mark = len(out)
    os.write(fd, b"[")
    result("key-[-wraps-to-the-last", wait_for(r"style = %s\b" % re.escape(last), 3, mark),
           "no 'style = %s'" % last)
    mark = len(out)
    os.write(fd, b"1")
    result("key-1-is-style-1", wait_for(r"style = %s\b" % re.escape(names[0]), 3, mark),
           "no 'style = %s'" % names[0])
    os.write(fd, b"q")
    pump(3.0)
    os.waitpid(pid, 0)
    with open(log, "wb") as f:
        f.write(bytes(out))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
