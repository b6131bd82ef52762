"""HTTP service stage: the FastAPI application readers and tools talk to.

main.py     ``create_app(settings)`` and ``app_from_env`` (uvicorn --factory)   config.py  settings → engine
engine.py   model + served index, index updates     batcher.py  ``SearchBatcher``: whole searches in batches
routes/     one router per resource                  deps.py     typed dependencies; schemas.py  API models
errors.py   known errors → 4xx JSON                  uploads.py  reading and validating an uploaded post
server_process.py  `ragqa serve` as a child process, for end-to-end tests and benchmarks
"""
