"""The posts folder: find by id, atomic write and delete, each undone when the block fails."""

from pathlib import Path

import pytest

from corpus.posts import PostExistsError, PostNotFoundError, PostsFolder


def test_write_creates_a_txt_post_and_find_sees_other_suffixes(tmp_path: Path) -> None:
    posts = PostsFolder(tmp_path / "posts")
    with posts.write("005_new", b"body") as path:
        assert path == tmp_path / "posts" / "005_new.txt"
    assert posts.find("005_new") == path and path.read_bytes() == b"body"
    (tmp_path / "posts" / "006_md.md").write_bytes(b"md")
    assert posts.find("006_md") == tmp_path / "posts" / "006_md.md"
    assert posts.find("nope") is None


def test_existing_post_needs_replace(tmp_path: Path) -> None:
    posts = PostsFolder(tmp_path)
    (tmp_path / "a.md").write_bytes(b"old")
    with pytest.raises(PostExistsError, match="replace=true"):
        with posts.write("a", b"new"):
            pass
    with posts.write("a", b"new", replace=True) as path:
        assert path.name == "a.md"
    assert (tmp_path / "a.md").read_bytes() == b"new"


def test_failed_block_restores_the_folder(tmp_path: Path) -> None:
    posts = PostsFolder(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"old")
    for post_id, replace in (("a", True), ("b", False)):
        with pytest.raises(RuntimeError):
            with posts.write(post_id, b"new", replace=replace):
                raise RuntimeError("the index build failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    assert (tmp_path / "a.txt").read_bytes() == b"old"


def test_delete_removes_and_failed_block_puts_it_back(tmp_path: Path) -> None:
    posts = PostsFolder(tmp_path)
    (tmp_path / "a.txt").write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with posts.delete("a"):
            assert not (tmp_path / "a.txt").exists()
            raise RuntimeError("the index build failed")
    assert (tmp_path / "a.txt").read_bytes() == b"old"
    with posts.delete("a"):
        pass
    assert posts.find("a") is None
    with pytest.raises(PostNotFoundError, match="GET /articles"):
        with posts.delete("a"):
            pass
