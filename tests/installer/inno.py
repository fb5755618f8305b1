"""A small reader of Inno Setup scripts for the tests: the preprocessor subset labapp.iss uses,
then the sections as data, so Linux can check what the Windows installer will do.

Preprocessor: ``#define NAME [value]`` (string literals and names joined by ``+``), ``#ifdef``,
``#ifndef``, ``#ifexist "path"`` (relative to the script), ``#if VER < EncodeVer(a, b, c)``,
``#else``, ``#endif``, ``#error`` (raises IssError when reached) and ``{#NAME}`` substitution.
Anything else starting with ``#`` is an error, so the reader never silently ignores what ISCC
would do.

Sections: [Setup] becomes a dict (keys lower-cased), [Code] the raw text, every other section a
list of entries, each a dict of ``Parameter: value`` pairs (keys lower-cased, quotes removed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


class IssError(Exception):
    pass


@dataclass
class Script:
    setup: dict[str, str]
    sections: dict[str, list[dict[str, str]]]
    code: str
    defines: dict[str, str] = field(default_factory=dict)

    def entries(self, section: str) -> list[dict[str, str]]:
        return self.sections.get(section.lower(), [])


_DEFINE = re.compile(r"#define\s+(\w+)\s*(.*)$")
_IF_VER = re.compile(r"#if\s+VER\s*(<|>=)\s*EncodeVer\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)\s*$")


def local(base: Path, rel: str) -> Path:
    """A path of the script (Windows separators) on this machine."""
    return base / rel.replace("\\", "/")


def _value(expr: str, defines: dict[str, str]) -> str:
    expr = expr.strip()
    if not expr:
        return ""
    out = []
    for part in re.findall(r'"(?:[^"]|"")*"|\w+', expr):
        if part.startswith('"'):
            out.append(part[1:-1].replace('""', '"'))
        elif part in defines:
            out.append(defines[part])
        else:
            raise IssError(f"#define: unknown name {part!r} in {expr!r}")
    return "".join(out)


def _substitute(line: str, defines: dict[str, str]) -> str:
    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name not in defines:
            raise IssError(f"{{#{name}}} is not defined")
        return defines[name]
    return re.sub(r"\{#(\w+)\}", repl, line)


def preprocess(text: str, *, defines: dict[str, str] | None = None, base: Path | None = None,
               exists=None, ver: tuple[int, int, int] = (6, 4, 3)) -> tuple[list[str], dict[str, str]]:
    """The lines ISCC compiles, with ``/D`` ``defines`` and the given Inno Setup version."""
    defines = dict(defines or {})
    if exists is None:
        def exists(rel: str) -> bool:
            return local(base, rel).exists() if base else False
    stack: list[tuple[bool, bool]] = []  # (this branch active, parent active)
    out: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        active = all(a for a, _ in stack)
        if line.startswith("#"):
            word = line.split()[0]
            if word in ("#ifdef", "#ifndef"):
                name = line.split()[1]
                cond = (name in defines) == (word == "#ifdef")
                stack.append((cond, active))
            elif word == "#ifexist":
                rel = line[len(word):].strip().strip('"')
                stack.append((bool(exists(rel)), active))
            elif word == "#if":
                m = _IF_VER.match(line)
                if not m:
                    raise IssError(f"line {lineno}: unsupported #if {line!r}")
                v = tuple(int(g) for g in m.groups()[1:])
                cond = ver < v if m.group(1) == "<" else ver >= v
                stack.append((cond, active))
            elif word == "#else":
                cond, parent = stack.pop()
                stack.append((not cond, parent))
            elif word == "#endif":
                stack.pop()
            elif word == "#define":
                if active:
                    m = _DEFINE.match(line)
                    defines[m.group(1)] = _value(m.group(2), defines)
            elif word == "#error":
                if active:
                    raise IssError(f"line {lineno}: {line[len(word):].strip()}")
            else:
                raise IssError(f"line {lineno}: unsupported directive {word}")
            continue
        if active:
            out.append(_substitute(raw, defines))
    if stack:
        raise IssError("unterminated #if")
    return out, defines


def _split_params(line: str) -> list[str]:
    parts, cur, quoted = [], [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if quoted:
        raise IssError(f"unbalanced quotes: {line!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1].replace('""', '"')
    return v


def parse(lines: list[str], defines: dict[str, str] | None = None) -> Script:
    setup: dict[str, str] = {}
    sections: dict[str, list[dict[str, str]]] = {}
    code: list[str] = []
    section = None
    for raw in lines:
        line = raw.strip()
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            section = m.group(1).lower()
            sections.setdefault(section, [])
            continue
        if section == "code":
            code.append(raw)
            continue
        if not line or line.startswith(";"):
            continue
        if section is None:
            raise IssError(f"text outside a section: {line!r}")
        if section == "setup":
            key, sep, value = line.partition("=")
            if not sep:
                raise IssError(f"[Setup]: not a directive: {line!r}")
            setup[key.strip().lower()] = value.strip()
            continue
        entry = {}
        for param in _split_params(line):
            key, sep, value = param.partition(":")
            if not sep:
                raise IssError(f"[{section}]: not a 'Parameter: value' pair: {param!r}")
            entry[key.strip().lower()] = _unquote(value)
        sections[section].append(entry)
    return Script(setup, sections, "\n".join(code), dict(defines or {}))


def load(path: Path, **kwargs) -> Script:
    lines, defines = preprocess(path.read_text(encoding="utf-8"), base=path.parent, **kwargs)
    return parse(lines, defines)
