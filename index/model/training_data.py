"""The training data of the corpus adapter: question files → (question, answering paragraph, sentence) examples.

Each training question (``index/model/training/*.jsonl``) names its article and a verbatim substring of the
answering paragraph; an example carries the exact texts the index embeds for that paragraph and for the
sentence holding the substring, and the article's other paragraphs (hard negatives).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from corpus.loader import load_corpus
from corpus.models import Passage
from corpus.text import sentence_spans
from index.documents import document_text, sentence_document

TRAINING_DIR = Path(__file__).resolve().parent / "training"
DOCUMENT_FORMAT = "title+section+text"  # the index's default: the adapter learns the texts the index embeds


@dataclass
class Example:
    """One training question with the texts the index embeds for its answer."""

    question: str
    lang: str
    positive: str  # document text of the answering paragraph
    positive_id: str
    sentence: str  # sentence document of the sentence holding the gold substring
    negatives: list[str] = field(default_factory=list)  # document texts of other paragraphs of the article
    # The negatives the model confuses most with the answer (``index.model.negatives``; empty unless mined).
    mined_negatives: list[str] = field(default_factory=list)


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def training_files(folder: Path = TRAINING_DIR) -> list[Path]:
    """The training question files, in a stable order."""
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no training questions (*.jsonl) in {folder}: add question files there")
    return files


def data_hash(files: list[Path]) -> str:
    """sha256 over the training files' names and bytes (recorded with the adapter)."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _answer_sentence(passage: Passage, substring: str) -> str:
    """The sentence document of the sentence of ``passage`` that holds (the start of) ``substring`` (NFKC).

    Each sentence is searched in its own NFKC text, so a passage whose NFKC form changes lengths (full-width
    letters, ligatures) still gives the right sentence; with none holding it, the one where it begins.
    """
    spans = sentence_spans(passage.text)
    for start, end in spans:
        if substring in _nfkc(passage.text[start:end]):
            return sentence_document(passage.title, passage.text[start:end])
    # A substring across a sentence boundary: the sentence whose NFKC prefix of the text reaches its start.
    at = _nfkc(passage.text).find(substring)
    for start, end in spans:
        if at < len(_nfkc(passage.text[:end])):
            return sentence_document(passage.title, passage.text[start:end])
    start, end = spans[0]
    return sentence_document(passage.title, passage.text[start:end])


def training_examples(files: list[Path], corpus_dir: Path, document_format: str = DOCUMENT_FORMAT) -> list[Example]:
    """Turn question files into examples; a gold substring found in no passage of its article is an error."""
    passages = load_corpus(corpus_dir).passages
    by_article: dict[str, list[Passage]] = {}
    for passage in passages:
        by_article.setdefault(passage.article_id, []).append(passage)
    examples = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            gold = row["gold"][0]
            substring = _nfkc(gold["substring"])
            article = by_article.get(gold["article_id"], [])
            positives = [p for p in article if substring in _nfkc(p.text)]
            if not positives:
                raise ValueError(
                    f"{path}:{number}: gold substring {gold['substring']!r} is in no passage of article "
                    f"{gold['article_id']!r}: fix the question or the corpus"
                )
            # Every paragraph that holds any gold substring is a positive: never use one as a negative.
            answering = {
                p.id
                for g in row["gold"]
                for p in by_article.get(g["article_id"], [])
                if _nfkc(g["substring"]) in _nfkc(p.text)
            }
            positive = positives[0]
            examples.append(
                Example(
                    question=row["question"],
                    lang=row["lang"],
                    positive=document_text(positive, document_format),
                    positive_id=positive.id,
                    sentence=_answer_sentence(positive, substring),
                    negatives=[document_text(p, document_format) for p in article if p.id not in answering],
                )
            )
    return examples
