"""Fixtures: tiny randomly initialised models and the PEFT / AdapterHub modules trained on nothing,
each built in a few lines. Modules get random (non-zero) factors so that arithmetic is visible."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from langarith.arith.module import LoraPair, Module
from langarith.data import data_folder

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Four languages in Tatoeba's layout, made from a few phrases, stand in for the local copy on a clone without one:
# training tests read `tatoeba:pt` and the tiny tokenizer learns its pieces from it; nothing else is faked.
PHRASES = {
    "eng": (["The child", "The teacher", "My mother", "My father", "Our friend"], ["reads", "buys", "wants", "sees"],
            ["the book", "the food", "the water", "the house", "the car", "the letter"],
            ["today", "every morning", "in the city"]),
    "por": (["A criança", "O professor", "A minha mãe", "O meu pai", "O nosso amigo"], ["lê", "compra", "quer", "vê"],
            ["o livro", "a comida", "a água", "a casa", "o carro", "a carta"],
            ["hoje", "todas as manhãs", "na cidade"]),
    "spa": (["El niño", "El profesor", "Mi madre", "Mi padre", "Nuestro amigo"], ["lee", "compra", "quiere", "ve"],
            ["el libro", "la comida", "el agua", "la casa", "el coche", "la carta"],
            ["hoy", "todas las mañanas", "en la ciudad"]),
    "swh": (["Mtoto", "Mwalimu", "Mama yangu", "Baba yangu", "Rafiki yetu"], ["anasoma", "ananunua", "anataka",
            "anaona"], ["kitabu", "chakula", "maji", "nyumba", "gari", "barua"], ["leo", "kila asubuhi", "mjini"]),
}


def phrase_tatoeba(root: Path) -> Path:
    """`root/tatoeba/tatoeba.{por,spa,swh}-eng.*`: 360 parallel sentences per language from PHRASES."""
    import itertools

    def sentences(code: str) -> str:
        return "".join(f"{s} {v} {o} {t}.\n" for s, v, o, t in itertools.product(*PHRASES[code]))

    (root / "tatoeba").mkdir(parents=True, exist_ok=True)
    for code in ("por", "spa", "swh"):
        (root / "tatoeba" / f"tatoeba.{code}-eng.{code}").write_text(sentences(code), encoding="utf-8")
        (root / "tatoeba" / f"tatoeba.{code}-eng.eng").write_text(sentences("eng"), encoding="utf-8")
    return root


PHRASES_ENV = "LANGARITH_TEST_PHRASES"  # names the stand-in folder (pytest imports conftest twice; subprocesses)
if PHRASES_ENV not in os.environ and data_folder() is None:
    import atexit
    import shutil
    import tempfile

    os.environ["LANGARITH_DATA"] = os.environ[PHRASES_ENV] = str(
        phrase_tatoeba(Path(tempfile.mkdtemp(prefix="langarith-phrases-"))))
    atexit.register(shutil.rmtree, os.environ[PHRASES_ENV], True)

#: the data folder the tests read: the real one (../shared/data beside the checkout, or $LANGARITH_DATA), or the
#: phrases standing in for it on a clone without one
SHARED = data_folder() or Path("/no-local-data-folder")
#: the real local data folder, or None where the phrases stand in
REAL_DATA = None if PHRASES_ENV in os.environ else data_folder()
needs_real_data = pytest.mark.skipif(REAL_DATA is None, reason="needs the local data folder (../shared/data)")


def needs(*folders: Path) -> pytest.MarkDecorator:
    """Skip unless the data folder holds every one of `folders` (e.g. `SHARED / "sib200"`)."""
    return pytest.mark.skipif(not all(f.exists() for f in folders), reason="needs the shared data")


def write_sib(root: Path, lang: str = "eng_Latn", n: int = 12) -> Path:
    """A SIB-200-like folder of `n` rows per split in `lang`, three topics; returns `root`."""
    folder = root / lang
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.txt").write_text("sports\nhealth\nscience\n")
    topics = ["sports", "health", "science"]
    for split in ("train", "dev", "test"):
        rows = [f"{i}\t{topics[i % 3]}\t{topics[i % 3]} news, number {i}." for i in range(n)]
        (folder / f"{split}.tsv").write_text("index_id\tcategory\ttext\n" + "\n".join(rows) + "\n")
    return root


def tiny_llama(seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=32)
    return LlamaForCausalLM(cfg).eval()


def kronecker_model(shape, seed: int = 0, **options):
    """(the method, a tiny Llama with a Kronecker module attached) with its factors drawn at random."""
    import torch

    from langarith.methods import get_method

    method = get_method("kronecker")
    model = method.attach(tiny_llama(), method.options({"shape": shape, **options}), "decoder")
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in method.trainable(model).values():
            p.copy_(torch.randn_like(p) * 0.1)
    return method, model


def saved_kronecker(shape, folder: Path, seed: int = 0, **options):
    """A Kronecker module's saved folder and the logits on `tokens` (a fixed row) of the model it was saved from."""
    import torch

    method, model = kronecker_model(shape, seed, **options)
    method.save(model, folder)
    with torch.no_grad():
        return folder, model(torch.tensor([TOKENS])).logits


TOKENS = [1, 5, 9, 3, 7, 2]


def tiny_bert(seed: int = 0):
    import torch
    from adapters import BertAdapterModel
    from transformers import BertConfig

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                     num_attention_heads=2, max_position_embeddings=32)
    return BertAdapterModel(cfg).eval()


@pytest.fixture(autouse=True)
def _library_log_as_imported():
    """The CLI sets the library logger's level and handler for its process; each test starts and ends as a bare
    `import langarith` leaves it."""
    import logging

    logger = logging.getLogger("langarith")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One langarith cache for a test session, away from the user's own (typology matrices)."""
    return tmp_path_factory.mktemp("langarith-cache")


@pytest.fixture
def isolated_cache(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LANGARITH_CACHE", str(shared_cache))
    return shared_cache


@pytest.fixture
def no_local_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without a local data folder: no $LANGARITH_DATA and no ../shared/data beside the checkout."""
    import langarith.data

    monkeypatch.delenv("LANGARITH_DATA", raising=False)
    monkeypatch.setattr(langarith.data, "checkout_data", lambda: None)


@pytest.fixture
def make_peft(tmp_path: Path) -> Callable[..., Path]:
    """make_peft(name, seed=…, method="lora"|"lokr", **config) -> folder of a saved PEFT module."""

    def make(name: str, seed: int = 1, method: str = "lora", **config) -> Path:
        import torch
        from peft import LoKrConfig, LoraConfig, get_peft_model

        model = tiny_llama()
        torch.manual_seed(seed)
        targets = config.pop("target_modules", ["q_proj", "k_proj", "v_proj", "o_proj"])
        if method == "lora":
            cfg = LoraConfig(r=config.pop("r", 4), lora_alpha=config.pop("lora_alpha", 8), target_modules=targets,
                             init_lora_weights=False, **config)
        else:
            cfg = LoKrConfig(r=config.pop("r", 4), alpha=config.pop("alpha", 8), target_modules=targets,
                             init_weights=False, **config)
        peft_model = get_peft_model(model, cfg)
        out = tmp_path / name
        peft_model.save_pretrained(out)
        return out

    return make


@pytest.fixture
def make_adapter(tmp_path: Path) -> Callable[..., Path]:
    """make_adapter(name, config="seq_bn", seed=…, head=False, safetensors=True) -> AdapterHub folder."""

    def make(name: str, config: str = "seq_bn", seed: int = 1, head: bool = False, safetensors: bool = True) -> Path:
        import torch

        model = tiny_bert()
        torch.manual_seed(seed)
        model.add_adapter(name, config=config)
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if f".{name}." in pname:
                    p.normal_(0, 0.5)
        if head:
            model.add_classification_head(name, num_labels=3)
        out = tmp_path / name
        model.save_adapter(str(out), name, with_head=head, use_safetensors=safetensors)
        return out

    return make


def synthetic_lora(seed: int, rank: int = 3, alpha: float = 6.0, layers: int = 3, d_in: int = 7, d_out: int = 5,
                   label: str | None = None) -> Module:
    """An in-memory LoRA module (no files) for fast algebra tests."""
    rng = np.random.default_rng(seed)
    tensors, lora = {}, {}
    for i in range(layers):
        a, b = f"l{i}.lora_A.weight", f"l{i}.lora_B.weight"
        tensors[a] = rng.normal(size=(rank, d_in)).astype(np.float32)
        tensors[b] = rng.normal(size=(d_out, rank)).astype(np.float32)
        lora[f"l{i}"] = LoraPair(a, b, alpha / rank)
    return Module(tensors=tensors, kind="lora", format="peft",
                  config={"peft_type": "LORA", "r": rank, "lora_alpha": alpha, "target_modules": ["l"]},
                  targets=("l",), rank=rank, alpha=alpha, lora=lora, name=label or f"m{seed}")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random decoder (Llama), encoder-decoder (T5) and encoder (BERT) folders with a real tokenizer."""
    import torch
    from transformers import (
        BertConfig,
        BertForMaskedLM,
        LlamaConfig,
        LlamaForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )

    from langarith.models import tiny_tokenizer

    root = tmp_path_factory.mktemp("tiny-models")
    tok = tiny_tokenizer(root / "tok")
    vocab = len(tok)
    torch.manual_seed(0)
    made = {
        "decoder": LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                                max_position_embeddings=512, bos_token_id=tok.bos_token_id,
                                                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)),
        "encoder-decoder": T5ForConditionalGeneration(T5Config(vocab_size=vocab, d_model=32, d_ff=64, d_kv=8,
                                                               num_layers=2, num_heads=4,
                                                               decoder_start_token_id=tok.pad_token_id,
                                                               pad_token_id=tok.pad_token_id,
                                                               eos_token_id=tok.eos_token_id)),
        "encoder": BertForMaskedLM(BertConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                              num_hidden_layers=2, num_attention_heads=4,
                                              max_position_embeddings=512, pad_token_id=tok.pad_token_id)),
    }
    out = {}
    for family, model in made.items():
        folder = root / family
        model.save_pretrained(folder)
        tok.save_pretrained(folder)
        out[family] = folder
    return out


def languaged(seeds_langs_roles: list[tuple[int, str, str]]) -> list[Module]:
    """Synthetic LoRA modules with a language and a role each (for analysis and plots)."""
    return [synthetic_lora(seed, label=None).with_tensors(synthetic_lora(seed).tensors, name=None, language=lang,
                                                        role=role) for seed, lang, role in seeds_langs_roles]


def kill_mid_write(out: Path, content: str = "{}") -> None:
    """Start a process that writes `out` with `atomic_folder`, and SIGKILL it while the folder is half written."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from langarith.core.atomic import atomic_folder
        with atomic_folder(Path({str(out)!r})) as tmp:
            (tmp / "adapter_config.json").write_text({content!r})
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def vocabulary(model) -> int:
    """The tiny model's vocabulary (its tokenizer learns fewer pieces without the shared data's text)."""
    return model.get_input_embeddings().num_embeddings
