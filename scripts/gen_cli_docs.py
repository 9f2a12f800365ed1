#!/usr/bin/env python3
"""Regenerates docs/cli.md from `rexdrug --help` (tests/pipeline/test_cli_docs.cpp fails when
the two drift apart).

    python3 scripts/gen_cli_docs.py build/cli/rexdrug > docs/cli.md
"""
import subprocess, sys, re
BIN = sys.argv[1]
def help_of(cmd):
    return subprocess.run([BIN] + cmd + ["--help"], capture_output=True, text=True, env={"OMP_WAIT_POLICY":"PASSIVE","PATH":"/usr/bin:/bin"}).stdout
def parse(text):
    desc = text.splitlines()[0] if text else ""
    opts, subs, section, cur = [], [], "", None
    for line in text.splitlines():
        if line and not line.startswith(" "):
            section = line; continue
        if section.startswith("Options") :
            m = re.match(r"^  (\S.*?)(?:\s{2,}(.*))?$", line)
            if m and m.group(1).startswith("-"):
                cur = [m.group(1).strip(), (m.group(2) or "").strip()]; opts.append(cur)
            elif cur and line.strip():
                cur[1] += " " + line.strip()
        elif section.startswith("Subcommands"):
            m = re.match(r"^  (\S+)\s+(.*)$", line)
            if m: subs.append((m.group(1), m.group(2).strip()))
    return desc, opts, subs
out = ['# Command reference\n\nEvery command and option of `rexdrug`, from `--help` (tests/pipeline/test_cli_docs.cpp checks that every option printed by `rexdrug <cmd> --help` is named in its section here). Guides: docs/pipeline.md, docs/data.md, docs/sft.md, docs/grpo.md, docs/traces.md, docs/inference.md, docs/eval.md.\n']
def walk(cmd, desc_from_parent=""):
    text = help_of(cmd)
    desc, opts, subs = parse(text)
    name = " ".join(["rexdrug"] + cmd)
    out.append(f"## `{name}`\n")
    if desc_from_parent: out.append(desc_from_parent + "\n")
    usage = [l for l in text.splitlines() if l.startswith("Usage:")]
    if usage: out.append("```\n" + usage[0].replace("Usage: " + BIN, "rexdrug" if not cmd else "rexdrug") + "\n```\n")
    if opts:
        out.append("| option | meaning |\n|---|---|")
        for o, d in opts:
            first = o.split()[0]; rest = o[len(first):].strip()
            shown = ", ".join(f"`{x}`" for x in first.split(","))
            if rest: shown += f" {rest.replace('|', '/')}"
            out.append(f"| {shown} | {d.replace('|', '/')} |")
        out.append("")
    if subs:
        out.append("Subcommands: " + ", ".join(f"`{s}`" for s, _ in subs) + "\n")
    for s, d in subs:
        walk(cmd + [s], d)
walk([])
print("\n".join(out))
