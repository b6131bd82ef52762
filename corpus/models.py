"""The corpus stage's data: articles, passages and where each passage came from."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Source(BaseModel):
    """One occurrence of a passage's text in a raw post (1-based line number)."""

    article_id: str
    line: int


class Article(BaseModel):
    """A post's metadata, from its front matter (title repaired from the body where it was cut)."""

    id: str = Field(description="File stem, e.g. '002_214864c1432d6946'.")
    title: str
    date: str = Field(description="Publication date, ISO 8601 (YYYY-MM-DD).")
    categories: list[str] = []
    tags: list[str] = []
    author: str | None = None
    excerpt: str | None = None


class Passage(BaseModel):
    """A deduplicated paragraph: the unit that is indexed, retrieved and cited."""

    id: str = Field(description="Stable id derived from the normalised text.")
    article_id: str
    title: str
    date: str
    section: str | None = Field(None, description="The heading the paragraph stands under, if any.")
    paragraph: int = Field(description="1-based ordinal of the passage within its article.")
    text: str
    sources: list[Source] = Field(description="Every occurrence of this text (or a copy of it) in the raw posts.")
