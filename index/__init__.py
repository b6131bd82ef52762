"""Index stage: passages → BM25 + FAISS versions on disk → ranked, cited passages.

model/      the ``Encoder`` interface and the offline multilingual-e5-small behind it
backends/   the ``Backend`` interface: BM25 (lexical.py), FAISS (dense.py), Milvus (milvus.py), one registry
documents.py what is embedded/indexed per passage    tokenize.py  fugashi tokens for BM25
vectors.py  passage + sentence vectors in one call    build.py     corpus folder → new version (incremental)
version.py  what a version contains (read/write)      store.py     versions folder, CURRENT, checksums, lock
params.py   ``RankParams``: every ranking number      fusion.py    dense + BM25 fusion, RRF
retriever.py ``HybridRetriever``: search, rank, highlight   answer.py  citations and the extractive answer
"""
