#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The plugin in headless Ardour 7 (ardour7-lua, Dummy backend, no display,
# no sound card; after ../shared/hosts/ardour_test.sh).  A session at 140 BPM
# with Cantus on a MIDI track, its output recorded on a second track while
# rolling, then stopped: notes on Cantus's tick grid of 140 BPM, no doubled
# notes (Ardour sends a rounded position every cycle), nothing sounding
# after the stop.  The session is saved with a custom model chosen through a
# preset, reopened in a new process: the controls came back, the saved
# state names the model, and a second take is note for note the first.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${CANTUS_BUILD:-${B:-build}}
URI=https://github.com/cantus-midi/cantus
BPM=140
if [ "${CANTUS_SAN:-}" = 1 ]; then
  echo "skip: Ardour cannot load the sanitizer build of the plugin (covered by the plain build)"
  exit 77
fi
# An optional host: a user without Ardour skips this suite (CI installs it).
if ! command -v ardour7-lua >/dev/null; then
  echo "skip: ardour7-lua not installed (apt-get install ardour)"
  exit 77
fi
if [ ! -x "$B/tests/lilv_host" ] || [ ! -f "$B/cantus.lv2/cantus.so" ]; then
  echo "FAIL no bundle or $B/tests/lilv_host (make test B=$B builds them)"
  echo "0 passed, 1 failed"
  exit 1
fi
W=$(mktemp -d /tmp/cantus-ardour.XXXXXX)
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
ko() { fail=$((fail + 1)); echo "FAIL $1"; }

# A throwaway HOME (Ardour writes ~/.config/ardour7) holding the counter DSP;
# an LV2_PATH with the bundle and a bundle of one test preset that picks a
# custom model (Ardour has no other headless way to set a patch property).
export HOME=$W/home
mkdir -p "$HOME/.config/ardour7/scripts" "$W/lv2/cantus-test.lv2"
cp tests/hosts/lv2_ardour_counter.lua "$HOME/.config/ardour7/scripts/"
ln -s "$(cd "$B/cantus.lv2" && pwd)" "$W/lv2/cantus.lv2"
export LV2_PATH="$W/lv2:/usr/lib/lv2"
"$B/tests/lilv_host" -W "$W/custom.cantus:11" || ko "writing the custom model"
PRESET=urn:cantus:test:custom-model
cat >"$W/lv2/cantus-test.lv2/manifest.ttl" <<EOF
@prefix lv2:  <http://lv2plug.in/ns/lv2core#> .
@prefix pset: <http://lv2plug.in/ns/ext/presets#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<$PRESET> a pset:Preset ; lv2:appliesTo <$URI> ; rdfs:label "Test: custom model" ;
  rdfs:seeAlso <preset.ttl> .
EOF
cat >"$W/lv2/cantus-test.lv2/preset.ttl" <<EOF
@prefix cantus: <$URI#> .
@prefix lv2:    <http://lv2plug.in/ns/lv2core#> .
@prefix pset:   <http://lv2plug.in/ns/ext/presets#> .
@prefix rdfs:   <http://www.w3.org/2000/01/rdf-schema#> .
@prefix state:  <http://lv2plug.in/ns/ext/state#> .
<$PRESET> a pset:Preset ; lv2:appliesTo <$URI> ; rdfs:label "Test: custom model" ;
  lv2:port [ lv2:symbol "seed" ; pset:value 4242.0 ] , [ lv2:symbol "density" ; pset:value 0.8 ] ,
    [ lv2:symbol "temperature" ; pset:value 1.2 ] , [ lv2:symbol "max_voices" ; pset:value 4.0 ] ;
  state:state [ cantus:model <file://$W/custom.cantus> ] .
EOF

run() {  # NAME ARGS...: one ardour7-lua process; its checks count here
  local name=$1
  shift
  timeout 120 ardour7-lua tests/hosts/lv2_ardour.lua "$@" >"$W/$name.log" 2>&1
  local rc=$?
  grep -E '^(ok|FAIL) ' "$W/$name.log" | sed "s/^/[$name] /"
  local p f
  p=$(grep -c '^ok ' "$W/$name.log")
  f=$(grep -c '^FAIL ' "$W/$name.log")
  pass=$((pass + p)) fail=$((fail + f))
  if [ "$rc" -ne 0 ] || ! grep -qE '^[0-9]+ passed, [0-9]+ failed$' "$W/$name.log"; then
    ko "$name: ardour7-lua exited $rc before its summary"
    grep -E 'Error|error' "$W/$name.log" | head -5
  fi
  grep '^NOTE ' "$W/$name.log" >"$W/$name.notes"
}

run record record "$W/session" "$URI" "$BPM" "$PRESET"
state=$(find "$W/session/plugins" -name state.ttl 2>/dev/null | head -1)
if [ -n "$state" ] && grep -q 'custom.cantus' "$state"; then
  ok "the saved plugin state names the custom model ($(grep -o '<[^>]*custom.cantus>' "$state"))"
else
  ko "saved plugin state: ${state:-none}"
fi
run reopen reopen "$W/session" "$URI" "$BPM"
n=$(wc -l <"$W/record.notes")
if [ "$n" -ge 4 ] && cmp -s "$W/record.notes" "$W/reopen.notes"; then
  ok "after reopening, the second take is the first note for note ($n notes): model and controls came back"
else
  diff "$W/record.notes" "$W/reopen.notes" | head -10
  ko "second take differs from the first ($n notes in the first)"
fi
if grep -q 'cantus: ' "$W/record.log" "$W/reopen.log"; then
  grep 'cantus: ' "$W/record.log" "$W/reopen.log" | head -3
  ko "the plugin logged a problem"
else
  ok "no plugin log lines"
fi
echo "$pass passed, $fail failed"
if [ "$fail" -eq 0 ]; then rm -rf "$W"; else echo "kept $W"; fi
[ "$fail" -eq 0 ]
