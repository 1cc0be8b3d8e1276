"""The book's one hook: the README's links, made to work inside the book.

``docs/index.md`` is ``--8<-- "README.md"`` and each chapter's page is its
``exercises/NN-name/README.md``: the pages include those files by snippet rather than
copy them, so they cannot drift. But their links are written for GitHub, relative to
the file's own folder (``patterns/context``, ``exercises/06-deadlines``,
``docs/compare.md``), and inside ``docs/`` they point nowhere, which ``--strict``
rightly fails.

So, on a page that includes a Markdown file, each relative link in it is read as a path
in the repository, from that file's folder, and sent to the book's page for it:

- ``patterns/<name>`` (or any file in it) goes to ``patterns/<name>.md``, the pattern's
  page, or else to ``reference/<name>.md``, its API page;
- ``exercises`` goes to ``exercises/index.md``, ``exercises/NN-name`` to
  ``exercises/NN-name.md``;
- ``docs/<file>`` goes to ``<file>`` (a page, or an image: ``docs/figures/x.png``), and
  ``README.md`` to the home page;
- anything else (``patterns/demo.py``, ``benchmarks/test_spawn.py``) has no page: it
  becomes a link to the file on ``repo_url`` if mkdocs.yml sets one, else its text.

It runs as a Markdown preprocessor just after pymdownx.snippets, so it sees the included
text, and it leaves fenced code alone. The rewritten links are ordinary ``.md`` links,
which mkdocs then checks like any other: a page this table names that does not exist is
still a warning.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

INCLUDE = re.compile(r'^\s*-{1,}8<-{1,}\s+"([^"]+\.md)"\s*$', re.MULTILINE)
LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^)\s]+)\)")  # [text](target) or ![alt](image)
FENCE = re.compile(r"^\s*(```|~~~)")


class _State:
    """What the preprocessor needs to know about the page being rendered."""

    files: Files | None = None
    page: Page | None = None
    base: str | None = None  # the included file's folder, relative to the repository
    repo_url: str | None = None


STATE = _State()


def book_page(repo_path: str) -> str | None:
    """The book's page (a path in docs/) for a path in the repository, if it has one."""
    parts = repo_path.strip("/").split("/")
    candidates: list[str] = []
    if parts[0] == "patterns" and len(parts) > 1:
        candidates = [f"patterns/{parts[1]}.md", f"reference/{parts[1]}.md"]
    elif parts[0] == "exercises":
        candidates = ["exercises/index.md" if len(parts) == 1 else f"exercises/{parts[1]}.md"]
    elif parts[0] == "docs" and len(parts) > 1:
        candidates = ["/".join(parts[1:])]
    elif repo_path == "README.md":
        candidates = ["index.md"]
    for candidate in candidates:
        if STATE.files is not None and STATE.files.get_file_from_path(candidate):
            return candidate
    return None


def rewrite(match: re.Match[str]) -> str:
    """One ``[text](target)``, pointed at the book's page for ``target``."""
    bang, text, target = match.groups()
    if STATE.page is None or STATE.base is None or re.match(r"^([a-z]+:|#|/)", target):
        return match.group(0)  # not on an including page, or external, an anchor, absolute
    path, _, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(STATE.base, path))
    page = book_page(repo_path)
    if page is not None:
        here = posixpath.dirname(STATE.page.file.src_uri) or "."
        relative = posixpath.relpath(page, here)
        return f"{bang}[{text}]({relative}{'#' + anchor if anchor else ''})"
    if bang:
        return match.group(0)  # an image the book does not have: mkdocs will say so
    if STATE.repo_url:
        return f"[{text}]({STATE.repo_url.rstrip('/')}/blob/HEAD/{repo_path})"
    return text


class RepoLinks(Preprocessor):
    """Rewrites the included files' repository links, outside fenced code."""

    def run(self, lines: list[str]) -> list[str]:
        out, fenced = [], False
        for line in lines:
            if FENCE.match(line):
                fenced = not fenced
            out.append(line if fenced else LINK.sub(rewrite, line))
        return out


class RepoLinksExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:
        # pymdownx.snippets runs at priority 32: just below it sees what it included.
        md.preprocessors.register(RepoLinks(md), "book_repo_links", 31)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    STATE.repo_url = config.repo_url
    config.markdown_extensions.append(RepoLinksExtension())
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    STATE.files = files
    return files


def on_page_markdown(markdown: str, page: Page, **_: Any) -> str:
    """Note the page about to be rendered, and the folder of the file it includes."""
    included = INCLUDE.findall(markdown)
    STATE.page = page
    STATE.base = posixpath.dirname(included[0]) if included else None
    return markdown
