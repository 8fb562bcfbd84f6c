-- SPDX-License-Identifier: GPL-3.0-or-later
-- Chord following in headless Ardour 7 (run by tests/hosts/t_lv2_ardour_chords.sh
-- with ardour7-lua on the "None (Dummy)" backend).
--   ardour7-lua lv2_ardour_chords.lua prepare SESSION_DIR URI BPM STRENGTH SECONDS
--     creates a session at BPM with MIDI tracks "Chords" (the chord player
--     DSP, lv2_ardour_chordgen.lua), "Gen" (Cantus: chord source split,
--     chord split C4, chord strength STRENGTH, density 1) and "Rec"; records
--     the chord player onto Gen: the chord region on Cantus's own track.
--     Then disconnects the player and saves.
--   ardour7-lua lv2_ardour_chords.lua take SESSION_DIR URI BPM MUTE SECONDS
--     reopens it; MUTE 1 mutes Gen's chord region (the same session without
--     chords); records Gen's output (Cantus) on Rec from bar 1 while the
--     region plays into Cantus; prints the take's notes that start 4 beats
--     or more before the stop (whose exact time varies) as "NOTE <pitch>
--     <beat>", the chord region's as "CHORD <pitch> <start> <end>" (beats),
--     and "FIT <hits> <n>": of the n take notes that sound under a chord held
--     since at least a beat before (the lookahead), hits are its tones.
-- Both end with "N passed, M failed".
local mode, dir, uri, bpm = arg[1], arg[2], arg[3], tonumber(arg[4])
local opt, roll_s = tonumber(arg[5]), tonumber(arg[6])
local pass, fail = 0, 0
local function check(ok, what)
  if ok then pass = pass + 1; print("ok   " .. what) else fail = fail + 1; print("FAIL " .. what) end
end
local function finish()
  print(pass .. " passed, " .. fail .. " failed")
end

assert(AudioEngine:set_backend("None (Dummy)", "", ""), "no Dummy backend")
AudioEngine:set_buffer_size(256)

local midi = ARDOUR.DataType("midi")

-- The index of a Cantus control by label, for the *_plugin_insert_param calls.
local function param_index(pi, label)
  local plug = pi:plugin(0)
  for j = 0, plug:parameter_count() - 1 do
    local pid = plug:nth_parameter(j, false)
    if plug:parameter_is_input(pid) and plug:parameter_label(pid) == label then
      return j
    end
  end
end

-- A Temporal::Beats note time as a number of beats (1920 ticks a beat).
local function beats(t)
  local b, k = t:str():match("^(%d+):(%d+)$")
  return tonumber(b) + tonumber(k) / 1920.0
end

local function notes_of(region)
  local out = {}
  for n in ARDOUR.LuaAPI.note_list(region:to_midiregion():midi_source(0):model()):iter() do
    out[#out + 1] = { pitch = n:note(), on = beats(n:time()), off = beats(n:time() + n:length()) }
  end
  table.sort(out, function(a, b)
    if a.on == b.on then return a.pitch < b.pitch end
    return a.on < b.on
  end)
  return out
end

local function roll_and_stop(seconds)
  Session:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
  sleep(seconds)
  check(Session:transport_rolling(), "transport rolling")
  Session:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
  sleep(1.5) -- the butler finishes the capture and makes the region
  check(not Session:transport_rolling(), "transport stopped")
end

if mode == "prepare" then
  assert(create_session(dir, "cantus-chords", 48000), "create_session failed (" .. dir .. " exists?)")
  local tm = Temporal.TempoMap.fetch_writable()
  tm:set_tempo(Temporal.Tempo(bpm, bpm, 4), Temporal.timepos_t(0))
  Temporal.TempoMap.update(tm)
  local function new_midi_track(name)
    return Session:new_midi_track(ARDOUR.ChanCount(midi, 1), ARDOUR.ChanCount(midi, 1), false,
      ARDOUR.PluginInfo(), nil, nil, 1, name, ARDOUR.PresentationInfo.max_order,
      ARDOUR.TrackMode.Normal, false):front()
  end
  local chords = new_midi_track("Chords")
  local gen = new_midi_track("Gen")
  local rec = new_midi_track("Rec")
  local player = ARDOUR.LuaAPI.new_luaproc(Session, "Cantus Test Chord Player")
  check(not player:isnil() and chords:add_processor_by_index(player, 0, nil, true) == 0,
    "chord player on track Chords")
  local cantus = ARDOUR.LuaAPI.new_plugin(Session, uri, ARDOUR.PluginType.LV2, "")
  check(not cantus:isnil(), "Cantus instantiated by URI " .. uri)
  if cantus:isnil() then finish(); close_session(); return end
  check(gen:add_processor_by_index(cantus, 0, nil, true) == 0, "Cantus inserted on MIDI track Gen")
  local pi = cantus:to_insert()
  local set = { ["Chord source"] = 2, ["Chord split"] = 60, ["Chord strength"] = opt,
                ["Seed"] = 7, ["Density"] = 1 }
  for label, v in pairs(set) do
    local j = param_index(pi, label)
    check(j ~= nil and ARDOUR.LuaAPI.set_plugin_insert_param(pi, j, v), "control " .. label .. " = " .. v)
  end
  chords:output():disconnect_all(nil)
  gen:input():disconnect_all(nil)
  gen:output():disconnect_all(nil)
  check(chords:output():midi(0):connect(gen:input():midi(0):name()) == 0, "Chords out -> Gen in")
  check(gen:output():midi(0):connect(rec:input():midi(0):name()) == 0, "Gen out -> Rec in")
  gen = gen:to_track()
  gen:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
  Session:maybe_enable_record(false)
  sleep(0.5)
  roll_and_stop(roll_s)
  local sent, errors = ARDOUR.LuaAPI.get_processor_param(player, 0, false),
    ARDOUR.LuaAPI.get_processor_param(player, 1, false)
  check(sent >= 9 and errors == 0,
    string.format("the chord player played %d chord notes (%d Lua errors)", sent, errors))
  gen:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)
  chords:output():disconnect_all(nil)
  local n_regions, n_chord_notes = 0, 0
  for r in gen:playlist():region_list():iter() do
    n_regions = n_regions + 1
    n_chord_notes = n_chord_notes + #notes_of(r)
  end
  check(n_regions == 1 and n_chord_notes >= 9,
    string.format("the chord region on Gen: %d regions, %d chord notes", n_regions, n_chord_notes))
  Session:save_state("", false, false, false, false, false)
  close_session()
  finish()
  return
end

-- take
assert(load_session(dir, "cantus-chords"), "load_session failed")
local gen = Session:route_by_name("Gen"):to_track()
local rec = Session:route_by_name("Rec"):to_track()
local cantus = gen:nth_plugin(0)
check(not cantus:isnil() and cantus:display_name() == "Cantus", "Cantus is back on Gen")
local pi = cantus:to_insert()
check(ARDOUR.LuaAPI.get_plugin_insert_param(pi, param_index(pi, "Chord source"), false) == 2,
  "chord source split came back")
local chord_notes = {}
for r in gen:playlist():region_list():iter() do
  r:set_muted(opt == 1)
  for _, n in ipairs(notes_of(r)) do chord_notes[#chord_notes + 1] = n end
end
check(#chord_notes >= 9, string.format("%d chord notes on Gen%s", #chord_notes,
  opt == 1 and " (muted)" or ""))
for _, n in ipairs(chord_notes) do
  print(string.format("CHORD %d %.4f %.4f", n.pitch, n.on, n.off))
end
Session:request_locate(0, false, ARDOUR.LocateTransportDisposition.MustStop,
  ARDOUR.TransportRequestSource.TRS_UI)
sleep(0.5)
local before = {}
for r in rec:playlist():region_list():iter() do before[r:name()] = true end
rec:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
Session:maybe_enable_record(false)
sleep(0.5)
roll_and_stop(roll_s)
rec:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)
local take = {}
for r in rec:playlist():region_list():iter() do
  if not before[r:name()] then
    for _, n in ipairs(notes_of(r)) do take[#take + 1] = n end
  end
end
check(#take >= 8, string.format("Cantus played: %d notes recorded", #take))
local function held(b)
  local set, any = {}, false
  for _, c in ipairs(chord_notes) do
    if c.on <= b and b < c.off then set[c.pitch % 12] = true; any = true end
  end
  return set, any
end
local function same_set(a, b)
  for k in pairs(a) do if not b[k] then return false end end
  for k in pairs(b) do if not a[k] then return false end end
  return true
end
-- The notes up to 4 beats before the stop (whose exact time varies).
local cutoff = roll_s * bpm / 60.0 - 4.0
local hits, n = 0, 0
for _, t in ipairs(take) do
  if t.on >= cutoff then break end
  print(string.format("NOTE %d %.4f", t.pitch, t.on))
  local now, any = held(t.on)
  if any and same_set(now, held(t.on - 1.0)) then
    n = n + 1
    if now[t.pitch % 12] then hits = hits + 1 end
  end
end
print(string.format("FIT %d %d", hits, n))
close_session()
finish()
