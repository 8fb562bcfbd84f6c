#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks on MIDI captured by tests/jack_capture (lines "<frame> <hex bytes>",
frame = transport frame, -1 while stopped) for the cantus-jack suites.

  grid FILE BPM TPQ RATE [FROM [TO]]  note-ons on the tick grid of BPM
      (TPQ ticks per quarter, grid anchored at transport frame 0); prints
      "grid: N notes, max error E frames, mean M" and exits 1 if there are
      no notes.  Also prints the spacing error: how far consecutive
      note-ons are from a whole number of ticks apart.  The caller compares
      both with its tolerances.
  balance FILE       every note-on closed by a note-off, no pitch struck twice
      while sounding; prints "balance: ..." and exits 1 on a problem.
  stopped FILE       note-ons captured while the transport stood (frame -1)
      after the first rolling event; prints the count, exits 1 if any.
  notes FILE FROM TO prints the note-ons "frame pitch" with FROM <= frame < TO.
  same A B FROM TO   the note-ons of two captures agree in [FROM, TO)
      (frame and pitch); exits 1 if not, printing the first difference.
  replay FILE FROM TO  the capture holds passes over the same transport
      frames (split where the frame goes back); the note-ons of the first
      two passes agree in [FROM, TO).
  listen FILE BPM RATE WAIT_BEATS TPQ  a player (channel 2) plays a phrase
      over the model (channel 1): the model's notes end when the player
      starts, it plays no note while the player plays, and it resumes
      (continues the phrase) once the player has been idle WAIT_BEATS beats.
  callresp FILE BPM RATE WAIT_BEATS BARS BPB TPQ  call and response: the
      model is silent until the player has played and paused, then answers
      for BARS bars and is silent again.
  midifile FILE N BPM NUM DEN  a Standard MIDI File (read here, no library)
      holds N note-ons, a tempo of BPM and the meter NUM/DEN.
  mkmidi OUT PITCH...  writes a one-bar theme: the pitches as quarter notes
      from tick 0 (format 0, 480 ticks per quarter, 120 bpm, 4/4).
  pmgrid FILE MS     PortMidi fake log "<ms> 90 ...": note-on timestamps
      are multiples of MS apart (+-2 ms); prints the worst deviation.
  pmbalance FILE     the PortMidi log's notes are all closed.
  chordfit FILE CHANNEL BPM RATE  a chord player sends chords on CHANNEL
      (1..16) to cantus-jack and to the capture: the share of the model's
      note-ons (the other channels) that are tones of the chord held then,
      counting the notes whose chord was already held a beat earlier (the
      lookahead); prints "chordfit: H of N ... FIT" (FIT last) and exits 1
      when fewer than 10 notes count.
"""
import sys


def read(path, marks=None):
    ev = []
    for line in open(path):
        p = line.split()
        if p and p[0] == "#":
            if marks is not None and len(p) >= 5 and p[1] == "bpm":
                marks.append((len(ev), float(p[2])))
            continue
        if len(p) < 2:
            continue
        try:
            f = int(p[0])
            b = [int(x, 16) for x in p[1:]]
        except ValueError:
            continue
        ev.append((f, b))
    return ev


def is_on(b):
    return len(b) >= 3 and (b[0] & 0xF0) == 0x90 and b[2] > 0


def is_off(b):
    return len(b) >= 3 and ((b[0] & 0xF0) == 0x80 or ((b[0] & 0xF0) == 0x90 and b[2] == 0))


def grid(path, bpm, tpq, rate, lo=0, hi=1 << 62):
    """bpm None: the tempo marks of the capture ("# bpm B at F"); the grid is
    frame * bpm / 60 / rate beats, as jack_transport's master computes it."""
    marks = []
    evs = read(path, marks)
    errs = []
    ons = []
    periods = set()
    cur = bpm
    for i, (f, b) in enumerate(evs):
        while marks and marks[0][0] <= i:
            if bpm is None:
                cur = marks[0][1]
            marks.pop(0)
        if cur is None:
            continue
        period = 60.0 * rate / (cur * tpq)
        if is_on(b) and lo <= f < hi and f >= 0:
            periods.add(round(period, 2))
            errs.append(abs(f - round(f / period) * period))
            ons.append((f, period))
    # Spacing: consecutive note-ons a whole number of ticks apart (the tempo
    # is exact even where the grid is offset).
    space = 0.0
    for (f0, _), (f1, p1) in zip(ons, ons[1:]):
        d = f1 - f0
        space = max(space, abs(d - round(d / p1) * p1))
    if not errs:
        print("grid: no note-ons in range")
        return 1
    print("grid: %d notes, max error %.2f frames, mean %.2f, spacing error %.2f frames "
          "(ticks of %s frames)" % (len(errs), max(errs), sum(errs) / len(errs), space,
                                   sorted(periods)))
    return 0


def balance(path, log=False):
    sounding = {}
    problems = []
    n_on = n_off = 0
    for f, b in (read(path) if not log else read_pm(path)):
        key = (b[0] & 0x0F, b[1]) if len(b) >= 2 else None
        if is_on(b):
            n_on += 1
            if sounding.get(key):
                problems.append("pitch %d struck while sounding at %d" % (key[1], f))
            sounding[key] = 1
        elif is_off(b):
            n_off += 1
            sounding[key] = 0
    stuck = [k for k, v in sounding.items() if v]
    print("balance: %d note-ons, %d note-offs, %d stuck %s" % (n_on, n_off, len(stuck), stuck[:8]))
    for p in problems[:5]:
        print("balance: " + p)
    return 0 if not stuck and not problems and n_on > 0 else 1


def stopped(path):
    seen_rolling = False
    bad = 0
    for f, b in read(path):
        if f >= 0:
            seen_rolling = True
        elif seen_rolling and is_on(b):
            bad += 1
    print("stopped: %d note-ons while the transport stood" % bad)
    return 1 if bad else 0


def notes(path, lo, hi):
    return [(f, b[1]) for f, b in read(path) if is_on(b) and lo <= f < hi]


def same(a, b, lo, hi):
    x, y = notes(a, lo, hi), notes(b, lo, hi)
    if x == y and x:
        print("same: %d note-ons agree in [%d, %d)" % (len(x), lo, hi))
        return 0
    for i, (p, q) in enumerate(zip(x, y)):
        if p != q:
            print("same: differ at note %d: %s vs %s" % (i, p, q))
            break
    print("same: %d vs %d note-ons in [%d, %d)" % (len(x), len(y), lo, hi))
    return 1


def passes(path):
    out, cur, last = [], [], None
    for f, b in read(path):
        if f < 0:
            continue
        if last is not None and f < last:
            out.append(cur)
            cur = []
        cur.append((f, b))
        last = f
    if cur:
        out.append(cur)
    return out


def replay(path, lo, hi):
    ps = passes(path)
    if len(ps) < 2:
        print("replay: %d passes in the capture" % len(ps))
        return 1
    x = [(f, b[1]) for f, b in ps[0] if is_on(b) and lo <= f < hi]
    y = [(f, b[1]) for f, b in ps[1] if is_on(b) and lo <= f < hi]
    if x == y and x:
        print("replay: %d passes; the first two agree on %d note-ons in [%d, %d)"
              % (len(ps), len(x), lo, hi))
        return 0
    for i, (p, q) in enumerate(zip(x, y)):
        if p != q:
            print("replay: differ at note %d: %s vs %s" % (i, p, q))
            break
    print("replay: %d vs %d note-ons in [%d, %d)" % (len(x), len(y), lo, hi))
    return 1


def split_player(path):
    """(model events, player events) by channel: the player sends on 2."""
    model, player = [], []
    for f, b in read(path):
        if f < 0 or len(b) < 3:
            continue
        (player if (b[0] & 0x0F) == 1 else model).append((f, b))
    return model, player


def listen(path, bpm, rate, wait_beats, tpq):
    beat = 60.0 * rate / bpm
    tick = beat / tpq
    model, player = split_player(path)
    p_on = [f for f, b in player if is_on(b)]
    if not p_on:
        print("listen: the player's notes were not captured")
        return 1
    p0, pl = p_on[0], max(f for f, b in player)
    before = [f for f, b in model if is_on(b) and f < p0]
    during = [f for f, b in model if is_on(b) and p0 + tick < f <= pl + wait_beats * beat - tick]
    after = [f for f, b in model if is_on(b) and f > pl]
    # notes sounding at p0 must end by p0 + one tick + one period (256)
    sounding = {}
    late_off = []
    for f, b in model:
        key = b[1]
        if is_on(b):
            sounding[key] = f
        elif is_off(b):
            if key in sounding and sounding[key] < p0 and f > p0 + tick + 256:
                late_off.append((key, f))
            sounding.pop(key, None)
    print("listen: player from %d to %d; model note-ons: %d before, %d while the player "
          "played or waited, %d after; first after at %s (resume point %d); late offs %s"
          % (p0, pl, len(before), len(during), len(after), after[0] if after else None,
             pl + wait_beats * beat, late_off))
    ok = before and not during and after and not late_off
    # The random test model may open with long shifts: allow 4 bars.
    ok = ok and after[0] >= pl + wait_beats * beat - tick and after[0] <= pl + (wait_beats + 16) * beat
    return 0 if ok else 1


def callresp(path, bpm, rate, wait_beats, bars, bpb, tpq):
    beat = 60.0 * rate / bpm
    tick = beat / tpq
    model, player = split_player(path)
    p_on = [f for f, b in player if is_on(b)]
    if not p_on:
        print("callresp: the player's notes were not captured")
        return 1
    p0, pl = p_on[0], max(f for f, b in player)
    ons = [f for f, b in model if is_on(b)]
    start = pl + wait_beats * beat - tick
    end = pl + (wait_beats + 1 + bars * bpb) * beat + tick
    before = [f for f in ons if f < start]
    inside = [f for f in ons if start <= f <= end]
    outside = [f for f in ons if f > end]
    print("callresp: player %d..%d; model note-ons %d before the answer, %d in the answer "
          "window [%d, %d], %d after it" % (p0, pl, len(before), len(inside), start, end,
                                            len(outside)))
    return 0 if not before and inside and not outside else 1


def midifile(path, n, bpm, num, den):
    data = open(path, "rb").read()
    if data[:4] != b"MThd":
        print("midifile: not a MIDI file")
        return 1
    ntrk = int.from_bytes(data[10:12], "big")
    pos = 8 + int.from_bytes(data[4:8], "big")
    ons, tempos, sigs = 0, [], []
    for _ in range(ntrk):
        assert data[pos:pos + 4] == b"MTrk"
        end = pos + 8 + int.from_bytes(data[pos + 4:pos + 8], "big")
        i, status = pos + 8, 0
        while i < end:
            while data[i] & 0x80:  # delta time
                i += 1
            i += 1
            if data[i] & 0x80:
                status = data[i]
                i += 1
            if status == 0xFF:
                kind = data[i]
                ln, i = 0, i + 1
                while True:
                    ln = (ln << 7) | (data[i] & 0x7F)
                    i += 1
                    if not data[i - 1] & 0x80:
                        break
                body = data[i:i + ln]
                if kind == 0x51:
                    tempos.append(round(60e6 / int.from_bytes(body, "big"), 3))
                elif kind == 0x58:
                    sigs.append((body[0], 1 << body[1]))
                i += ln
                status = 0
            elif status in (0xF0, 0xF7):
                ln = 0
                while True:
                    ln = (ln << 7) | (data[i] & 0x7F)
                    i += 1
                    if not data[i - 1] & 0x80:
                        break
                i += ln
                status = 0
            else:
                size = 1 if (status & 0xF0) in (0xC0, 0xD0) else 2
                if (status & 0xF0) == 0x90 and data[i + 1] > 0:
                    ons += 1
                i += size
        pos = end
    print("midifile: %d note-ons, tempos %s, meters %s" % (ons, tempos, sigs))
    ok = ons == n and n > 0 and bpm in tempos and (num, den) in sigs
    return 0 if ok else 1


def mkmidi(path, pitches):
    def var(n):
        out = [n & 0x7F]
        n >>= 7
        while n:
            out.insert(0, 0x80 | (n & 0x7F))
            n >>= 7
        return bytes(out)
    trk = bytearray()
    trk += var(0) + bytes([0xFF, 0x51, 3]) + (500000).to_bytes(3, "big")
    trk += var(0) + bytes([0xFF, 0x58, 4, 4, 2, 24, 8])
    for p in pitches:
        trk += var(0) + bytes([0x90, p, 100])
        trk += var(480) + bytes([0x80, p, 0])
    trk += var(0) + bytes([0xFF, 0x2F, 0])
    data = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    data += (480).to_bytes(2, "big") + b"MTrk" + len(trk).to_bytes(4, "big") + bytes(trk)
    open(path, "wb").write(data)
    return 0


def read_pm(path):
    ev = []
    for line in open(path):
        p = line.split()
        if len(p) == 4:
            try:
                ev.append((int(p[0]), [int(v, 16) for v in p[1:]]))
            except ValueError:
                pass
    return ev


def pmgrid(path, ms, period_ms):
    """Hardware timestamps keep the JACK timing: each note-on's PortMidi
    timestamp lies on the tick grid.  The timestamps are JACK's own clock
    (jack_frames_to_time), which on the dummy driver follows the cycles'
    wake-up times, so a loaded machine moves a few of them by up to a
    period.  Passes when at least 80 % are within 1.5 ms of the grid
    (timestamps truncated to whole ms) and none is off by more than one
    JACK period.  Writing at poll time instead would spread them evenly
    over the period and fail the first rule."""
    ons = [t for t, b in read_pm(path) if is_on(b)]
    if len(ons) < 2:
        print("pmgrid: %d note-ons" % len(ons))
        return 1
    # the grid's phase: the note-on that most others agree with (a late
    # first one must not move the grid under all the rest)
    best = None
    for r in ons:
        devs = []
        for t in ons:
            if t is not r:
                d = (t - r) / ms
                devs.append(abs(d - round(d)) * ms)
        close = sum(1 for d in devs if d <= 1.5)
        if best is None or close > best[0]:
            best = (close, devs)
    close, devs = best
    worst = max(devs)
    print("pmgrid: %d note-ons, deviations from the %g ms grid (ms): %s; %d of %d within 1.5 ms, "
          "worst %.1f ms (period %.2f ms)"
          % (len(ons), ms, " ".join("%.0f" % d for d in devs), close, len(devs), worst, period_ms))
    return 0 if close >= 0.8 * len(devs) and worst <= period_ms else 1


def chordfit(path, channel, bpm, rate):
    beat = 60.0 * rate / bpm
    held, timeline, model = {}, [], []
    for f, b in read(path):
        if f < 0 or len(b) < 3:
            continue
        if (b[0] & 0x0F) == channel - 1:
            if is_on(b):
                held[b[1]] = held.get(b[1], 0) + 1
            elif is_off(b) and held.get(b[1]):
                held[b[1]] -= 1
            timeline.append((f, frozenset(p % 12 for p, n in held.items() if n > 0)))
        elif is_on(b):
            model.append((f, b[1]))

    def chord_at(f):
        c = frozenset()
        for g, pcs in timeline:
            if g > f:
                break
            c = pcs
        return c

    n = hits = 0
    for f, p in model:
        c = chord_at(f)
        if c and chord_at(f - beat) == c:
            n += 1
            hits += (p % 12) in c
    fit = float(hits) / n if n else 0.0
    print("chordfit: %d of %d note-ons (of %d) under a chord are its tones, %d chord events: %.3f"
          % (hits, n, len(model), len(timeline), fit))
    return 0 if n >= 10 else 1


def main(a):
    if not a:
        print(__doc__)
        return 2
    cmd = a[0]
    if cmd == "grid":
        lo = int(a[5]) if len(a) > 5 else 0
        hi = int(a[6]) if len(a) > 6 else 1 << 62
        bpm = None if a[2] == "auto" else float(a[2])
        return grid(a[1], bpm, int(a[3]), float(a[4]), lo, hi)
    if cmd == "balance":
        return balance(a[1])
    if cmd == "stopped":
        return stopped(a[1])
    if cmd == "notes":
        for f, p in notes(a[1], int(a[2]), int(a[3])):
            print(f, p)
        return 0
    if cmd == "same":
        return same(a[1], a[2], int(a[3]), int(a[4]))
    if cmd == "listen":
        return listen(a[1], float(a[2]), float(a[3]), float(a[4]), int(a[5]))
    if cmd == "callresp":
        return callresp(a[1], float(a[2]), float(a[3]), float(a[4]), int(a[5]), float(a[6]),
                        int(a[7]))
    if cmd == "midifile":
        return midifile(a[1], int(a[2]), float(a[3]), int(a[4]), int(a[5]))
    if cmd == "mkmidi":
        return mkmidi(a[1], [int(x) for x in a[2:]])
    if cmd == "replay":
        return replay(a[1], int(a[2]), int(a[3]))
    if cmd == "pmgrid":
        return pmgrid(a[1], float(a[2]), float(a[3]))
    if cmd == "chordfit":
        return chordfit(a[1], int(a[2]), float(a[3]), float(a[4]))
    if cmd == "pmbalance":
        return balance(a[1], log=True)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
