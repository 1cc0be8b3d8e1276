"""A griffe extension for the API pages: the library's reST-ish docstrings, as Markdown.

The docstrings are written to be read in the source and by ``help()``, in the reST
habits of the standard library; mkdocstrings renders them as Markdown. Three of those
habits come out wrong there, and this extension rewrites them before rendering (the
source files are not touched):

- a role, ``:class:`Result``` or ``:func:`~patterns.probe.outcome_for```, becomes the
  code ``Result`` or ``outcome_for``;
- a doctest (lines from ``>>>`` to the next blank line), which Markdown would read as
  three nested quotes, becomes a ``pycon`` code block;
- a literal block (a paragraph ending ``::`` and the indented lines after it) becomes a
  code block, and the ``::`` a colon.

mkdocs.yml loads it with the python handler's ``extensions: [docs/book_griffe.py]``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"  # ~: the last name only


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def to_markdown(text: str) -> str:
    """The docstring ``text`` with its roles, doctests and literal blocks in Markdown."""
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            pad = " " * _indent(line)
            out.append(pad + "```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append(pad + "```")
            continue
        if line.rstrip().endswith("::"):
            head = line.rstrip()[:-2].rstrip()
            out.append(ROLE.sub(_role, head + ":") if head.strip() else "")
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > _indent(line)):
                block.append(lines[i])
                i += 1
            while block and not block[0].strip():
                block.pop(0)
            while block and not block[-1].strip():
                block.pop()
            if block:
                pad = " " * _indent(line)
                cut = min(_indent(b) for b in block if b.strip())
                code = [pad + b[cut:] if b.strip() else "" for b in block]
                out += ["", pad + "```", *code, pad + "```", ""]
            continue
        out.append(ROLE.sub(_role, line))
        i += 1
    return "\n".join(out)


class ReSTishDocstrings(griffe.Extension):
    """Rewrites each object's docstring with :func:`to_markdown` as it is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
