"""Front matter parsed safely: no YAML aliases or anchors, bounded size and depth, typed and length-checked fields.

A post's front matter comes from uploads and from whatever lands in the corpus folder, so it is untrusted:
a 491-byte "billion laughs" alias bomb expands to hundreds of millions of characters, deep nesting blows
the composer's recursion, and an impossible date raises ValueError from inside PyYAML.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_FRONT_MATTER_CHARS = 16 * 1024
MAX_DEPTH = 4  # the mapping, a list in it, and room to spare; posts use two levels
MAX_NODES = 2000
MAX_TEXT_CHARS = {"title": 300, "author": 200, "excerpt": 2000}
MAX_LIST_ITEMS = 50
MAX_LIST_ITEM_CHARS = 100


class FrontMatterError(ValueError):
    """Front matter that cannot be used; the message says what to fix (without the file's name)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and anchors and caps nesting depth and node count while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 - PyYAML's untyped API
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise FrontMatterError("front matter uses a YAML alias (*name): write the value out instead")
        if getattr(event, "anchor", None) is not None:
            raise FrontMatterError("front matter uses a YAML anchor (&name): remove it and write values out")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise FrontMatterError(f"front matter has more than {MAX_NODES} values: keep it to a few fields")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise FrontMatterError(f"front matter is nested more than {MAX_DEPTH} levels deep: flatten it")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _text(meta: dict, key: str) -> str | None:
    value = meta.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        raise FrontMatterError(f"front matter '{key}' must be a single text value, not a list or mapping")
    text = str(value).strip()
    limit = MAX_TEXT_CHARS[key]
    if len(text) > limit:
        raise FrontMatterError(f"front matter '{key}' is {len(text):,} characters long: shorten it to {limit}")
    return text


def _strings(meta: dict, key: str) -> list[str]:
    value = meta.get(key)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if len(items) > MAX_LIST_ITEMS:
        raise FrontMatterError(f"front matter '{key}' has {len(items)} entries: keep at most {MAX_LIST_ITEMS}")
    out = []
    for item in items:
        if isinstance(item, dict | list):
            raise FrontMatterError(f'front matter \'{key}\' must be a list of short texts, e.g. ["AI", "液冷"]')
        text = str(item).strip()
        if len(text) > MAX_LIST_ITEM_CHARS:
            raise FrontMatterError(
                f"front matter '{key}' has an entry of {len(text):,} characters: keep each to {MAX_LIST_ITEM_CHARS}"
            )
        out.append(text)
    return out


def load_front_matter(source: str) -> dict[str, Any]:
    """The front matter as a mapping, with title/author/excerpt as short texts and tags/categories as lists.

    Raises FrontMatterError for anything unusable, never another exception type.
    """
    if len(source) > MAX_FRONT_MATTER_CHARS:
        raise FrontMatterError(
            f"front matter is {len(source):,} characters long, over the {MAX_FRONT_MATTER_CHARS:,} limit: "
            "keep it to title, date, tags and a short excerpt"
        )
    loader = _BoundedLoader(source)
    try:
        meta = loader.get_single_data()
    except FrontMatterError:
        raise
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"front matter is not valid YAML ({exc.__class__.__name__}): fix its syntax") from None
    except Exception as exc:  # noqa: BLE001 - PyYAML's constructors raise ValueError, TypeError, OverflowError…
        reason = str(exc)[:200]
        raise FrontMatterError(
            f"front matter has a value PyYAML cannot read ({exc.__class__.__name__}: {reason}): "
            "fix it (dates are YYYY-MM-DD and must exist)"
        ) from None
    finally:
        loader.dispose()
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter must be 'key: value' lines")
    checked = dict(meta)
    for key in MAX_TEXT_CHARS:
        checked[key] = _text(meta, key)
    for key in ("tags", "categories"):
        checked[key] = _strings(meta, key)
    return checked
