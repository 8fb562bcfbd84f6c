-- SPDX-License-Identifier: GPL-3.0-or-later
-- An Ardour Lua DSP for tests/hosts/t_lv2_ardour_chords.sh: a chord player.
-- While the transport rolls it holds C, F, G, Am (below middle C, on
-- channel 3), a chord every 96000 samples of the transport (a bar at 120
-- BPM and 48 kHz: the chords change on the bar lines), letting the last one
-- go at each change and at a stop.  Its output is recorded onto Cantus's
-- track as the chord region.
ardour {
  ["type"] = "dsp",
  name = "Cantus Test Chord Player",
  category = "Utility",
  license = "GPL-3.0-or-later",
  author = "Cantus",
  description = [[Plays C F G Am on the bar lines (96000 samples a bar), below middle C.]]
}

function dsp_ioconfig ()
  return { { midi_in = 1, midi_out = 1, audio_in = 0, audio_out = 0 } }
end

function dsp_params ()
  return { { ["type"] = "output", name = "Chord notes", min = 0, max = 1000000 },
           { ["type"] = "output", name = "Errors", min = 0, max = 1000000 } }
end

local sent, errors = 0, 0
local chords = { { 48, 52, 55 }, { 53, 57, 48 }, { 43, 47, 50 }, { 45, 48, 52 } }
local span = 96000
local current = nil

local function run (n_samples)
  local cnt = 1
  local function change (t, k)
    if current then
      for _, p in ipairs(chords[current]) do
        midiout[cnt] = { ["time"] = t, ["data"] = { 0x82, p, 0 } }
        cnt = cnt + 1
      end
    end
    if k then
      for _, p in ipairs(chords[k]) do
        midiout[cnt] = { ["time"] = t, ["data"] = { 0x92, p, 90 } }
        cnt = cnt + 1
        sent = sent + 1
      end
    end
    current = k
  end
  if not Session:transport_rolling() then
    if current then change(1, nil) end
    return
  end
  local pos = Session:transport_sample()
  -- The chord of the cycle's first sample (a bar line may fall right on it),
  -- then the bar lines inside the cycle.
  local k = math.floor(pos / span) % 4 + 1
  if current ~= k then
    change(1, k)
  end
  local first = math.floor(pos / span) * span + span
  for at = first, pos + n_samples - 1, span do
    change(at - pos + 1, math.floor(at / span) % 4 + 1)
  end
end

function dsp_run (_, _, n_samples)
  if not pcall(run, n_samples) then errors = errors + 1 end
  local ctrl = CtrlPorts:array ()
  ctrl[1] = sent
  ctrl[2] = errors
end
