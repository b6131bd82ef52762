"""An uploaded post, from request body to validated file bytes, before anything touches the corpus folder."""

from __future__ import annotations

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile

from corpus.dedupe import MIN_PASSAGE_CHARS
from corpus.loader import PostTooLargeError, build_passages
from corpus.parse import PostError, parse_post_text

RAW_TYPES = ("text/plain", "text/markdown", "text/x-markdown", "application/octet-stream")
MULTIPART = "multipart/form-data"
FILE_FIELD = "file"
HOW = (
    "send the raw post file as the body with Content-Type: text/plain "
    "(curl --data-binary @post.txt -H 'Content-Type: text/plain'), "
    f"or as a multipart file field '{FILE_FIELD}' (curl -F {FILE_FIELD}=@post.txt)"
)

# For the OpenAPI schema: the request body FastAPI cannot infer, since the route reads it itself.
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                    "required": [FILE_FIELD],
                }
            },
        },
    }
}


def _too_large(size: int | str, limit: int) -> HTTPException:
    return HTTPException(
        413, f"the post is {size} bytes, over the {limit:,}-byte limit: shorten it or raise RAGQA_MAX_UPLOAD_BYTES"
    )


async def read_upload(request: Request, limit: int) -> bytes:
    """The uploaded file's bytes (raw body or multipart field), refusing more than ``limit`` bytes early."""
    content_type = request.headers.get("content-type", "text/plain").split(";")[0].strip().lower()
    if content_type not in (*RAW_TYPES, MULTIPART):
        raise HTTPException(415, f"{content_type} is not accepted: {HOW}")
    declared = request.headers.get("content-length", "")
    # A multipart body carries a little framing around the file, hence the slack.
    slack = 64 * 1024 if content_type == MULTIPART else 0
    if declared.isdigit() and int(declared) > limit + slack:
        raise _too_large(declared, limit)
    if content_type == MULTIPART:
        return await _read_multipart(request, limit)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise _too_large(f"more than {limit:,}", limit)
    return bytes(data)


async def _read_multipart(request: Request, limit: int) -> bytes:
    try:
        form = await request.form(max_files=1, max_fields=16)
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several types for a malformed body
        raise HTTPException(400, f"the multipart body could not be read ({exc}): {HOW}") from None
    try:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, f"the multipart body has no file field '{FILE_FIELD}': {HOW}")
        data = await upload.read(limit + 1)
    finally:
        # Large parts are spooled to temporary files: remove them whatever happened (e.g. a full disk).
        await form.close()
    if len(data) > limit:
        raise _too_large(f"more than {limit:,}", limit)
    return data


def validate_post(data: bytes, article_id: str) -> bytes:
    """The post as UTF-8 bytes if it is a usable post; HTTPException saying what to fix otherwise.

    CPU-bound (cleaning and dedup of the whole post): call it off the event loop.
    """
    if not data.strip():
        raise HTTPException(422, "the body is empty: send the post file (front matter + body)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            400, f"the post is not valid UTF-8 (bad byte at offset {exc.start}): save it as UTF-8 and upload again"
        ) from None
    try:
        post = parse_post_text(text, article_id, f"upload {article_id}")
        passages, _ = build_passages([post])
    except PostTooLargeError as exc:
        raise HTTPException(413, str(exc)) from None
    except PostError as exc:
        raise HTTPException(422, str(exc)) from None
    if not passages:
        raise HTTPException(
            422,
            f"upload {article_id}: no paragraph of at least {MIN_PASSAGE_CHARS} characters is left to index "
            "after cleaning: write the article's text below the front matter",
        )
    return text.encode("utf-8")
