#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Writes tests/data/midi/expected/*.tsv: note lists, tempo and time-signature
# maps of a few corpus files as parsed by an independent reader (Debian's
# python3-mido), paired by the rules dsp/midifile.h documents (velocity-0
# note-on is a note-off; a re-struck pitch closes the sounding note; extra
# note-offs of stacked note-ons extend the last note; notes left sounding
# close at the end of the track; zero-length notes get one tick).  Run once;
# the output is committed and CI never runs this.
# Usage: tests/data/midi/make_expected.py CORPUS_DIR
import os
import sys

import mido

FILES = [
    "jsb_chorales/chorale/jsb_test_000.mid",
    "nottingham/reel/reelsd-g_028_east_tennessee_blues.mid",
    "nottingham/xmas/xmas_007_jubilate_deo_round.mid",
    "cre_irish/jig/cre_0001_achreidh_jig_the.mid",
]


def parse(path):
    mf = mido.MidiFile(path)
    notes, tempos, sigs = [], [], []
    for ti, track in enumerate(mf.tracks):
        tick = 0
        state = {}  # (ch, pitch) -> [open, last, extra]
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
            elif msg.type == "time_signature":
                sigs.append((tick, msg.numerator, msg.denominator))
            elif msg.type in ("note_on", "note_off"):
                k = (msg.channel, msg.note)
                st = state.setdefault(k, [None, None, 0])
                if msg.type == "note_on" and msg.velocity > 0:
                    if st[0] is not None:
                        st[2] += 1
                        prev = notes[st[0]]
                        if prev[0] == tick:
                            continue
                        prev[1] = tick
                    else:
                        st[2] = 0
                    st[1] = None
                    st[0] = len(notes)
                    notes.append([tick, tick, ti, msg.channel, msg.note, msg.velocity])
                else:
                    if st[0] is not None:
                        notes[st[0]][1] = tick
                        st[1] = st[0] if st[2] else None
                        st[0] = None
                    elif st[1] is not None:
                        notes[st[1]][1] = tick
                        st[2] -= 1
                        if st[2] == 0:
                            st[1] = None
        for st in state.values():
            if st[0] is not None:
                notes[st[0]][1] = tick
    for n in notes:
        if n[1] <= n[0]:
            n[1] = n[0] + 1
    notes.sort(key=lambda n: (n[0], n[2], n[4]))

    def dedup(xs):
        xs = sorted(xs, key=lambda x: x[0])
        out = []
        for x in xs:
            if out and out[-1][0] == x[0]:
                out[-1] = x
            else:
                out.append(x)
        return out

    return mf.ticks_per_beat, notes, dedup(tempos), dedup(sigs)


def main():
    corpus = sys.argv[1]
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "expected")
    os.makedirs(outdir, exist_ok=True)
    for rel in FILES:
        tpq, notes, tempos, sigs = parse(os.path.join(corpus, rel))
        name = os.path.basename(rel)[:-4] + ".tsv"
        with open(os.path.join(outdir, name), "w") as f:
            f.write(f"file\t{rel}\n")
            f.write(f"tpq\t{tpq}\n")
            for t in tempos:
                f.write("tempo\t%d\t%d\n" % t)
            for s in sigs:
                f.write("timesig\t%d\t%d\t%d\n" % s)
            for n in notes:
                f.write("note\t%d\t%d\t%d\t%d\t%d\t%d\n" % tuple(n))
        print(f"{name}: {len(notes)} notes, {len(tempos)} tempos, {len(sigs)} time signatures")


if __name__ == "__main__":
    main()
