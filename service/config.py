"""Where the settings become the engine's plain arguments (used by the app factory and `ragqa serve`).

Kept apart from ``main.py`` so `ragqa serve` can start loading the model before the web stack is imported.
"""

from __future__ import annotations

from functools import partial

from index.model import Encoder, load_encoder
from index.params import load_rank_params
from ragqa.settings import Settings
from service.engine import Engine


def engine_from_settings(settings: Settings, encoder: Encoder | None = None) -> Engine:
    """An engine for these settings (``encoder``: one already loaded, else it is loaded at start)."""
    return Engine(
        settings.corpus_dir,
        settings.index_dir,
        load_model=partial(
            load_encoder,
            settings.model,
            settings.model_cache_dir,
            settings.torch_threads,
            settings.encoder,
            settings.adapter,
        ),
        encoder=encoder,
        build_options=settings.build_options(),
        rank_params=load_rank_params(),
        poll_seconds=settings.index_poll_seconds,
        load_options=settings.load_options(),
        search_queue_size=settings.search_queue_size,
    )
