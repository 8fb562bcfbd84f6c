#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The man pages beside the programs (plugin/cli/cantus-gen.1, cantus-info.1,
# plugin/jack/cantus-jack.1, models/train/cantus-train.1, cantus-eval.1,
# installed by `make install`) against the programs' --help: every option
# --help names (--long and -x) appears in the page and every option the page
# names appears in --help, so a new option without documentation fails here.
# Each page has the sections NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXAMPLES,
# FILES (the data folder), EXIT STATUS and SEE ALSO in that order, renders without a warning (groff -man
# -ww) and reads with `man -l`; each is in MAN_PAGES (what install copies).
# Last line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/lib.sh
export JACK_DEFAULT_SERVER="cantus_no_such_server_$$" JACK_NO_START_SERVER=1

command -v groff >/dev/null || skip_suite "groff not installed (apt-get install groff-base)"

# The option names of a text on stdin, one a line, sorted: --long-names and
# -x short ones.  Placeholders (--NAME=VALUE, --no-NAME) are not options.
options() {
  sed -e 's/--[a-z-]*[A-Z][A-Za-z_]*//g' |
    grep -oE '(^|[^A-Za-z0-9_/.-])(--[a-z][a-z0-9]*(-[a-z0-9]+)*|-[A-Za-z])([^A-Za-z0-9_-]|$)' |
    sed -E 's/^[^-]*//; s/[^A-Za-z0-9]$//' | sort -u
}

# The text of a man page's source for options(): minus signs (\-) as '-',
# font changes and other escapes (\fB, \(em, \&) removed, requests kept.
page_text() {
  sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\(..//g' -e 's/\\&//g' "$1"
}

installed_pages=$(make -s --no-print-directory -pn B="$B" 2>/dev/null |
  sed -n 's/^MAN_PAGES := //p' | tail -1)

for page in plugin/cli/cantus-gen.1 plugin/cli/cantus-info.1 plugin/jack/cantus-jack.1 \
            models/train/cantus-train.1 models/train/cantus-eval.1; do
  tool=$(basename "$page" .1)
  if [ ! -f "$page" ]; then
    ko "$tool: no man page $page"
    continue
  fi
  if [ ! -x "$B/bin/$tool" ]; then
    ko "$tool: missing (make all)"
    continue
  fi
  case " $installed_pages " in
    *" $page "*) ok "$tool: $page is installed (MAN_PAGES)" ;;
    *) ko "$tool: $page is not in MAN_PAGES (make install leaves it out)" ;;
  esac
  "$B/bin/$tool" --help </dev/null >"$tmp/help" 2>&1
  options <"$tmp/help" >"$tmp/help.opts"
  page_text "$page" | options >"$tmp/page.opts"
  n=$(wc -l <"$tmp/help.opts")
  check "$tool --help names options ($n)" test "$n" -ge 3
  missing=$(comm -23 "$tmp/help.opts" "$tmp/page.opts" | tr '\n' ' ')
  extra=$(comm -13 "$tmp/help.opts" "$tmp/page.opts" | tr '\n' ' ')
  if [ -z "$missing" ]; then
    ok "$tool: every option of --help is in $page"
  else
    ko "$tool: $page does not document: $missing"
  fi
  if [ -z "$extra" ]; then
    ok "$tool: every option of $page is in --help"
  else
    ko "$tool: $page names options --help does not: $extra"
  fi
  # The required sections in this order (others, like ENVIRONMENT, may come between).
  sections=$(grep -E '^\.SH ' "$page" | sed -e 's/^\.SH *//' -e 's/"//g' |
    grep -xE 'NAME|SYNOPSIS|DESCRIPTION|OPTIONS|EXAMPLES|FILES|EXIT STATUS|SEE ALSO' | tr '\n' ',')
  check "$tool: sections NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXAMPLES, FILES, EXIT STATUS, SEE ALSO ($sections)" \
    test "$sections" = "NAME,SYNOPSIS,DESCRIPTION,OPTIONS,EXAMPLES,FILES,EXIT STATUS,SEE ALSO,"
  check "$tool: .TH names the program" grep -qE "^\.TH ${tool^^} 1 " "$page"
  check "$tool: NAME line is '$tool \\- ...'" grep -qE "^$tool \\\\- " "$page"
  groff -man -Tutf8 -ww -z "$page" >"$tmp/groff" 2>&1
  if [ $? -eq 0 ] && [ ! -s "$tmp/groff" ]; then
    ok "$tool: groff -man -ww renders $page without a warning"
  else
    ko "$tool: groff -man -ww on $page: $(head -3 "$tmp/groff" | tr '\n' ' ')"
  fi
  if command -v man >/dev/null; then
    LC_ALL=C MANWIDTH=80 man -l "$page" 2>"$tmp/man.err" | col -bx 2>/dev/null | tr -s " " >"$tmp/man.txt"
    check "$tool: man -l shows NAME and the data folder's FILES" \
      bash -c "grep -q '^NAME' '$tmp/man.txt' && grep -q -- '$tool - ' '$tmp/man.txt' && grep -q 'share/cantus' '$tmp/man.txt' && [ ! -s '$tmp/man.err' ]"
  else
    skip "$tool-man" "man not installed (apt-get install man-db)"
  fi
done

# The extraction itself: a help text with a new option the page lacks is
# caught (the test above cannot pass by finding nothing).
printf '  --model FILE  a model\n  -o FILE  out\n  --new-thing N  new\n  --NAME=VALUE, --no-NAME\n' |
  options >"$tmp/x.opts"
check "options(): finds --model, -o, --new-thing and no placeholders" \
  test "$(tr '\n' ' ' <"$tmp/x.opts")" = "--model --new-thing -o "
summary
