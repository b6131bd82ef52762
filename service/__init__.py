"""HTTP service stage: the FastAPI application readers and tools talk to."""
