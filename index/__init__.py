"""Indexing and retrieval: embeddings, lexical and dense indexes, fusion, answers."""
