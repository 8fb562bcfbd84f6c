#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drives cantus-jack's terminal view through a pseudo-terminal (tests/hosts/t_jack_ui.sh).

usage: jack_ui_drive.py CANTUS_JACK MODEL OTHER_MODEL LOG -- [extra args]

Starts cantus-jack (with the view) on a 100x40 pty, presses keys and checks
what the screen shows; prints "ok NAME" / "FAIL NAME" lines and exits 1 on
any failure.  Keys: 2 (style 2), Down x3 + Left x2 (temperature -0.10),
h (hold on), m + a path + Enter (load another model while playing), q.
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


def main(argv):
    binary, model, other, log = argv[:4]
    extra = argv[5:] if len(argv) > 4 and argv[4] == "--" else []
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(binary, [binary, "--name", "ui1", "--model", model] + extra)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    out = bytearray()
    failures = []

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

    def screen_since(mark):
        return ANSI.sub(b"", bytes(out[mark:])).decode("utf-8", "replace")

    def expect(name, pattern, seconds, mark=0):
        end = time.time() + seconds
        while time.time() < end:
            if re.search(pattern, screen_since(mark)):
                print("ok   " + name)
                return True
            if not pump(0.1):
                break
        print("FAIL " + name + " (no /" + pattern + "/ on the screen)")
        failures.append(name)
        return False

    def key(s):
        os.write(fd, s)
        pump(0.3)

    expect("view-draws", r"styles:.*alpha", 10)
    expect("view-shows-tempo-bar", r"(PLAY|stop)\s+bar \d+ beat [\d.]+\s+[\d.]+ bpm", 5)
    expect("view-shows-roll-and-controls", r"last 4 bars(.|\n)*> style", 5)
    mark = len(out)
    key(b"2")
    expect("key-style", r"style = beta", 3, mark)
    mark = len(out)
    key(b"\x1b[B\x1b[B\x1b[B")
    key(b"\x1b[D\x1b[D")
    expect("key-temperature", r"> temperature\s+0\.90", 3, mark)
    mark = len(out)
    key(b"h")
    expect("key-hold", r"hold = on", 3, mark)
    key(b"h")
    mark = len(out)
    key(b"m")
    expect("key-model-prompt", r"model file: ", 3, mark)
    key(b"\x7f" * 600)
    key(other.encode())
    key(b"\r")
    expect("key-model-swap", r"loaded while playing", 5, mark)
    pump(1.0)
    mark = len(out)
    key(b"q")
    pump(3.0)
    wpid, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    restored = out.rfind(b"\x1b[?1049l") > out.rfind(b"\x1b[?1049h") >= 0
    if code == 0 and restored:
        print("ok   quit-restores-terminal")
    else:
        print("FAIL quit-restores-terminal (exit %d, restored %s)" % (code, restored))
        failures.append("quit")
    with open(log, "wb") as f:
        f.write(bytes(out))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
