#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Static checks of the LV2 bundle (after ../shared/hosts/validate.sh):
# every TTL parses and validates against Debian's LV2 spec bundles
# (lv2_validate = sord_validate + /usr/lib/lv2), lilv's lv2info loads the
# plugin and lists its ports and presets, every preset file is in the
# manifest, the shared object exports exactly lv2_descriptor, needs neither
# JACK nor OpenBLAS, and has no unresolved symbols.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${CANTUS_BUILD:-${B:-build}}
BUNDLE=$B/cantus.lv2
URI=https://github.com/cantus-midi/cantus
. tests/lib.sh

[ -f "$BUNDLE/cantus.so" ] || fail_suite "no bundle at $BUNDLE (make plugin B=$B)"
# An LV2_PATH holding only the bundle: lilv reads every folder of an
# LV2_PATH entry as a bundle, and $B holds obj/, bin/ ...
W=$(mktemp -d /tmp/cantus-lv2val.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/lv2"
ln -s "$(cd "$BUNDLE" && pwd)" "$W/lv2/cantus.lv2"
export LV2_PATH="$W/lv2:/usr/lib/lv2"

ttls=("$BUNDLE"/*.ttl "$BUNDLE"/presets/*.ttl)
# 1. Syntax of each file on its own.
bad=
for f in "${ttls[@]}"; do
  sordi -i turtle "$f" "file://$(cd "$(dirname "$f")" && pwd)/" >/dev/null 2>"$W/sordi.err" \
    || bad="$bad $f"
done
[ -z "$bad" ] && ok "sordi parses ${#ttls[@]} TTL files" || ko "sordi: syntax errors in$bad"
# 2. The specs' restrictions (sord_validate through lv2_validate).
if lv2_validate "${ttls[@]}" >"$W/validate.log" 2>&1 && grep -q '^Found 0 errors' "$W/validate.log"; then
  ok "lv2_validate: $(grep '^Found' "$W/validate.log")"
else
  grep -iE 'error|warn' "$W/validate.log" | head -10
  ko "lv2_validate"
fi
if sord_validate /usr/lib/lv2/*.lv2/*.ttl "${ttls[@]}" >"$W/sord.log" 2>&1 \
   && grep -q '^Found 0 errors' "$W/sord.log"; then
  ok "sord_validate with every installed spec: $(grep '^Found' "$W/sord.log")"
else
  grep -iE 'error' "$W/sord.log" | grep -v '^Found' | head -5
  # Third-party bundles in /usr/lib/lv2 may carry their own errors: count ours only.
  if ! grep -E "$BUNDLE|cantus" "$W/sord.log" | grep -qi error; then
    ok "sord_validate: no errors in the Cantus files"
  else
    ko "sord_validate"
  fi
fi
# 3. lilv loads the plugin and lists every port and preset.
if lv2ls 2>/dev/null | grep -qx "$URI"; then ok "lv2ls lists $URI"; else ko "lv2ls"; fi
lv2info "$URI" >"$W/info.txt" 2>&1
n_ports=$(grep -cE '^[[:space:]]*Port [0-9]+:' "$W/info.txt")
if [ "$n_ports" -eq 41 ] && grep -qE 'Symbol: +midi_out' "$W/info.txt" \
   && grep -qE 'Symbol: +surprise' "$W/info.txt" && grep -qE 'Symbol: +part4_channel' "$W/info.txt" && grep -qE 'Symbol: +chords' "$W/info.txt"; then
  ok "lv2info: 41 ports (midi_out ... surprise, part4_channel, chords)"
else
  head -20 "$W/info.txt"
  ko "lv2info: $n_ports ports"
fi
n_presets=$(ls "$BUNDLE"/presets/*.ttl | wc -l)
# lv2info prints the preset labels under "Presets:", up to a blank line.
listed=$(awk '/Presets:/ {on = 1; next} on && /^[[:space:]]*$/ {exit} on {n++} END {print n + 0}' \
  "$W/info.txt")
if [ "$n_presets" -ge 8 ] && [ "$listed" -eq "$n_presets" ]; then
  ok "lv2info lists all $n_presets presets"
else
  ko "presets: $n_presets files, $listed listed by lv2info"
fi
missing=
for f in "$BUNDLE"/presets/*.ttl; do
  grep -q "rdfs:seeAlso <presets/$(basename "$f")>" "$BUNDLE/manifest.ttl" || missing="$missing $(basename "$f")"
done
[ -z "$missing" ] && ok "every preset file is in the manifest" || ko "not in the manifest:$missing"
# 4. The shared object.
syms=$(nm -D --defined-only "$BUNDLE/cantus.so" | awk '$2 ~ /[TDBRVW]/ {print $3}' | grep -v '^_' | sort | tr '\n' ' ')
[ "$syms" = "lv2_descriptor " ] && ok "exports only lv2_descriptor" || ko "exported: $syms"
needed=$(readelf -d "$BUNDLE/cantus.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
if echo "$needed" | grep -qiE 'jack|openblas|blas|lilv'; then
  ko "links $needed"
else
  ok "needs only: $needed"
fi
if ldd -r "$BUNDLE/cantus.so" 2>&1 | grep -q 'undefined symbol'; then
  ko "ldd -r: undefined symbols"
else
  ok "ldd -r: no undefined symbols"
fi
[ -s "$BUNDLE/models/default.cantus" ] && ok "ships models/default.cantus" || ko "no default model"
summary
