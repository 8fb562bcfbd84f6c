-- SPDX-License-Identifier: GPL-3.0-or-later
-- An Ardour Lua DSP for tests/hosts/t_lv2_ardour_chords.sh: a chord player.
-- From its first cycle it holds C, F, G, Am (below middle C, on channel 3),
-- a chord every 96000 samples (a bar at 120 BPM and 48 kHz), letting the
-- last one go at each change.  Its output is recorded onto Cantus's track as
-- the chord region.
ardour {
  ["type"] = "dsp",
  name = "Cantus Test Chord Player",
  category = "Utility",
  license = "GPL-3.0-or-later",
  author = "Cantus",
  description = [[Plays C F G Am, a chord every 96000 samples, below middle C.]]
}

function dsp_ioconfig ()
  return { { midi_in = 1, midi_out = 1, audio_in = 0, audio_out = 0 } }
end

local chords = { { 48, 52, 55 }, { 53, 57, 48 }, { 43, 47, 50 }, { 45, 48, 52 } }
local span = 96000
local pos = 0
local current = nil

function dsp_run (_, _, n_samples)
  local cnt = 1
  local first = math.floor((pos + span - 1) / span) * span
  for at = first, pos + n_samples - 1, span do
    local k = math.floor(at / span) % 4 + 1
    local t = at - pos + 1
    if current then
      for _, p in ipairs(chords[current]) do
        midiout[cnt] = { ["time"] = t, ["data"] = { 0x82, p, 0 } }
        cnt = cnt + 1
      end
    end
    for _, p in ipairs(chords[k]) do
      midiout[cnt] = { ["time"] = t, ["data"] = { 0x92, p, 90 } }
      cnt = cnt + 1
    end
    current = k
  end
  pos = pos + n_samples
end
