"""Corpus stage: read posts, clean them, and deduplicate them into citable passages."""
