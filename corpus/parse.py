"""Read one post file: front matter → Article, body → numbered raw lines. Bad posts raise PostError."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from corpus.frontmatter import FrontMatterError, load_front_matter
from corpus.models import Article
from corpus.text import BROKEN_CHAR

POST_SUFFIXES = (".txt", ".md", ".markdown")
_FENCE = "---"


class PostError(ValueError):
    """A post that cannot be used; the message names the file and says what to fix."""


@dataclass
class RawPost:
    """A parsed post before cleaning: its metadata and its body lines with 1-based file line numbers."""

    article: Article
    body: list[tuple[int, str]]


def post_paths(corpus_dir: Path) -> list[Path]:
    """The post files of a corpus folder, in a stable order."""
    return sorted(p for p in corpus_dir.iterdir() if p.is_file() and p.suffix in POST_SUFFIXES)


def _parse_date(value: object, name: str) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise PostError(f"{name}: front matter 'date' {text!r} is not a date: write it as YYYY-MM-DD [HH:MM:SS +0000]")


def parse_post_text(text: str, article_id: str, name: str | None = None) -> RawPost:
    """Parse a post's text (front matter + body); ``name`` is used in error messages."""
    name = name or article_id
    if "\x00" in text:
        raise PostError(f"{name}: contains NUL bytes, so it looks binary: a post must be a UTF-8 text file")
    lines = text.splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise PostError(f"{name}: no front matter: a post must start with a '---' line, then title and date")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    except StopIteration:
        raise PostError(f"{name}: front matter is not closed: add a '---' line after it") from None
    try:
        meta = load_front_matter("\n".join(lines[1:end]))
    except FrontMatterError as exc:
        raise PostError(f"{name}: {exc}") from None
    raw_title = meta["title"] or ""
    if not raw_title.replace(BROKEN_CHAR, "").strip():
        raise PostError(f"{name}: front matter has no 'title': add one")
    if not meta.get("date"):
        raise PostError(f"{name}: front matter has no 'date': add one (YYYY-MM-DD)")
    date = _parse_date(meta["date"], name)
    body = [(i + 1, lines[i]) for i in range(end + 1, len(lines))]
    if not any(line.strip() and line.strip() != "---END---" for _, line in body):
        raise PostError(f"{name}: the body is empty: write the article below the front matter")

    title, body = _repair_title(raw_title, body)
    article = Article(
        id=article_id,
        title=title,
        date=date,
        categories=meta["categories"],
        tags=meta["tags"],
        author=meta["author"],
        excerpt=meta["excerpt"],
    )
    return RawPost(article=article, body=body)


def _repair_title(raw_title: str, body: list[tuple[int, str]]) -> tuple[str, list[tuple[int, str]]]:
    """Front-matter titles are sometimes cut mid-character; the body's first line then holds the whole one."""
    readable = raw_title.rstrip(BROKEN_CHAR).strip()
    for pos, (_, line) in enumerate(body):
        first = line.strip()
        if not first:
            continue
        # A collapsed article starts with its title followed by a space; only a line that is the title alone counts.
        if first.startswith(readable) and len(first) <= max(len(readable) * 3, 200) and "。" not in first:
            return first.rstrip(BROKEN_CHAR).strip(), body[:pos] + body[pos + 1 :]
        break
    return readable, body


def read_post(path: Path) -> RawPost:
    """Read and parse one post file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PostError(f"{path.name}: cannot be read ({exc.strerror}): check the file's permissions") from None
    if b"\x00" in data:
        raise PostError(f"{path.name}: contains NUL bytes, so it looks binary: a post must be a UTF-8 text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PostError(
            f"{path.name}: is not valid UTF-8 (bad byte at offset {exc.start}): save the file as UTF-8"
        ) from None
    return parse_post_text(text, path.stem, path.name)
