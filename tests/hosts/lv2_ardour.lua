-- SPDX-License-Identifier: GPL-3.0-or-later
-- Headless Ardour 7 test of the Cantus LV2 plugin (run by tests/hosts/t_lv2_ardour.sh
-- with ardour7-lua on the "None (Dummy)" backend; after
-- ../shared/hosts/ardour_midi_record.lua).
--   ardour7-lua lv2_ardour.lua record SESSION_DIR URI BPM PRESET_URI
--     creates a session at BPM, puts Cantus on MIDI track "Gen" (by URI)
--     followed by the note counter DSP, loads PRESET_URI (controls and a
--     custom model), records Gen's output on track "Rec" while rolling from
--     bar 1, stops, checks, saves.
--   ardour7-lua lv2_ardour.lua reopen SESSION_DIR URI BPM
--     reopens the saved session, checks the plugin's controls came back,
--     records a second take from bar 1, checks it.
-- Both print the take's notes starting in the first 12 beats as
-- "NOTE <pitch> <beats:ticks>" (the stop's exact time varies) so the shell
-- can compare the takes (the same model, controls and timeline give the
-- same notes: the model came back too), and end with "N passed, M failed".
local mode, dir, uri, bpm = arg[1], arg[2], arg[3], tonumber(arg[4])
local preset = arg[5]
local roll_s = 6.0
local pass, fail = 0, 0
local function check(ok, what)
  if ok then pass = pass + 1; print("ok   " .. what) else fail = fail + 1; print("FAIL " .. what) end
end
local function finish()
  print(pass .. " passed, " .. fail .. " failed")
end

-- The Dummy backend with a 256-frame period, before the engine starts.
assert(AudioEngine:set_backend("None (Dummy)", "", ""), "no Dummy backend")
AudioEngine:set_buffer_size(256)

local midi = ARDOUR.DataType("midi")
local gen, rec, cantus, counter
if mode == "record" then
  assert(create_session(dir, "cantus-test", 48000), "create_session failed (" .. dir .. " exists?)")
  local tm = Temporal.TempoMap.fetch_writable()
  tm:set_tempo(Temporal.Tempo(bpm, bpm, 4), Temporal.timepos_t(0))
  Temporal.TempoMap.update(tm)
  local function new_midi_track(name)
    return Session:new_midi_track(ARDOUR.ChanCount(midi, 1), ARDOUR.ChanCount(midi, 1), false,
      ARDOUR.PluginInfo(), nil, nil, 1, name, ARDOUR.PresentationInfo.max_order,
      ARDOUR.TrackMode.Normal, false):front()
  end
  gen = new_midi_track("Gen")
  rec = new_midi_track("Rec")
  cantus = ARDOUR.LuaAPI.new_plugin(Session, uri, ARDOUR.PluginType.LV2, "")
  check(not cantus:isnil(), "Cantus instantiated by URI " .. uri)
  if cantus:isnil() then finish(); close_session(); return end
  check(gen:add_processor_by_index(cantus, 0, nil, true) == 0, "Cantus inserted on MIDI track Gen")
  counter = ARDOUR.LuaAPI.new_luaproc(Session, "Cantus Test Note Counter")
  check(not counter:isnil() and gen:add_processor_by_index(counter, 1, nil, true) == 0,
    "note counter inserted after it")
  local plug = cantus:to_insert():plugin(0)
  local pr = plug:preset_by_uri(preset)
  check(pr ~= nil and plug:load_preset(pr), "preset " .. preset .. " (custom model) loaded")
  gen:output():disconnect_all(nil)
  check(gen:output():midi(0):connect(rec:input():midi(0):name()) == 0, "Gen out -> Rec in")
else
  assert(load_session(dir, "cantus-test"), "load_session failed")
  gen = Session:route_by_name("Gen")
  rec = Session:route_by_name("Rec"):to_track()
  cantus = gen:nth_plugin(0)
  counter = gen:nth_plugin(1)
  check(not cantus:isnil() and cantus:display_name() == "Cantus", "Cantus is back on Gen")
  check(not counter:isnil(), "the counter is back")
  -- Request the play head at bar 1 (the session saved it where it stopped).
  Session:request_locate(0, false, ARDOUR.LocateTransportDisposition.MustStop,
    ARDOUR.TransportRequestSource.TRS_UI)
  sleep(0.5)
end

-- Controls by label (the preset sets Seed 4242, Temperature 1.2, Density 0.8).
local pi = cantus:to_insert()
local plug = pi:plugin(0)
local function param(label)
  for j = 0, plug:parameter_count() - 1 do
    local pid = plug:nth_parameter(j, false)
    if plug:parameter_is_input(pid) and plug:parameter_label(pid) == label then
      return ARDOUR.LuaAPI.get_plugin_insert_param(pi, j, false)
    end
  end
end
check(param("Seed") == 4242 and math.abs(param("Temperature") - 1.2) < 1e-6
  and math.abs(param("Density") - 0.8) < 1e-6,
  string.format("controls: seed %s, temperature %s, density %s", tostring(param("Seed")),
    tostring(param("Temperature")), tostring(param("Density"))))

local before = {}
for r in rec:playlist():region_list():iter() do before[r:name()] = true end
rec:rec_enable_control():set_value(1, PBD.GroupControlDisposition.NoGroup)
Session:maybe_enable_record(false)
sleep(0.5)
local function out(j) return ARDOUR.LuaAPI.get_processor_param(counter, j, false) end
local ons0, restrikes0, stray0 = out(1), out(2), out(3)
Session:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
sleep(roll_s)
check(Session:transport_rolling(), "transport rolling")
Session:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
sleep(1.5) -- the butler finishes the capture and makes the region
check(not Session:transport_rolling(), "transport stopped")
check(out(0) == 0, "nothing sounding after the stop (" .. tostring(out(0)) .. " notes on)")
check(out(2) - restrikes0 == 0, "no doubled note-ons (" .. tostring(out(2) - restrikes0) .. " re-strikes)")
local passed_ons = out(1) - ons0

-- The new take's notes.
local notes, take = {}, nil
for r in rec:playlist():region_list():iter() do
  if not before[r:name()] then
    take = r
    for n in ARDOUR.LuaAPI.note_list(r:to_midiregion():midi_source(0):model()):iter() do
      notes[#notes + 1] = n
    end
  end
end
check(take ~= nil, "a take was recorded")
table.sort(notes, function(a, b)
  if a:time() == b:time() then return a:note() < b:note() end
  return a:time() < b:time()
end)
local on_grid, doubled, overlapping = true, 0, 0
local last_end = {}
for _, n in ipairs(notes) do
  local b, t = n:time():str():match("^(%d+):(%d+)$")
  t = tonumber(t)
  -- Cantus's grid is 12 ticks per quarter = 160 of Ardour's 1920.
  local r = t % 160
  if r > 1 and r < 159 then on_grid = false end
  if tonumber(b) < 12 then
    print(string.format("NOTE %d %s", n:note(), n:time():str()))
  end
  local prev = last_end[n:note()]
  if prev and prev.start == n:time() then doubled = doubled + 1
  elseif prev and n:time() < prev.stop then overlapping = overlapping + 1 end
  last_end[n:note()] = { start = n:time(), stop = n:time() + n:length() }
end
check(#notes >= 4, string.format("recorded %d notes (%d note-ons passed the counter)", #notes, passed_ons))
-- The notes cut by the stop end where the take ends.  Ardour sends its own
-- note-offs for them at a stop (Plugin::resolve_midi), so when Cantus ends
-- them too, each shows up once as a note-off of a silent pitch.
local take_end = nil
for _, n in ipairs(notes) do
  local e = n:time() + n:length()
  if take_end == nil or take_end < e then take_end = e end
end
local cut = 0
for _, n in ipairs(notes) do
  local e = n:time() + n:length()
  if take_end ~= nil and not (e < take_end) then cut = cut + 1 end
end
local doubled_offs = out(3) - stray0
check(doubled_offs == cut, string.format(
  "Cantus ended the %d notes sounding at the stop itself (%d note-offs besides Ardour's)",
  cut, doubled_offs))
check(on_grid, "every note starts on Cantus's tick grid at " .. bpm .. " BPM (1/12 beat)")
check(doubled == 0 and overlapping == 0,
  string.format("no doubled or overlapping notes (%d doubled, %d overlapping)", doubled, overlapping))

rec:rec_enable_control():set_value(0, PBD.GroupControlDisposition.NoGroup)
Session:save_state("", false, false, false, false, false)
close_session()
finish()
