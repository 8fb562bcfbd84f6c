#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
# The checks of tests/tools/t_readme.sh on a README (see there).  Usage:
#   readme_check.py README.md DATA_DIR [OTHER.md ...]
# DATA_DIR holds help.cantus-{gen,jack,train,eval,info} (each program's
# --help), targets (the Makefile's targets, one a line) and styles.tsv (the
# shipped models' styles: file, number, name).  The OTHER.md files get only
# the link check.  Prints one line per case, "ok TEXT" or "FAIL TEXT"
# (tests/lib.sh's words), nothing else.
import os
import re
import sys

TOOLS = ["cantus-gen", "cantus-jack", "cantus-train", "cantus-eval", "cantus-info"]
# Programs of others whose options the README may show; an option after one
# of them (in code) is theirs, not checked.
FOREIGN = ["jalv", "fluidsynth", "jackd", "jack_connect", "jack_lsp", "jack_transport",
           "apt-get", "debootstrap", "man", "make", "qjackctl", "jq"]
# Options the chord-following branches (issue 11) add; until they are merged
# the check names them so.
PENDING = {("cantus-gen", "--chords"), ("cantus-jack", "--chord-in"),
           ("cantus-jack", "--chord-device")}

OPT_RE = re.compile(r"(?<![A-Za-z0-9_/.-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?![A-Za-z0-9_-])")
TOOL_RE = re.compile(r"(?<![A-Za-z0-9_/.-])(" + "|".join(map(re.escape, TOOLS)) + r")(?![A-Za-z0-9_-])")
FOREIGN_RE = re.compile(r"(?<![A-Za-z0-9_/.-])(" + "|".join(map(re.escape, FOREIGN)) + r")(?![A-Za-z0-9_-])")
# `make TARGET` where a command starts: at the start of a code span or code
# line, or after ; & | ( # : $ or the words "or", "then" (not "gcc make
# pkg-config", a package list).
MAKE_RE = re.compile(r"(?:^|[;&|(#:$]|\bor\b|\bthen\b)[ \t]*make((?:\s+(?:-\S+|[A-Z_]+=\S*))*)\s+"
                     r"([a-z][a-z0-9-]*)(?![A-Za-z0-9_/.=-])", re.M)
LINK_RE = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
SPAN_RE = re.compile(r"`([^`]+)`")


def out(ok, text):
    print(("ok   " if ok else "FAIL ") + text)


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def blocks(lines):
    """Paragraphs: lists of (line number, text, is_code).  A fenced code
    line is a paragraph of its own (with its backslash continuations); an
    indented code block line too; prose runs to the next blank line or
    heading.  Headings come as ("#", level, text)."""
    para, fence, cont = [], False, False
    for n, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            if para:
                yield para
                para = []
            fence = not fence
            continue
        if fence or (line.startswith("    ") and not para and line.strip()):
            if cont and para:
                para.append((n, line, True))
            else:
                if para:
                    yield para
                para = [(n, line, True)]
            cont = line.rstrip().endswith("\\")
            if not cont:
                yield para
                para = []
            continue
        cont = False
        if not line.strip():
            if para:
                yield para
                para = []
            continue
        m = re.match(r"^(#+)\s+(.*)$", line)
        if m:
            if para:
                yield para
                para = []
            yield ("#", len(m.group(1)), m.group(2), n)
            continue
        para.append((n, line, False))
    if para:
        yield para


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    seen, result = {}, set()
    fence = False
    for line in read_lines(path):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        m = re.match(r"^#+\s+(.*)$", line)
        if m and not fence:
            s = slug(m.group(1))
            k = seen.get(s, 0)
            result.add(s if k == 0 else "%s-%d" % (s, k))
            seen[s] = k + 1
    return result


def check_links(path, lines):
    base = os.path.dirname(os.path.abspath(path))
    name = os.path.relpath(path)
    bad, n_links = 0, 0
    fence = False
    for n, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if fence:
            continue
        for _, target in LINK_RE.findall(SPAN_RE.sub("", line)):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            n_links += 1
            file, _, anchor = target.partition("#")
            full = os.path.normpath(os.path.join(base, file)) if file else os.path.abspath(path)
            if not os.path.exists(full):
                out(False, "%s:%d: link %s: no such file %s" % (name, n, target, os.path.relpath(full)))
                bad += 1
            elif anchor and full.endswith(".md") and anchor not in anchors(full):
                out(False, "%s:%d: link %s: %s has no heading with the anchor #%s" %
                    (name, n, target, os.path.relpath(full), anchor))
                bad += 1
    if bad == 0:
        out(True, "%s: every relative link resolves (%d)" % (name, n_links))


def main():
    readme, data = sys.argv[1], sys.argv[2]
    others = sys.argv[3:]
    name = os.path.relpath(readme)
    lines = read_lines(readme)
    helps = {}
    for t in TOOLS:
        with open(os.path.join(data, "help." + t), encoding="utf-8", errors="replace") as f:
            helps[t] = set(OPT_RE.findall(f.read()))
    with open(os.path.join(data, "targets")) as f:
        targets = set(f.read().split())
    shipped = []  # (file, number, name)
    with open(os.path.join(data, "styles.tsv")) as f:
        for row in f:
            if row.strip():
                file, num, style = row.rstrip("\n").split("\t")
                shipped.append((file, int(num), style))

    # --options and make targets.
    used = {t: {} for t in TOOLS}  # tool -> option -> first line
    unattributed = {}               # option -> first line
    make_used = {}                  # target -> first line
    heading_tool = None
    for b in blocks(lines):
        if b[0] == "#":
            tools = TOOL_RE.findall(b[2])
            heading_tool = tools[-1] if tools else None
            continue
        # The paragraph as one text (a code span may wrap), positions mapped
        # back to line numbers.
        text = "\n".join(t for _, t, _ in b)
        first, is_code = b[0][0], b[0][2]

        def line_of(pos):
            return first + text.count("\n", 0, pos)

        events = []  # (position, kind, value)
        for m in TOOL_RE.finditer(text):
            events.append((m.start(), "tool", m.group(1)))
        for m in OPT_RE.finditer(text):
            events.append((m.start(), "opt", m.group(0)))
        spans = [(0, text)] if is_code else [(m.start(1), m.group(1)) for m in SPAN_RE.finditer(text)]
        for off, part in spans:
            for m in FOREIGN_RE.finditer(part):
                events.append((off + m.start(), "foreign", m.group(1)))
            for m in MAKE_RE.finditer(part):
                make_used.setdefault(m.group(2), line_of(off + m.start()))
        events.sort()
        current = None
        for pos, kind, value in events:
            n = line_of(pos)
            if kind in ("tool", "foreign"):
                current = value
            elif current in TOOLS or (current is None and heading_tool):
                used[current or heading_tool].setdefault(value, n)
            elif current is None:
                unattributed.setdefault(value, n)
    for t in TOOLS:
        bad = 0
        for opt, n in sorted(used[t].items(), key=lambda x: x[1]):
            if opt in helps[t]:
                continue
            bad += 1
            why = "%s:%d: %s %s is not an option of %s (not in '%s --help')" % (name, n, t, opt, t, t)
            if (t, opt) in PENDING:
                why += "; chord following (issue 11) adds it: expected to pass once the chord branches are merged"
            out(False, why)
        if bad == 0:
            out(True, "%s: every option named for %s is in its --help (%d)" % (name, t, len(used[t])))
    all_help = set().union(*helps.values())
    bad = 0
    for opt, n in sorted(unattributed.items(), key=lambda x: x[1]):
        if opt not in all_help:
            out(False, "%s:%d: %s: no program named before it in its paragraph, and no Cantus program has it (%s)" %
                (name, n, opt, ", ".join(TOOLS)))
            bad += 1
    if bad == 0:
        out(True, "%s: every option named without its program is an option of a Cantus program (%d)" %
            (name, len(unattributed)))
    bad = 0
    for target, n in sorted(make_used.items(), key=lambda x: x[1]):
        if target not in targets:
            out(False, "%s:%d: make %s: the Makefile has no target '%s'" % (name, n, target, target))
            bad += 1
    if bad == 0:
        out(True, "%s: every make target named exists (%d: %s)" % (name, len(make_used), " ".join(sorted(make_used))))

    # Links.
    check_links(readme, lines)
    for o in others:
        check_links(o, read_lines(o))

    # The styles table: the rows under the heading "The styles" whose first
    # cell starts with `name`, optionally "(N)": N must be the style's number
    # in the default model.
    names = {s for _, _, s in shipped}
    default = {s: num for f, num, s in shipped if os.path.basename(f) == "default.cantus"}
    explained, in_section = {}, False
    for n, line in enumerate(lines, 1):
        m = re.match(r"^(#+)\s+(.*)$", line)
        if m:
            in_section = m.group(2).strip().lower() == "the styles"
            continue
        if in_section:
            r = re.match(r"^\|\s*`([^`]+)`\s*(?:\((\d+)\))?", line)
            if r:
                explained[r.group(1)] = (n, int(r.group(2)) if r.group(2) else None)
    if not explained:
        out(False, "%s: no styles table found (rows '| `style` (N) | ...' under the heading 'The styles')" % name)
    bad = 0
    for style, (n, num) in sorted(explained.items(), key=lambda x: x[1][0]):
        if style not in names:
            out(False, "%s:%d: style %s is explained, but no shipped model has it (cantus-info models/*.cantus: %s)" %
                (name, n, style, " ".join(sorted(names))))
            bad += 1
        elif num is not None and default.get(style) != num:
            out(False, "%s:%d: style %s is numbered %d, but models/default.cantus numbers it %s" %
                (name, n, style, num, default.get(style, "(it has no such style)")))
            bad += 1
    for style in sorted(names - set(explained)):
        files = " ".join(sorted({os.path.basename(f) for f, _, s in shipped if s == style}))
        out(False, "%s: style %s of %s is not explained in the styles table" % (name, style, files))
        bad += 1
    if bad == 0 and explained:
        out(True, "%s: the styles table explains exactly the shipped models' styles (%d)" % (name, len(explained)))

    # The quick start: CI's fresh-Debian check runs `make run` then `make test`.
    cmds, in_qs, fence = [], False, False
    for line in lines:
        m = re.match(r"^#+\s+(.*)$", line)
        if m and not fence:
            if in_qs:
                break
            in_qs = m.group(1).lower().startswith("quick start")
            continue
        if in_qs and line.lstrip().startswith("```"):
            if fence:
                break
            fence = True
            continue
        if in_qs and fence and line.strip() and not line.lstrip().startswith("#"):
            cmds.append(" ".join(line.split("#")[0].split()))
    if cmds == ["make run", "make test"]:
        out(True, "%s: the quick start's commands are make run, make test" % name)
    else:
        out(False, "%s: the quick start's code block runs %s; .ci/fresh-debian.sh runs 'make run' then 'make test' as the README's quick start" %
            (name, cmds or "nothing (no 'Quick start' heading with a code block)"))


main()
