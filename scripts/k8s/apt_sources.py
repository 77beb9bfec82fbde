#!/usr/bin/env python3
"""The deb and deb-src lines of the e2e tier's private apt sources, derived from the host's own apt
sources, so a node behind a company mirror fetches Kubernetes' source from that mirror.

Read, as apt reads them: `/etc/apt/sources.list` and `/etc/apt/sources.list.d/*.list` (one-line
format), and `/etc/apt/sources.list.d/*.sources` (deb822). Kept: every enabled entry (deb or deb-src)
of the host's release, that is a suite named CODENAME, CODENAME-updates, CODENAME-security (or
CODENAME/updates) with the `main` component. Written: for each such archive and suite, one `deb` and
one `deb-src` line for `main`, with the entry's `signed-by` keyring when it names a file (an inline
key is dropped: apt then checks against its trusted keyrings). Entries of other vendors (their own
suites) are left out. Nothing found is an error: point apt at a mirror first, or give the lines
yourself in WEFT_E2E_APT_SOURCES (a file in the one-line format).

Usage: apt_sources.py [--root DIR] [--codename NAME]   (prints the lines)
"""

import argparse
import glob
import os
import re
import sys


def _codename(root):
    try:
        with open(os.path.join(root, "etc/os-release")) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "VERSION_CODENAME":
                    return value.strip().strip('"')
    except OSError:
        pass
    return ""


def parse_one_line(text):
    """[(type, uri, suite, components, options)] of the one-line format (comments, blanks skipped)."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not match:
            continue
        options = {}
        for option in (match.group(2) or "").split():
            key, _, value = option.partition("=")
            options[key.lower()] = value
        entries.append((match.group(1), match.group(3), match.group(4), match.group(5).split(), options))
    return entries


def parse_deb822(text):
    """[(type, uri, suite, components, options)] of deb822 stanzas (Enabled: no ones skipped)."""
    entries = []
    for stanza in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for raw in stanza.splitlines():
            if raw.startswith("#") or not raw.strip():
                continue
            if raw[0] in " \t" and key:          # a continuation line (an inline key, a long list)
                fields[key] += "\n" + raw.strip()
                continue
            key, _, value = raw.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if not fields or fields.get("enabled", "yes").lower() in ("no", "false", "0"):
            continue
        options = {}
        signed_by = fields.get("signed-by", "")
        if signed_by and "\n" not in signed_by:
            options["signed-by"] = signed_by
        for kind in fields.get("types", "").split():
            for uri in fields.get("uris", "").split():
                for suite in fields.get("suites", "").split():
                    entries.append((kind, uri, suite, fields.get("components", "").split(), options))
    return entries


def host_entries(root="/"):
    """Every entry of the host's apt sources, in apt's order (sources.list, then sources.list.d)."""
    entries = []
    main = os.path.join(root, "etc/apt/sources.list")
    if os.path.isfile(main):
        with open(main, errors="replace") as f:
            entries += parse_one_line(f.read())
    for path in sorted(glob.glob(os.path.join(root, "etc/apt/sources.list.d/*"))):
        if path.endswith(".list"):
            parse = parse_one_line
        elif path.endswith(".sources"):
            parse = parse_deb822
        else:
            continue   # apt ignores other names (.disabled, .save, ...)
        with open(path, errors="replace") as f:
            entries += parse(f.read())
    return entries


def private_lines(entries, codename):
    """The deb and deb-src lines for `main` of each archive and suite of the host's release."""
    suites = {codename, f"{codename}-updates", f"{codename}-security", f"{codename}/updates"}
    lines, seen = [], set()
    for _kind, uri, suite, components, options in entries:
        if suite not in suites or "main" not in components:
            continue
        key = (uri.rstrip("/"), suite)
        if key in seen:
            continue
        seen.add(key)
        prefix = f"[signed-by={options['signed-by']}] " if options.get("signed-by") else ""
        lines.append(f"deb {prefix}{uri} {suite} main")
        lines.append(f"deb-src {prefix}{uri} {suite} main")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="/", help="read etc/apt and etc/os-release under this directory")
    parser.add_argument("--codename", default="", help="the release (default: VERSION_CODENAME of os-release)")
    args = parser.parse_args()
    codename = args.codename or _codename(args.root)
    if not codename:
        print("apt_sources.py: no VERSION_CODENAME in etc/os-release; pass --codename", file=sys.stderr)
        return 1
    lines = private_lines(host_entries(args.root), codename)
    if not lines:
        print(f"apt_sources.py: the host's apt sources under {args.root} name no enabled archive of {codename} "
              f"with `main`; set WEFT_E2E_APT_SOURCES to a file of deb and deb-src lines", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
