#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
# Writes the hostile and edge-case MIDI files of tests/data/midi/ from raw
# bytes (no MIDI library, so every defect is exactly the one intended).
# tests/unit/test_midifile.c holds what the reader must say about each file.
# The files are committed; CI never runs this script.
# Usage: tests/data/midi/make_hostile.py   (writes next to itself)
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def vlq(v):
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.insert(0, 0x80 | (v & 0x7F))
        v >>= 7
    return bytes(out)


def header(fmt=1, ntrks=1, division=480, length=6):
    return b"MThd" + struct.pack(">IHHH", length, fmt, ntrks, division)


def chunk(body, cid=b"MTrk", length=None):
    return cid + struct.pack(">I", len(body) if length is None else length) + body


def events(*evs):
    """evs: (delta, bytes) pairs."""
    return b"".join(vlq(d) + bytes(b) for d, b in evs)


EOT = (0, [0xFF, 0x2F, 0x00])


def meta(mtype, data):
    return [0xFF, mtype] + list(vlq(len(data))) + list(data)


def name(s):
    return meta(0x03, s.encode())


def tempo(us):
    return meta(0x51, [(us >> 16) & 0xFF, (us >> 8) & 0xFF, us & 0xFF])


def timesig(num, dd):
    return meta(0x58, [num, dd, 24, 8])


def conductor():
    return chunk(events((0, name("conductor")), (0, timesig(3, 2)), (0, tempo(500000)),
                        (960, tempo(400000)), (480, timesig(6, 3)), EOT))


def simple_track(label="melody"):
    return chunk(events((0, name(label)), (0, [0x90, 60, 100]), (480, [0x80, 60, 64]),
                        (0, [0x90, 62, 90]), (480, [0x80, 62, 0]), EOT))


FILES = {}

# A valid two-track reference file.
FILES["good.mid"] = header(1, 2) + conductor() + simple_track()

# Header cut after 10 bytes.
FILES["truncated_header.mid"] = header(1, 1)[:10]

# Track chunk cut short by the end of the file (declares 40, holds 10).
t = simple_track()
FILES["truncated_track.mid"] = header(1, 1) + t[:18]

# Second track's length is larger than the file (lying, too long).
t = events((0, [0x90, 64, 80]), (96, [0x80, 64, 0]), EOT)
FILES["lying_len_long.mid"] = header(1, 2) + conductor() + chunk(t, length=5000)

# Track length shorter than its events: the chunk ends inside an event.
t = events((0, [0x90, 64, 80]), (96, [0x80, 64, 0]), EOT)
FILES["lying_len_short.mid"] = header(1, 1) + chunk(t, length=6) + t[6:]

# Track length ends on an event boundary before the end-of-track event.
FILES["no_end_of_track.mid"] = header(1, 1) + chunk(t, length=8) + t[8:]

# Running status carried across a meta event and a sysex event
# (lenient: accepted, like real players).
t = events((0, [0x90, 60, 100]), (0, meta(0x01, b"hi")), (240, [60, 0]),
           (0, [62, 100]), (0, [0xF0, 0x03, 0x7E, 0x00, 0xF7]), (240, [62, 0]),
           (0, [64, 100]), (240, [64, 0]), EOT)
FILES["running_status_meta.mid"] = header(0, 1) + chunk(t)

# A data byte as the first event of a track: no status to run.
t = events((0, [60, 100]), EOT)
FILES["running_status_none.mid"] = header(0, 1) + chunk(t)

# Zero-length track chunks around a real one.
FILES["zero_length_tracks.mid"] = (header(1, 3) + chunk(b"") + simple_track() + chunk(b""))

# Large but valid delta times: 15 * 0x0FFFFFFF = 4026531825 ticks.
big = [(0x0FFFFFFF, meta(0x01, b"")) for _ in range(14)]
t = events(*big, (0x0FFFFFFF, [0x90, 60, 100]), (100, [0x80, 60, 0]), EOT)
FILES["huge_delta_ok.mid"] = header(0, 1) + chunk(t)

# Delta times whose sum overflows 32 bits (17 * 0x0FFFFFFF).
big = [(0x0FFFFFFF, meta(0x01, b"")) for _ in range(17)]
t = events(*big, EOT)
FILES["huge_delta_overflow.mid"] = header(0, 1) + chunk(t)

# A delta time of five VLQ bytes.
t = bytes([0x81, 0x80, 0x80, 0x80, 0x00, 0x90, 60, 100]) + events((10, [0x80, 60, 0]), EOT)
FILES["vlq_overflow.mid"] = header(0, 1) + chunk(t)

FILES["format2.mid"] = header(2, 2) + simple_track() + simple_track()

# SMPTE: -25 frames per second, 40 ticks per frame.
FILES["smpte.mid"] = header(0, 1, division=0xE728) + simple_track()

# Header then only an unknown chunk: no MTrk at all.
FILES["missing_mtrk.mid"] = header(1, 1) + chunk(b"\x00" * 12, cid=b"XFIH")

# An unknown chunk before the track is skipped.
FILES["unknown_chunk.mid"] = header(0, 1) + chunk(b"\x01\x02\x03\x04\x05", cid=b"XFIH") + \
    simple_track()

# Note-on with velocity 0 as note-off, in running status.
t = events((0, [0x91, 60, 100]), (100, [60, 0]), (20, [62, 90]), (100, [62, 0]),
           (0, [0x90, 67, 1]), (0, [67, 0]),  # zero-length: one tick
           EOT)
FILES["vel0_off.mid"] = header(0, 1) + chunk(t)

# Overlapping notes of one pitch on one channel and track:
#  - re-strike: on 60 @0, on 60 @100, off @200           -> [0,100) [100,200)
#  - stacking: on 62 @0, on 62 @50, off @150, off @300   -> [0,50) [50,300)
#  - doubled on at one tick: on 64 @0 twice, off @80, off @80 -> [0,80)
#  - same pitch on another channel is independent: ch1 60 [0,400)
t = events((0, [0x90, 60, 100]), (0, [0x90, 62, 100]), (0, [0x90, 64, 100]),
           (0, [0x90, 64, 110]), (0, [0x91, 60, 70]),
           (50, [0x90, 62, 101]), (30, [0x80, 64, 0]), (0, [0x80, 64, 0]),
           (20, [0x90, 60, 102]), (50, [0x80, 62, 0]), (50, [0x80, 60, 0]),
           (100, [0x80, 62, 0]), (100, [0x81, 60, 0]), EOT)
FILES["overlap.mid"] = header(0, 1) + chunk(t)

# Notes left sounding at the end of the track (one at the end tick itself).
t = events((0, [0x90, 60, 100]), (0, [0x90, 64, 100]), (240, [0x80, 64, 0]),
           (720, [0x90, 67, 100]), EOT)
FILES["unterminated.mid"] = header(0, 1) + chunk(t)

# Sysex split into an F0 packet and an F7 continuation packet, then an F7
# escape; running status then notes.
t = events((0, [0x90, 60, 100]), (0, [0xF0, 0x03, 0x43, 0x12, 0x00]),
           (10, [0xF7, 0x04, 0x01, 0x02, 0x03, 0xF7]), (10, [0xF7, 0x02, 0xF3, 0x01]),
           (100, [60, 0]), (0, [0xF0, 0x00]), (0, [0x90, 72, 50]), (50, [0x80, 72, 0]), EOT)
FILES["sysex_f7.mid"] = header(0, 1) + chunk(t)

FILES["not_midi.mid"] = b"RIFF\x24\x00\x00\x00WAVEfmt this is not a MIDI file\n"
FILES["empty.mid"] = b""

# Header declares 3 tracks; the file holds 2 (and ends cleanly).
FILES["missing_tracks.mid"] = header(1, 3) + conductor() + simple_track()

# A track that ends in the middle of a meta event's declared length.
t = events((0, [0xFF, 0x01, 0x40])) + b"abc"
FILES["meta_past_chunk.mid"] = header(0, 1) + chunk(t)

# A status byte where a data byte belongs.
t = events((0, [0x90, 60, 0x90]), EOT)
FILES["status_in_data.mid"] = header(0, 1) + chunk(t)

# Trailing garbage after the last declared track is ignored.
FILES["trailing_garbage.mid"] = header(0, 1) + simple_track() + b"garbage\x00\xff"

# Absurd track count with a tiny file: refused before allocating.
FILES["many_tracks.mid"] = header(1, 65535) + simple_track()

# A theme with parts: tracks named "melody" (E5 then F5, a quarter each)
# and "bass" (C3, a half note) in 4/4, for a format 2 model whose parts
# bear those names (tests/data/tiny2.cantus).
FILES["parts.mid"] = header(1, 3) + chunk(events((0, name("conductor")), (0, timesig(4, 2)),
                                                 (0, tempo(500000)), EOT)) + \
    chunk(events((0, name("melody")), (0, [0x90, 76, 100]), (480, [0x80, 76, 64]),
                 (0, [0x90, 77, 90]), (480, [0x80, 77, 0]), EOT)) + \
    chunk(events((0, name("bass")), (0, [0x91, 48, 100]), (960, [0x81, 48, 64]), EOT))

if __name__ == "__main__":
    for fname, data in sorted(FILES.items()):
        with open(os.path.join(HERE, fname), "wb") as f:
            f.write(data)
    print(f"{len(FILES)} files written to {HERE}")
