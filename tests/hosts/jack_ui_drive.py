#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drives cantus-jack's terminal view through a pseudo-terminal (tests/hosts/t_jack_ui.sh).

usage: jack_ui_drive.py CANTUS_JACK MODEL OTHER_MODEL LOG -- [extra args]
       jack_ui_drive.py --layout ROWS COLS CANTUS_JACK MODEL CAPTURE LOG -- [extra args]

Starts cantus-jack (with the view) on a 100x40 pty, presses keys and checks
what the screen shows; prints "ok NAME" / "FAIL NAME" lines and exits 1 on
any failure.  Keys: 2 (style 2), Down x3 + Left x2 (temperature -0.10),
h (hold on), m + a path + Enter (load another model while playing), q.

--layout: the view on a ROWS x COLS pty, replayed through a small terminal
(Screen: the escapes the view uses, autowrap off, a newline on the last row
scrolls) while the JACK transport plays and then stops (the caller rolls
it; cantus-jack is connected to a capture client writing CAPTURE).  Checks:
the header stays on the top rows and nothing ever scrolled, the piano roll's
rows cover every pitch the capture saw (and not much more), and messages
from keys land in the message area, inside the screen.
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
NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


class Screen:
    """The terminal as the view drives it: cursor moves, erases, text, with
    autowrap off; counts scrolls (a newline on the last row)."""

    TOKEN = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b.|\r|\n|[^\x1b\r\n]+")

    def __init__(self, rows, cols):
        self.rows, self.cols = rows, cols
        self.grid = [[" "] * cols for _ in range(rows)]
        self.r = self.c = 0
        self.scrolls = 0

    def feed(self, text):
        for m in self.TOKEN.finditer(text):
            t = m.group(0)
            if m.group(2):
                arg, op = m.group(1), m.group(2)
                if op == "H":
                    parts = [int(x) for x in arg.split(";") if x.isdigit()] or [1, 1]
                    self.r = min(parts[0], self.rows) - 1
                    self.c = min(parts[1] if len(parts) > 1 else 1, self.cols) - 1
                elif op == "K":
                    for c in range(self.c, self.cols):
                        self.grid[self.r][c] = " "
                elif op == "J":
                    if arg == "2":
                        self.grid = [[" "] * self.cols for _ in range(self.rows)]
                    else:
                        for c in range(self.c, self.cols):
                            self.grid[self.r][c] = " "
                        for r in range(self.r + 1, self.rows):
                            self.grid[r] = [" "] * self.cols
                elif op == "h" and arg == "?1049":
                    self.grid = [[" "] * self.cols for _ in range(self.rows)]
            elif t == "\r":
                self.c = 0
            elif t == "\n":
                if self.r == self.rows - 1:
                    self.grid = self.grid[1:] + [[" "] * self.cols]
                    self.scrolls += 1
                else:
                    self.r += 1
            elif not t.startswith("\x1b"):
                for ch in t:
                    self.grid[self.r][self.c] = ch
                    self.c = min(self.c + 1, self.cols - 1)

    def lines(self):
        return ["".join(row).rstrip() for row in self.grid]


def roll_range(lines):
    """(lowest, highest) pitch the roll's rows cover, from their labels."""
    top = next((i for i, l in enumerate(lines) if l.startswith("---- last")), None)
    if top is None:
        return -1, -1, 0, 1
    m = re.search(r"(\d+) semitones a row", lines[top])
    per_row = int(m.group(1)) if m else 1
    pitches = []
    for l in lines[top + 1:]:
        m = re.match(r"([A-G]#?)\s*(-?\d+) ", l)
        if not m:
            break
        pitches.append(12 * (int(m.group(2)) + 1) + NAMES.index(m.group(1)))
    if not pitches:
        return -1, -1, 0, per_row
    return min(pitches), max(pitches) + per_row - 1, len(pitches), per_row


def layout(argv):
    rows, cols = int(argv[0]), int(argv[1])
    binary, model, capture, log = argv[2:6]
    extra = argv[7:] if len(argv) > 6 and argv[6] == "--" else []
    size = "%dx%d" % (cols, rows)
    try:
        mark = sum(1 for _ in open(capture))
    except OSError:
        mark = 0
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(binary, [binary, "--name", "view", "--model", model] + extra)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    screen = Screen(rows, cols)
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
                screen.feed(data.decode("utf-8", "replace"))
        return True

    def check(name, ok, detail=""):
        print(("ok   " if ok else "FAIL ") + name + (" (" + detail + ")" if detail else ""))
        if not ok:
            failures.append(name)

    # Playing, then stopped: wait for "stop" after "PLAY" in the tempo line.
    end, played = time.time() + 25, False
    while time.time() < end and pump(0.1):
        played |= any(l.startswith("PLAY") for l in screen.lines())
        if played and any(l.startswith("stop") for l in screen.lines()):
            break
    pump(1.0)  # the last notes end; the roll keeps them
    shot = screen.lines()
    stopped_shot = shot
    lo, hi, n_rows, per_row = roll_range(shot)
    ons = []
    for line in list(open(capture))[mark:]:
        f = line.split()
        if len(f) >= 4 and not line.startswith("#") and f[1][0] == "9" and f[3] != "00":
            ons.append(int(f[2], 16))
    check("view-header-on-screen-" + size,
          played and shot[0].startswith("Cantus") and shot[1].startswith("styles:")
          and screen.scrolls == 0,
          "top row '%s', %d scrolls" % (shot[0][:30], screen.scrolls))
    if ons:
        p_lo, p_hi = min(ons), max(ons)
        spare = max(12 - (p_hi - p_lo + 1), 0) + 2 * per_row
        ok = lo <= p_lo and hi >= p_hi and (hi - lo) - (p_hi - p_lo) <= spare
    else:
        p_lo = p_hi = -1
        ok = False
    check("view-roll-covers-range-" + size, ok,
          "played %d notes, pitches %d..%d; %d roll rows cover %d..%d, %d a row"
          % (len(ons), p_lo, p_hi, n_rows, lo, hi, per_row))
    # Messages: more than the area holds; the newest is inside it.
    for k in b"hhlrl":
        os.write(fd, bytes([k]))
        pump(0.2)
    pump(0.5)
    shot = screen.lines()
    area = next((i for i, l in enumerate(shot) if l.startswith("---- messages")), None)
    below = shot[area + 1:] if area is not None else []
    check("view-messages-in-area-" + size,
          area is not None and any(l.startswith("listen = off") for l in below)
          and any(l.startswith("regenerate") for l in below)
          and shot[0].startswith("Cantus") and screen.scrolls == 0,
          "message area at row %s of %d" % (area + 1 if area is not None else "-", rows))
    os.write(fd, b"q")
    pump(3.0)
    wpid, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    check("view-quit-" + size, code == 0, "exit %d" % code)
    if failures:
        print("---- the screen with the transport stopped ----")
        print("\n".join(stopped_shot))
        print("---- the last screen ----")
        print("\n".join(shot))
    with open(log, "wb") as f:
        f.write(bytes(out))
        f.write(("\n---- last screen ----\n" + "\n".join(shot) + "\n").encode())
    return 1 if failures else 0


def main(argv):
    if argv and argv[0] == "--layout":
        return layout(argv[1:])
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
