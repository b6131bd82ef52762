"""Corpus stage: a folder of posts → clean, deduplicated, citable passages.

parse.py   front matter + body of one post file        clean.py   raw lines → paragraphs (markers, headings)
dedupe.py  exact / truncated / near copies, long split  loader.py  the whole stage as ``load_corpus``
text.py    normalisation, sentences, n-grams            models.py  Article, Passage, Source
posts.py   the posts folder: find, atomic write, delete  files.py   atomic write, JSON, cross-process lock
"""
