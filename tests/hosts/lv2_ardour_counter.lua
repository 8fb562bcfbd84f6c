-- SPDX-License-Identifier: GPL-3.0-or-later
-- An Ardour Lua DSP for tests/hosts/t_lv2_ardour.sh, placed after Cantus on its
-- track: passes MIDI through and counts, as output parameters, the notes
-- sounding now, every note-on, re-strikes (a note-on for a pitch that is
-- already sounding: the doubled notes a naive transport re-sync would make)
-- and note-offs of silent pitches (Ardour resolves the plugin's sounding
-- notes itself at a stop, so each note the plugin also ends there shows up
-- once here).
ardour {
  ["type"] = "dsp",
  name = "Cantus Test Note Counter",
  category = "Utility",
  license = "GPL-3.0-or-later",
  author = "Cantus",
  description = [[Counts sounding notes, note-ons and re-strikes on the MIDI passing through.]]
}

function dsp_ioconfig ()
  return { { midi_in = 1, midi_out = 1, audio_in = 0, audio_out = 0 } }
end

function dsp_params ()
  return {
    { ["type"] = "output", name = "Sounding", min = 0, max = 2048 },
    { ["type"] = "output", name = "Note-ons", min = 0, max = 1000000 },
    { ["type"] = "output", name = "Re-strikes", min = 0, max = 1000000 },
    { ["type"] = "output", name = "Stray offs", min = 0, max = 1000000 },
  }
end

local on = {}
local sounding, ons, restrikes, stray = 0, 0, 0, 0

function dsp_run (_, _, n_samples)
  local cnt = 1
  for _, b in pairs (midiin) do
    local d = b["data"]
    if #d == 3 then
      local kind, key = d[1] >> 4, ((d[1] & 15) << 7) | d[2]
      if kind == 9 and d[3] > 0 then
        ons = ons + 1
        if on[key] then restrikes = restrikes + 1 else on[key] = true; sounding = sounding + 1 end
      elseif kind == 8 or (kind == 9 and d[3] == 0) then
        if on[key] then on[key] = nil; sounding = sounding - 1 else stray = stray + 1 end
      end
    end
    midiout[cnt] = { ["time"] = b["time"], ["data"] = d }
    cnt = cnt + 1
  end
  local ctrl = CtrlPorts:array ()
  ctrl[1] = sounding
  ctrl[2] = ons
  ctrl[3] = restrikes
  ctrl[4] = stray
end
