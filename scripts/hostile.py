"""A hostile run of the CLI: some 230 careless or hostile inputs across every command, each in a fresh process,
classified as a clean error (exit 2, one line, no traceback), a correct result, a traceback, a silently wrong
result, data loss (an input or an unrelated file changed) or a hang. Prints the table by class and writes
every case's outcome to JSON. Not a test (it takes minutes); the test suite holds one test per class.

    python scripts/hostile.py [--out hostile.json] [--only CLASS[,CLASS…]]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from langarith.data import data_folder

ROOT = Path(__file__).resolve().parents[1]
DATA = data_folder() or ROOT.parent / "shared" / "data"  # the local data folder (langarith.data's order)
T, L = "--task-module", "--lang-module"  # a recipe's modules, LANG=DIR
OUTCOMES = ("clean error", "correct result", "traceback", "silently wrong", "data loss", "hang", "other")


@dataclass
class Case:
    klass: str
    name: str
    argv: list[str]
    expect: str = "error"  # "error" | "ok"
    match: str | None = None  # text the error (or output) must contain
    check: Callable[[Path, subprocess.CompletedProcess], bool] | None = None
    protect: list[Path] = field(default_factory=list)  # files and folders that must not change
    env: dict[str, str | None] = field(default_factory=dict)
    parallel: int = 1  # run this many copies at once (races)
    file_size: int | None = None  # RLIMIT_FSIZE in bytes: writes past it fail as on a full disk (EFBIG)


# --- fixtures --------------------------------------------------------------------------------------------
def build(work: Path) -> dict[str, Path]:
    """Tiny models and real modules trained on them, then damaged copies of those modules."""
    from safetensors.numpy import load_file, save_file

    from langarith.models import tiny_encoder_dir, tiny_model_dir
    from langarith.training import TrainSpec, train

    f: dict[str, Path] = {"tiny": tiny_model_dir(), "tiny_encoder": tiny_encoder_dir()}

    def trained(name: str, **kw) -> Path:
        spec = dict(role="language", language="pt", text=["tatoeba:pt"], model=str(f["tiny"]), out=work / name,
                    steps=2, batch_size=2, seq_len=16, progress=False)
        spec.update(kw)
        return train(TrainSpec(**spec)).path

    f["lang_pt"] = trained("lang_pt")
    f["lang_en"] = trained("lang_en", language="en", text=["tatoeba:en"])
    f["task_en"] = trained("task_en", role="task", language="en", task="sib200", data=DATA / "sib200", text=[])
    f["rank8"] = trained("rank8", method_options={"rank": 8})
    f["lokr"] = trained("lokr", method="lokr")
    f["bn_enc"] = trained("bn_enc", model=str(f["tiny_encoder"]), method="bottleneck")

    def variant(name: str, source: str = "lang_pt") -> Path:
        path = work / "variants" / name
        shutil.copytree(f[source], path)
        f[name] = path
        return path

    weights = "adapter_model.safetensors"
    (variant("corrupt") / weights).write_bytes(b"\x00\x01 not a safetensors file")
    (variant("badjson") / "adapter_config.json").write_text("{not json")
    fifo = variant("fifo")
    (fifo / weights).unlink()
    os.mkfifo(fifo / weights)
    os.mkfifo(variant("fifo_extra") / "notes.pipe")
    (variant("dirweights") / weights).unlink()
    (f["dirweights"] / weights).mkdir()
    loop = variant("loop")
    (loop / weights).unlink()
    (loop / weights).symlink_to(loop / weights)
    for name, change in (("nan", lambda t: np.full_like(t, np.nan)), ("fp16", lambda t: t.astype(np.float16)),
                         ("int", lambda t: t.astype(np.int32))):
        path = variant(name)
        tensors = load_file(str(path / weights))
        first = sorted(tensors)[0]
        tensors = {k: (change(v) if name != "nan" or k == first else v) for k, v in tensors.items()}
        save_file(tensors, str(path / weights))
    for name, key, value in (("r0", "r", 0), ("rfour", "r", "four"), ("alphanull", "lora_alpha", None),
                             ("otherbase", "base_model_name_or_path", "some-other/model")):
        path = variant(name)
        config = json.loads((path / "adapter_config.json").read_text())
        config[key] = value
        (path / "adapter_config.json").write_text(json.dumps(config))
    pickled = variant("pickle_exploit")
    (pickled / weights).unlink()
    (pickled / "adapter_model.bin").write_bytes(
        b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93\x8c\x0ftouch /tmp/pwned\x85R.")
    (work / "notes").mkdir()
    (work / "notes" / "todo.txt").write_text("a file someone cares about")
    (work / "plain.txt").write_text("not a module")
    (work / "emptydir").mkdir()
    (work / "file_parent").write_text("a file, not a folder")
    sib = work / "sib_header" / "por_Latn"
    sib.mkdir(parents=True)
    shutil.copy(DATA / "sib200" / "por_Latn" / "labels.txt", sib / "labels.txt")
    (sib / "train.tsv").write_text("index_id\tcategory\ttext\n")
    (work / "empty.txt").write_text("\n\n")
    (work / "binary.txt").write_bytes(b"\xff\xfe\x00\x00binary")
    (work / "oneline.txt").write_text(" ".join(["palavra", "casa", "rio"] * 700_000))  # 11 MB, no newline
    ckpt = work / "resumed.ckpt"
    ckpt.mkdir()
    (ckpt / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short")
    (work / "interrupted.ckpt").mkdir()
    (work / "interrupted.ckpt" / "checkpoint.pt").write_bytes(b"x")
    configs = work / "configs"
    configs.mkdir()
    base = (ROOT / "configs" / "sib200-one-language.yaml").read_text()
    for name, text in {
        "list": "- a\n- b\n", "scalar": "42\n", "empty": "", "binary": "\x00\x01\x02",
        "bomb": "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
                                                      for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
        "python_tag": "!!python/object/apply:os.system ['touch /tmp/pwned']\n",
        "unknown_key": base + "colour: blue\n",
        "dup_lang": base.replace("targets: [por_Latn, swh_Latn, ukr_Cyrl]", "targets: [por_Latn, pt]"),
        "unknown_lang": base.replace("targets: [por_Latn, swh_Latn, ukr_Cyrl]", "targets: [zz_Qqqq]"),
        "dev_is_test": base + "dev_split: Test\n",
        "train_test_target": base + "train_split: {por_Latn: test}\n",
        "bad_setting": base.replace("setting: one-language", "setting: nope"),
        "bad_budget": base.replace("budget: cpu", "budget: huge"),
        "negative_steps": base.replace("task_steps: 3,", "task_steps: -3,"),
        "smoke": base.replace("targets: [por_Latn, swh_Latn, ukr_Cyrl]", "targets: [por_Latn]").replace(
            "label_free: [unlabeled, transfer, fixed]", "label_free: [unlabeled, fixed]"),  # transfer: 2 targets
    }.items():
        (configs / f"{name}.yaml").write_text(text)
    (configs / "folder.yaml").mkdir()
    return f


def digest(path: Path) -> str:
    if not path.exists():
        return "missing"
    h = hashlib.sha256()
    for p in sorted([path] if path.is_file() else path.rglob("*")):
        if p.is_file() and not p.is_symlink():
            h.update(str(p.relative_to(path.parent)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


# --- cases -------------------------------------------------------------------------------------------------
def cases(f: dict[str, Path], w: Path) -> list[Case]:
    def exists(rel: str) -> Callable[[Path, subprocess.CompletedProcess], bool]:
        return lambda work, r: (work / rel).exists()

    def loads(rel: str, **want) -> Callable[[Path, subprocess.CompletedProcess], bool]:
        def check(work: Path, r: subprocess.CompletedProcess) -> bool:
            from langarith import load
            m = load(work / rel)
            return all(getattr(m, k) == v for k, v in want.items())
        return check

    m = lambda name: f"{name}={f[name]}"  # noqa: E731
    lp, le, te = f["lang_pt"], f["lang_en"], f["task_en"]
    serial = iter(range(10_000))

    def out(name: str) -> list[str]:  # every case its own --out, so that one case's output cannot fail another
        return ["--out", str(w / "out" / f"{name}-{next(serial)}")]
    C: list[Case] = []
    add = C.append

    # compose: expressions
    for name, expr, match in [
        ("trailing operator", "0.7*lang_pt +", "syntax error"), ("unknown name", "lang_pt + nope", "unknown module"),
        ("product of modules", "lang_pt*lang_en", "multiplied by numbers"), ("division by a module", "1/lang_pt",
                                                                             "cannot evaluate 1 / a module"),
        ("1e400 literal", "1e400*lang_pt", ""), ("power operator", "lang_pt**2", ""),
        ("5000 leading minus signs", "-" * 5000 + "lang_pt", ""), ("empty expression", "", ""),
        ("unbalanced parentheses", "((lang_pt)", ""), ("nan literal", "nan*lang_pt", ""),
        ("function not known", "max(lang_pt, lang_en)", ""), ("mean of nothing", "mean()", ""),
        ("attribute access", "lang_pt.__class__", ""), ("python call", "__import__('os')", ""),
    ]:
        add(Case("compose: expression", name, ["compose", expr, "--module", m("lang_pt"), "--module", m("lang_en"),
                                               *out("e")], match=match or None))
    add(Case("compose: expression", "500-term sum", ["compose", " + ".join(["lang_pt"] * 250 + ["lang_en"] * 250),
             "--module", m("lang_pt"), "--module", m("lang_en"), *out("sum500")], expect="ok",
             check=lambda work, r: "+250·lang_pt +250·lang_en" in r.stdout))
    add(Case("compose: expression", "a - a + b is b", ["compose", "lang_pt - lang_pt + lang_en", "--module",
             m("lang_pt"), "--module", m("lang_en"), "--out", str(w / "out" / "cancel")], expect="ok",
             check=lambda work, r: _same_tensors(work / "out" / "cancel", le)))
    add(Case("compose: expression", "module name with a dash", ["compose", "a", "--module", f"a-b={lp}", *out("x")],
             match="cannot be used in an expression"))
    add(Case("compose: expression", "module given twice", ["compose", "a", "--module", f"a={lp}", "--module",
             f"a={le}", *out("x")], match="twice"))
    add(Case("compose: expression", "--task with an expression", ["compose", "a", "--module", f"a={lp}", T,
             f"en={te}", *out("x")], match="--recipe"))

    # compose: bad module inputs
    for name, key, match in [
        ("missing path", None, "does not exist"), ("a text file", "plain", ""), ("an empty folder", "emptydir", ""),
        ("corrupt safetensors", "corrupt", "not a readable safetensors"), ("corrupt JSON config", "badjson", "JSON"),
        ("FIFO as the weights", "fifo", "not a regular file"), ("folder as the weights", "dirweights",
                                                                 "not a regular file"),
        ("symlink loop as the weights", "loop", ""), ("pickle that runs code", "pickle_exploit", "weights-only"),
        ("NaN in a tensor", "nan", "NaN"), ("integer tensors", "int", "floating-point"),
        ("rank 0 in the config", "r0", "r is 0"), ("rank 'four' in the config", "rfour", "r is 'four'"),
        ("lora_alpha null", "alphanull", "alpha"),
    ]:
        path = str(w / "missing") if key is None else str(f[key] if key in f else w / f"{key}.txt"
                                                          if key == "plain" else w / key)
        add(Case("compose: bad modules", name, ["compose", "a + b", "--module", f"a={path}", "--module",
                                                m("lang_en").replace("lang_en=", "b="), *out("bad")],
                 match=match or None, protect=[Path(path)] if Path(path).exists() and key != "fifo" else []))
    add(Case("compose: bad modules", "FIFO next to the module files", ["compose", "2*a", "--module",
             f"a={f['fifo_extra']}", *out("fifo_extra")], expect="ok", check=lambda work, r: written(r).exists()))
    add(Case("compose: bad modules", "different ranks, factor semantics", ["compose", "a + b", "--module",
             f"a={lp}", "--module", f"b={f['rank8']}", *out("x")], match="rank"))
    add(Case("compose: bad modules", "different ranks, delta semantics", ["compose", "a + b", "--module", f"a={lp}",
             "--module", f"b={f['rank8']}", "--semantics", "delta", *out("delta")], expect="ok",
             check=lambda work, r: _load(written(r)).rank == 12))
    add(Case("compose: bad modules", "--rank with factor semantics", ["compose", "a", "--module", f"a={lp}",
             "--rank", "2", *out("x")], match="delta"))
    add(Case("compose: bad modules", "another base model", ["compose", "a + b", "--module", f"a={lp}", "--module",
             f"b={f['otherbase']}", *out("x")], match="base"))
    add(Case("compose: bad modules", "LoRA plus LoKr", ["compose", "a + b", "--module", f"a={lp}", "--module",
             f"b={f['lokr']}", *out("x")]))
    for order, (a, b) in (("fp16 + fp32", ("fp16", "lang_pt")), ("fp32 + fp16", ("lang_pt", "fp16"))):
        add(Case("compose: bad modules", f"mixed dtypes {order}", ["compose", "a + b", "--module", f"a={f[a]}",
                 "--module", f"b={f[b]}", *out(order.replace(" ", ""))], expect="ok",
                 check=lambda work, r: _dtypes(written(r)) == {"float32"}))

    # compose: recipes
    for name, args, match in [
        ("unknown recipe", ["--recipe", "nope", T, m("task_en")], "Invalid value for '--recipe'"),
        ("λ above 1", ["--recipe", "add", T, f"en={te}", L, f"pt={lp}", "--lambda", "1.5"], "λ"),
        ("λ nan", ["--recipe", "add", T, f"en={te}", L, f"pt={lp}", "--lambda", "nan"], "λ"),
        ("λ missing", ["--recipe", "add", T, f"en={te}", L, f"pt={lp}"], "λ"),
        ("target missing, two candidates", ["--recipe", "add-subtract", T, f"en={te}", L, f"en={le}",
                                            L, f"pt={lp}", L, f"es={f['lokr']}", "--lambda", "0.5"],
         "target"),
        ("language module given as task", ["--recipe", "add", T, f"en={lp}", L, f"pt={le}",
                                           "--lambda", "0.5"], "language module"),
        ("task module given as language", ["--recipe", "add", T, f"en={te}", L, f"pt={te}",
                                           "--lambda", "0.5"], "task module"),
        ("la with three modules", ["--recipe", "la", L, f"en={le}", L, f"pt={lp}", L,
                                   f"es={lp}", "--lambda", "0.5"], "exactly two"),
        ("ties --top-k 0", ["--recipe", "ties", L, f"en={le}", L, f"pt={lp}", "--top-k", "0"], ""),
        ("ties --top-k 150", ["--recipe", "ties", L, f"en={le}", L, f"pt={lp}", "--top-k", "150"],
         ""),
        ("ties --trim layer", ["--recipe", "ties", L, f"en={le}", L, f"pt={lp}", "--trim", "layer"],
         ""),
        ("dare --drop-rate 1", ["--recipe", "dare", L, f"en={le}", L, f"pt={lp}", "--drop-rate", "1"],
         ""),
        ("ties of one module", ["--recipe", "ties", L, f"en={le}"], "two or more"),
        ("unknown language code", ["--recipe", "add", T, f"en={te}", L, f"qq={lp}", "--target", "qq",
                                   "--lambda", "0.5"], ""),
        ("--module with a recipe", ["--recipe", "add", "--module", f"a={lp}"], "--module"),
        ("related list empty", ["--recipe", "add-related", T, f"en={te}", "--related", ","], ""),
    ]:
        add(Case("compose: recipes", name, ["compose", *args, *out("r")], match=match or None))
    add(Case("compose: recipes", "target missing, the one other language", [
        "compose", "--recipe", "add-subtract", T, f"en={te}", L, f"en={le}", L, f"pt={lp}",
        "--lambda", "0.5", *out("t")], expect="ok",
        check=lambda work, r: "+0.5·task_en +0.5·lang_pt -0.5·lang_en" in r.stdout))
    add(Case("compose: recipes", "add-subtract with codes spelled three ways", [
        "compose", "--recipe", "add-subtract", T, f"eng={te}", L, f"en={le}", L,
        f"por_Latn={lp}", "--source", "eng_Latn", "--target", "pt", "--lambda", "0.7", *out("spelled")],
        expect="ok", check=lambda work, r: "+0.7·task_eng +0.3·lang_por_Latn -0.3·lang_en" in r.stdout))
    add(Case("compose: recipes", "ties records the λ and trim applied", [
        "compose", "--recipe", "ties", L, f"en={le}", L, f"pt={lp}", "--trim", "tensor",
        "--out", str(w / "out" / "ties")], expect="ok", check=lambda work, r: json.loads(
            (work / "out" / "ties" / "langarith.json").read_text())["provenance"]["recipe"]["lambda"] == 1.0))

    # compose: where output goes (nothing lost)
    add(Case("compose: output", "existing --out without --overwrite", ["compose", "a", "--module", f"a={lp}",
             "--out", str(le)], match="already exists", protect=[le]))
    add(Case("compose: output", "--out is an input, --overwrite", ["compose", "2*a", "--module", f"a={lp}", "--out",
             str(lp), "--overwrite"], match="input", protect=[lp]))
    add(Case("compose: output", "--out holds an input, --overwrite", ["compose", "2*a", "--module", f"a={lp}",
             "--out", str(w), "--overwrite"], match="input", protect=[lp]))
    add(Case("compose: output", "--out is the current folder, --overwrite", ["compose", "2*a", "--module", f"a={lp}",
             "--out", ".", "--overwrite"], protect=[w / "notes"]))
    add(Case("compose: output", "--out is a folder of notes, --overwrite", ["compose", "2*a", "--module", f"a={lp}",
             "--out", str(w / "notes"), "--overwrite"], match="not a folder langarith wrote",
             protect=[w / "notes"]))
    add(Case("compose: output", "--out under a file", ["compose", "a", "--module", f"a={lp}", "--out",
             str(w / "file_parent" / "x")], match="cannot write"))
    add(Case("compose: output", "--out in /proc", ["compose", "a", "--module", f"a={lp}", "--out", "/proc/x"],
             match="cannot write"))
    add(Case("compose: output", "--out name of 300 characters", ["compose", "a", "--module", f"a={lp}", "--out",
             str(w / ("n" * 300))], match="cannot write"))
    add(Case("compose: output", "two writers of one --out", ["compose", "2*a", "--module", f"a={lp}", "--out",
             str(w / "out" / "race")], expect="race", parallel=2, protect=[lp]))
    add(Case("compose: output", "--overwrite of a module it wrote", ["compose", "3*a", "--module", f"a={lp}",
             "--out", str(w / "out" / "race"), "--overwrite"], expect="ok", check=exists("out/race/langarith.json")))
    add(Case("compose: output", "AdapterHub pickle in, one weights file out", ["compose", "2*a", "--module",
             f"a={f['bn_enc']}", "--out", str(w / "out" / "bn2")], expect="ok",
             check=lambda work, r: sorted(p.name for p in (work / "out" / "bn2").glob("*adapter*")) ==
             ["adapter_config.json", "pytorch_adapter.bin"]))

    # inspect
    for name, path, match in [("missing path", w / "missing", "does not exist"), ("a text file", w / "plain.txt", ""),
                              ("an empty folder", w / "emptydir", ""), ("corrupt weights", f["corrupt"], "safetensors"),
                              ("FIFO weights", f["fifo"], "regular file"), ("NaN module", f["nan"], None)]:
        expect = "ok" if name == "NaN module" else "error"
        add(Case("inspect", name, ["inspect", str(path)], expect=expect, match=match or None,
                 check=(lambda work, r: "nan" in r.stdout.lower()) if expect == "ok" else None))
    add(Case("inspect", "a trained module shows its training", ["inspect", str(lp)], expect="ok",
             check=lambda work, r: "held-out loss" in r.stdout and "trained on" in r.stdout))
    add(Case("inspect", "--json of a composed module", ["inspect", str(w / "out" / "ties"), "--json"], expect="ok",
             check=lambda work, r: json.loads(r.stdout)["provenance"]["recipe"]["trim"] == "tensor"))

    # typology
    for name, args, match in [
        ("unknown target", ["related", "zz", "--pool", "en,es"], "zz"), ("empty pool", ["related", "pt", "--pool",
                                                                                      ","], ""),
        ("unknown pool language", ["related", "pt", "--pool", "en,qqq"], "qqq"),
        ("--k 0", ["related", "pt", "--pool", "en,es", "--rule", "top-k", "--k", "0"], ""),
        ("unknown rule", ["related", "pt", "--pool", "en,es", "--rule", "closest"], ""),
        ("one language", ["distances", "pt"], "two"), ("unknown kind", ["distances", "pt", "es", "--kind", "x"], ""),
        ("--plot .xyz", ["distances", "pt", "es", "--plot", str(w / "d.xyz")], "cannot write .xyz"),
        ("--plot under a file", ["distances", "pt", "es", "--plot", str(w / "file_parent" / "d.png")], ""),
        ("LANGARITH_CACHE is a file", ["related", "pt", "--pool", "en,es"], "cache"),
    ]:
        env = {"LANGARITH_CACHE": str(w / "plain.txt")} if "CACHE" in name else {}
        add(Case("related / distances", name, args, match=match or None, env=env))
    add(Case("related / distances", "codes in three spellings", ["distances", "por_Latn", "pt-BR", "spa", "--json"],
             expect="ok", check=lambda work, r: json.loads(r.stdout)["matrix"][0][1] == 0.0))
    add(Case("related / distances", "pt against es, en", ["related", "pt", "--pool", "es,en", "--json"],
             expect="ok", check=lambda work, r: "es" in json.loads(r.stdout)["related"]))
    add(Case("related / distances", "HOME unset", ["related", "pt", "--pool", "es,en"], expect="ok",
             env={"HOME": None, "LANGARITH_CACHE": None}, check=lambda work, r: "es" in r.stdout))
    add(Case("related / distances", "--plot .pdf", ["distances", "pt", "es", "--plot", str(w / "d.pdf")],
             expect="ok", check=lambda work, r: (work / "d.pdf").read_bytes()[:5] == b"%PDF-"))

    # train
    tl = ["train", "language", "--lang", "pt", "--text", "tatoeba:pt", "--model", str(f["tiny"]), "--steps", "2",
          "--batch-size", "2", "--seq-len", "16"]
    tt = ["train", "task", "--task", "sib200", "--lang", "en", "--data", str(DATA / "sib200"), "--model",
          str(f["tiny"]), "--steps", "1", "--batch-size", "2"]
    for name, extra, match in [
        ("--lr nan", ["--lr", "nan"], "--lr"), ("--lr -1", ["--lr", "-1"], "--lr"),
        ("--lr 1e30 blows up", ["--lr", "1e30"], "NaN"), ("--seq-len 0", ["--seq-len", "0"], "seq-len"),
        ("--batch-size 0", ["--batch-size", "0"], "batch-size"), ("--rank 0", ["--rank", "0"], "rank"),
        ("--rank four", ["--rank", "four"], ""), ("--alpha inf", ["--alpha", "inf"], "alpha"),
        ("unknown --targets", ["--targets", "nope_proj"], "not found"), ("--method nope", ["--method", "nope"],
                                                                         "method"),
        ("--steps and --tokens", ["--tokens", "100"], "not both"), ("--steps -5", ["--steps", "-5"], ""),
        ("unknown language", ["--lang", "zz"], "zz"), ("missing text file", ["--text", str(w / "none.txt")],
                                                        "neither a file"),
        ("empty text file", ["--text", str(w / "empty.txt")], "no text"),
        ("binary text file", ["--text", str(w / "binary.txt")], "UTF-8"),
        ("--model an empty folder", ["--model", str(w / "emptydir")], "config.json"),
        ("--model a hub id, offline", ["--model", "google/gemma-3-270m"], "cannot load"),
        ("--model a text file", ["--model", str(w / "plain.txt")], ""),
        ("--resume a corrupt checkpoint", ["--resume", "--out", str(w / "resumed")], "checkpoint"),
        ("a checkpoint without --resume", ["--out", str(w / "interrupted")], "--resume"),
        ("--out an existing module", ["--out", str(le)], "exists"),
        ("--out under a file", ["--out", str(w / "file_parent" / "m")], ""),
        ("LoKr on GPT-2 Conv1D", ["--method", "lokr", "--model", str(w / "gpt2")], "Conv1D"),
    ]:
        argv = list(tl)
        if "--lang" in extra:
            argv[argv.index("--lang") + 1] = extra[extra.index("--lang") + 1]
            extra = [e for e in extra if e not in ("--lang", "zz")]
        for flag in ("--model", "--steps", "--seq-len", "--batch-size", "--text"):
            if flag in extra and flag in argv:
                i = argv.index(flag)
                del argv[i:i + 2]
        argv += extra
        if "--out" not in argv:
            argv += ["--out", str(w / "out" / "trained")]
        add(Case("train", name, argv, match=match or None, protect=[le] if "existing" in name else []))
    add(Case("train", "one-line 11 MB corpus, bounded", [*tl[:5], str(w / "oneline.txt"), *tl[6:], "--out",
             str(w / "out" / "oneline")], expect="ok", check=exists("out/oneline/langarith.json")))
    add(Case("train", "a header-only task TSV", [*tt[:5], "pt", "--data", str(w / "sib_header"), *tt[8:], "--out",
             str(w / "out" / "t")], match="no sib200 examples"))
    add(Case("train", "bottleneck task on a decoder", [*tt, "--method", "bottleneck", "--out", str(w / "out" / "t")],
             match="bottleneck"))
    add(Case("train", "a task that does not exist", [*tt[:3], "nope", *tt[4:], "--out", str(w / "out" / "t")]))
    add(Case("train", "a language module that trains", [*tl, "--out", str(w / "out" / "good")], expect="ok",
             check=loads("out/good", role="language", language="pt")))

    # evaluate / search-lambda
    ev = ["evaluate", "--task", "sib200", "--lang", "pt", "--data", str(DATA / "sib200"), "--model", str(f["tiny"]),
          "--split", "dev"]
    for name, extra, match in [
        ("--limit 0", ["--limit", "0"], ""), ("--limit -1", ["--limit", "-1"], ""),
        ("a NaN module", ["--module", str(f["nan"])], "NaN"), ("a corrupt module", ["--module", str(f["corrupt"])],
                                                                "safetensors"),
        ("a module of another base", ["--module", str(f["otherbase"])], "trained on"),
        ("a bottleneck module on a decoder", ["--module", str(f["bn_enc"])], ""),
        ("--predictions is a folder", ["--module", str(lp), "--predictions", str(w / "notes"), "--limit", "2"],
         "folder"),
        ("unknown task", ["--task", "nope"], ""), ("missing data folder", ["--data", str(w / "none")], ""),
        ("unknown language", ["--lang", "zz"], "zz"),
    ]:
        argv = list(ev)
        for flag in ("--task", "--data", "--lang"):
            if flag in extra:
                i = argv.index(flag)
                del argv[i:i + 2]
        add(Case("evaluate / search-lambda", name, [*argv, *extra], match=match or None,
                 protect=[w / "notes"] if "predictions" in name else []))
    add(Case("evaluate / search-lambda", "the base model on 4 rows", [*ev, "--limit", "4", "--json"], expect="ok",
             check=lambda work, r: 0.0 <= json.loads(r.stdout)["metrics"]["accuracy"] <= 100.0))
    sl = ["search-lambda", "--recipe", "add", T, f"en={te}", L, f"pt={lp}", "--target", "pt",
          "--task", "sib200", "--data", str(DATA / "sib200"), "--model", str(f["tiny"]), "--limit", "4"]
    for name, extra, match in [
        ("--split test", ["--split", "test"], "test"), ("--split Test", ["--split", "Test"], "test"),
        ("--data a test file", ["--data", str(DATA / "sib200" / "por_Latn" / "test.tsv")], "test"),
        ("--step nan", ["--step", "nan"], ""),
        ("--step 0", ["--step", "0"], ""),
        ("--recipe add-all (no λ)", ["--recipe", "add-all"], "Invalid value for '--recipe'"),
        ("a NaN language module", [L, f"pt={f['nan']}"], "NaN"),
    ]:
        argv = list(sl)
        for flag in ("--data", "--recipe", "--lang-module"):
            if flag in extra:
                i = argv.index(flag)
                del argv[i:i + 2]
        add(Case("evaluate / search-lambda", name, [*argv, *extra], match=match or None))
    add(Case("evaluate / search-lambda", "ties searches its scale over 0.8–1.8", [*sl[:2], "ties", L,
             f"en={le}", *sl[5:], "--strategy", "grid", "--step", "0.5", "--json"], expect="ok",
             check=lambda work, r: [lam for lam, _ in json.loads(r.stdout)["curve"]] == [0.8, 1.3, 1.8]))
    add(Case("evaluate / search-lambda", "a λ search that runs", [*sl, "--strategy", "grid", "--step", "0.5",
             "--json"], expect="ok", check=lambda work, r: json.loads(r.stdout)["best"] in (0.0, 0.5, 1.0)))

    # experiment configs
    for name in ("list", "scalar", "empty", "binary", "bomb", "python_tag", "unknown_key", "dup_lang", "unknown_lang",
                 "dev_is_test", "train_test_target", "bad_setting", "negative_steps", "folder"):
        add(Case("experiment", f"config: {name.replace('_', ' ')}", ["experiment", str(w / "configs" /
                                                                                      f"{name}.yaml"), "--budget",
                                                                      "smoke", "--out", str(w / "out" / "exp")]))
    add(Case("experiment", "config: budget not defined", ["experiment", str(w / "configs" / "bad_budget.yaml")]))
    add(Case("experiment", "config: missing file", ["experiment", str(w / "configs" / "none.yaml")]))
    add(Case("experiment", "--budget nope", ["experiment", str(w / "configs" / "smoke.yaml"), "--budget", "nope"]))
    add(Case("experiment", "--deadline 0", ["experiment", str(w / "configs" / "smoke.yaml"), "--deadline", "0"]))
    add(Case("experiment", "--out a folder of notes", ["experiment", str(w / "configs" / "smoke.yaml"), "--budget",
             "smoke", "--out", str(w / "notes")], match="holds other files", protect=[w / "notes"]))
    add(Case("experiment", "a smoke run keeps its control row", ["experiment", str(w / "configs" / "smoke.yaml"),
             "--budget", "smoke", "--quiet", "--out", str(w / "out" / "smoke")], expect="ok",
             check=lambda work, r: "task-scaled" in (work / "out" / "smoke" / "results.csv").read_text()))

    # export
    add(Case("export", "without --merge", ["export", str(lp), "--out", str(w / "out" / "x")], match="--merge"))
    add(Case("export", "a bottleneck adapter", ["export", str(f["bn_enc"]), "--merge", "--out", str(w / "out" / "x")],
             match="Bottleneck"))
    add(Case("export", "a NaN module", ["export", str(f["nan"]), "--merge", "--out", str(w / "out" / "x")],
             match="NaN"))
    add(Case("export", "another base given", ["export", str(lp), "--merge", "--model", str(f["tiny_encoder"]),
             "--out", str(w / "out" / "x")], match="trained on"))
    add(Case("export", "--dtype int8", ["export", str(lp), "--merge", "--dtype", "int8", "--out",
                                        str(w / "out" / "x")], match="dtype"))
    add(Case("export", "--out a folder of notes, --overwrite", ["export", str(lp), "--merge", "--out",
             str(w / "notes"), "--overwrite"], protect=[w / "notes"]))
    add(Case("export", "a merged tiny model", ["export", str(lp), "--merge", "--out", str(w / "out" / "merged")],
             expect="ok", check=exists("out/merged/model.safetensors")))

    # the command line itself
    add(Case("command line", "--version", ["--version"], expect="ok", check=lambda work, r: "langarith" in r.stdout))
    add(Case("command line", "unknown command", ["frobnicate"]))
    add(Case("command line", "unknown option", ["compose", "--frob"]))
    add(Case("command line", "help of every command", ["train", "language", "--help"], expect="ok",
             check=lambda work, r: "--lang" in r.stdout))
    return C


# --- the third round: numbers out of range, full disks, task files, read-only caches, names, sizes ---------
def build_more(work: Path, f: dict[str, Path]) -> list[Path]:
    """Fixtures of the third round; returns the mounts made (a full tmpfs, a read-only cache) to undo."""
    from langarith.training import TrainSpec, train

    mounts: list[Path] = []
    f["madx_task"] = train(TrainSpec(role="task", language="en", task="sib200", data=DATA / "sib200",
                                     model=str(f["tiny_encoder"]), method="bottleneck", out=work / "madx_task",
                                     steps=1, batch_size=2, progress=False)).path
    tasks = work / "tasks"
    header = "index_id\tcategory\ttext\n"
    for name, rows in {"short": "1\tsports\n2\tsports\tO jogo foi bom.\n",
                       "extra": "1\tsports\tO jogo\tfoi bom.\n", "weather": "1\tsports\tO jogo foi bom.\n"
                                                                         "2\tweather\tChove muito hoje.\n"}.items():
        folder = tasks / name / "por_Latn"
        folder.mkdir(parents=True)
        labels = (DATA / "sib200" / "por_Latn" / "labels.txt").read_text()
        (folder / "labels.txt").write_text(labels + ("weather\n" if name == "weather" else ""))
        for split in ("dev", "test", "train"):
            (folder / f"{split}.tsv").write_text(header + rows)
    (work / "null.jsonl").write_text('{"text": "Bom dia."}\n{"text": null}\n')
    (work / "list.jsonl").write_text('[1, 2]\n')
    (work / "textdir").mkdir()
    weights = "adapter_model.safetensors"
    for name, cut in (("truncated", 0.5), ("zero_bytes", 0.0)):
        path = work / "variants" / name
        shutil.copytree(f["lang_pt"], path)
        data = (path / weights).read_bytes()
        (path / weights).write_bytes(data[:int(len(data) * cut)])
        f[name] = path
    empty_config = work / "variants" / "empty_config"
    shutil.copytree(f["lang_pt"], empty_config)
    (empty_config / "adapter_config.json").write_text("")
    f["empty_config"] = empty_config
    (work / "dirloop").symlink_to(work / "dirloop")
    configs = work / "configs"
    base = (ROOT / "configs" / "sib200-one-language.yaml").read_text()
    doubling = "".join(f"  l{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 40))
    (configs / "doubling.yaml").write_text(base + "method_options:\n  l0: &a0 [lol, lol]\n" + doubling)
    (configs / "deep.yaml").write_text("name: x\nsetting: " + "[" * 20_000 + "]" * 20_000 + "\n")
    (configs / "no_targets.yaml").write_text(base.replace("targets: [por_Latn, swh_Latn, ukr_Cyrl]", "targets: []"))
    from langarith.languages.codes import resolve
    from langarith.languages.uriel import uriel_languages

    codes = []
    for code in uriel_languages():
        try:
            resolve(code)
        except ValueError:
            continue
        codes.append(code)
    (work / "languages300.txt").write_text(" ".join(codes[:300]))
    full = work / "full"
    full.mkdir()
    if _mount(["-t", "tmpfs", "-o", "size=160k", "tmpfs", str(full)]):
        mounts.append(full)
        (full / "filler").write_bytes(b"\0" * 150_000)  # what is left is less than a module
    cache = Path(os.environ.get("LANGARITH_CACHE") or Path.home() / ".cache" / "langarith")
    warm = work / "warm_cache"
    for part in ("models/tiny-llama-v1", "models/tiny-bert-v1", "typology"):
        if (cache / part).is_dir():
            shutil.copytree(cache / part, warm / part)
    readonly = work / "readonly_cache"
    readonly.mkdir()
    if _mount(["--bind", str(warm), str(readonly)]) and _mount(["-o", "remount,ro,bind", str(readonly)]):
        mounts.append(readonly)
    elif os.geteuid() != 0:  # a user's chmod holds; root's does not, and a bind mount was refused
        shutil.rmtree(readonly)
        shutil.copytree(warm, readonly)
        for p in [readonly, *readonly.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
    return mounts


def _mount(args: list[str]) -> bool:
    try:
        return subprocess.run(["mount", *args], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def unmount(mounts: list[Path]) -> None:
    for path in reversed(mounts):
        subprocess.run(["umount", str(path)], capture_output=True, timeout=30)


def more_cases(f: dict[str, Path], w: Path) -> list[Case]:
    C: list[Case] = []
    add = C.append
    lp, le, te = f["lang_pt"], f["lang_en"], f["task_en"]
    serial = iter(range(10_000))

    def out(name: str) -> list[str]:
        return ["--out", str(w / "out3" / f"{name}-{next(serial)}")]

    ev = ["evaluate", "--task", "sib200", "--lang", "pt", "--data", str(DATA / "sib200"), "--model", str(f["tiny"]),
          "--split", "dev", "--limit", "4"]
    sl = ["search-lambda", "--recipe", "add", T, f"en={te}", L, f"pt={lp}", "--target", "pt",
          "--task", "sib200", "--data", str(DATA / "sib200"), "--model", str(f["tiny"]), "--limit", "4",
          "--strategy", "grid"]
    two = [L, f"en={le}", L, f"pt={lp}"]

    # (a) numbers out of range on commands other than train
    for name, argv, match in [
        ("evaluate --batch-size 0", [*ev, "--batch-size", "0"], "batch-size"),
        ("evaluate --batch-size -3", [*ev, "--batch-size", "-3"], "batch-size"),
        ("search-lambda --batch-size 0", [*sl, "--batch-size", "0"], "batch-size"),
        ("search-lambda --step 1e-9", [*sl, "--step", "1e-9"], "step"),
        ("search-lambda --step 1e-320", [*sl, "--step", "1e-320"], "step"),
        ("compose delta --rank 100000", ["compose", "a + b", "--module", f"a={lp}", "--module", f"b={le}",
                                         "--semantics", "delta", "--rank", "100000", *out("r")], "can hold"),
        ("ties delta --rank 0", ["compose", "--recipe", "ties", *two, "--semantics", "delta", "--rank", "0",
                                 *out("r")], "rank"),
        ("ties delta --rank 10000", ["compose", "--recipe", "ties", *two, "--semantics", "delta", "--rank",
                                     "10000", *out("r")], "can hold"),
        ("dare --seed -1", ["compose", "--recipe", "dare", *two, "--seed", "-1", *out("r")], "seed"),
        ("ties --top-k inf", ["compose", "--recipe", "ties", *two, "--top-k", "inf", *out("r")], ""),
        ("ties --lambda -inf", ["compose", "--recipe", "ties", *two, "--lambda", "-inf", *out("r")], ""),
        ("related --max-syntactic inf", ["related", "pt", "--pool", "en,es", "--max-syntactic", "inf"], ""),
    ]:
        add(Case("numbers out of range", name, argv, match=match or None))
    add(Case("numbers out of range", "evaluate --limit 10^12", [*ev[:-2], "--limit", str(10**12), "--json"],
             expect="ok", check=lambda work, r: json.loads(r.stdout)["n"] > 0))
    add(Case("numbers out of range", "compose delta --rank at the layer's bound", [
        "compose", "a + b", "--module", f"a={lp}", "--module", f"b={le}", "--semantics", "delta", "--rank", "32",
        "--out", str(w / "out3" / "rank32")], expect="ok", check=lambda work, r: _load(work / "out3" / "rank32").rank
             == 32))

    # (b) a full disk while writing a module
    limit = 4096  # bytes a file may grow to: a module's weights are larger
    for name, argv in [
        ("compose, safetensors writer", ["compose", "2*a", "--module", f"a={lp}", *out("full")]),
        ("compose, AdapterHub pickle writer", ["compose", "2*a", "--module", f"a={f['bn_enc']}", *out("full")]),
        ("train language", ["train", "language", "--lang", "pt", "--text", "tatoeba:pt", "--model", str(f["tiny"]),
                            "--steps", "2", "--batch-size", "2", "--seq-len", "16", *out("full")]),
        ("export --merge", ["export", str(lp), "--merge", *out("full")]),
    ]:
        add(Case("full disk", f"{name}, file size limit", argv, match="--out", file_size=limit,
                 check=_nothing_under(w / "out3", "full")))
    if (w / "full" / "filler").exists():
        for name, source in (("compose into a full tmpfs", lp), ("compose a bottleneck into a full tmpfs",
                                                                  f["bn_enc"])):
            add(Case("full disk", name, ["compose", "2*a", "--module", f"a={source}", "--out", str(w / "full" / "m")],
                     match="No space left", check=lambda work, r: sorted(p.name for p in (work / "full").iterdir())
                     == ["filler"]))

    # (c) task files with missing or extra fields
    tasks = w / "tasks"
    for name, folder, match in [("a row without its text", "short", "lacks text"),
                                ("a row with a tab inside its text", "extra", "tab inside")]:
        add(Case("task files", f"evaluate: {name}", ["evaluate", "--task", "sib200", "--lang", "pt", "--data",
                 str(tasks / folder), "--model", str(f["tiny"]), "--split", "dev"], match=match))
        add(Case("task files", f"train task: {name}", ["train", "task", "--task", "sib200", "--lang", "pt", "--data",
                 str(tasks / folder), "--model", str(f["tiny"]), "--steps", "1", "--batch-size", "2", *out("t")],
                 match=match))
    for name, path, match in [("a JSONL line whose text is null", w / "null.jsonl", "null"),
                              ("a JSONL line that is a list", w / "list.jsonl", "JSON list"),
                              ("--text a folder", w / "textdir", ""), ("--text a symlink loop", w / "dirloop", "")]:
        add(Case("task files", f"train language: {name}", ["train", "language", "--lang", "pt", "--text", str(path),
                 "--model", str(f["tiny"]), "--steps", "1", "--batch-size", "2", "--seq-len", "16", *out("t")],
                 match=match or None))

    # (d) a file, a module or a head of another language or task
    english = DATA / "sib200" / "eng_Latn" / "test.tsv"
    for name, argv, match in [
        ("English test file as --lang pt", ["evaluate", "--task", "sib200", "--lang", "pt", "--data", str(english),
                                            "--model", str(f["tiny"]), "--limit", "4"], "eng_Latn folder"),
        ("a sib200 task module on xnli", ["evaluate", "--module", str(te), "--task", "xnli", "--lang", "en",
                                          "--data", str(DATA / "xnli"), "--model", str(f["tiny"]), "--limit", "4"],
         "trained on sib200"),
        ("a sib200 task module searched on news-topic", [*sl[:10], "news-topic", "--model", str(f["tiny"]),
                                                        "--limit", "4"], "trained on sib200"),
        ("a test label the head never learned", ["evaluate", "--module", str(f["madx_task"]), "--task", "sib200",
                                                 "--lang", "pt", "--data", str(tasks / "weather"), "--split", "dev",
                                                 "--model", str(f["tiny_encoder"])], "never learned"),
        ("TyDi QA's ar file as --lang bn", ["evaluate", "--task", "tydiqa", "--lang", "bn", "--data",
                                            str(DATA / "tydiqa" / "tydiqa.goldp.ar.dev.json"), "--split", "dev",
                                            "--model", str(f["tiny"]), "--limit", "2"], "ar file"),
    ]:
        add(Case("other language or task", name, argv, match=match))
    add(Case("other language or task", "English test file as --lang en", [
        "evaluate", "--task", "sib200", "--lang", "en", "--data", str(english), "--model", str(f["tiny"]),
        "--limit", "4", "--json"], expect="ok", check=lambda work, r: json.loads(r.stdout)["n"] == 4))

    # (f) a warm read-only cache
    ro = {"LANGARITH_CACHE": str(w / "readonly_cache")}
    if (w / "readonly_cache" / "models").is_dir():
        add(Case("read-only cache", "evaluate --model tiny from a warm read-only cache", [
            *ev[:7], "--model", "tiny", "--split", "dev", "--limit", "4", "--json"], expect="ok", env=ro,
            check=lambda work, r: json.loads(r.stdout)["n"] == 4))
        add(Case("read-only cache", "related from a warm read-only cache", ["related", "pt", "--pool", "es,en",
                 "--json"], expect="ok", env=ro, check=lambda work, r: "es" in json.loads(r.stdout)["related"]))
        add(Case("read-only cache", "train on a read-only cache", [
            "train", "language", "--lang", "pt", "--text", "tatoeba:pt", "--model", "tiny", "--steps", "1",
            "--batch-size", "2", "--seq-len", "16", "--out", str(w / "out3" / "ro_train")], expect="ok", env=ro,
            check=lambda work, r: (work / "out3" / "ro_train" / "langarith.json").exists()))
        add(Case("read-only cache", "a model the read-only cache lacks", [*ev[:7], "--model", "tiny-e5",
                 "--split", "dev", "--limit", "4"], env=ro))

    # (g) module names outside ASCII
    nfd = "ta\u0302che_pt"  # tâche_pt typed with a combining accent
    for name, expr, modules, check in [
        ("λ·task_pt and tâche_pt", "0.5*λ·task_pt + tâche_pt", [f"λ·task_pt={lp}", f"tâche_pt={le}"],
         "+0.5·λ·task_pt +1·tâche_pt"),
        ("a name typed decomposed (NFD)", f"2*{nfd}", [f"tâche_pt={le}"], "+2·tâche_pt"),
        ("Cyrillic and CJK names", "мова_uk - 语言_zh", [f"мова_uk={lp}", f"语言_zh={le}"], "+1·мова_uk -1·语言_zh"),
    ]:
        argv = ["compose", expr, *[x for m in modules for x in ("--module", m)], *out("name")]
        add(Case("module names", name, argv, expect="ok", check=lambda work, r, want=check: want in r.stdout))
    for name, module, match in [("a name starting with a digit", f"1a={lp}", "cannot be used"),
                                ("a name with a space", f"a b={lp}", "cannot be used"),
                                ("an emoji name", f"🙂={lp}", "cannot be used")]:
        add(Case("module names", name, ["compose", "2*a", "--module", module, *out("name")], match=match))

    # (h) configs too large once expanded
    for name in ("doubling", "deep", "no_targets"):
        add(Case("config size", f"config: {name}", ["experiment", str(w / "configs" / f"{name}.yaml"), "--budget",
                 "smoke", "--out", str(w / "out3" / "exp")]))

    # (i) a heatmap of hundreds of languages
    many = (w / "languages300.txt").read_text().split()
    add(Case("big plots", "distances of 300 languages --plot", ["distances", *many, "--json", "--plot",
             str(w / "out3" / "d300.png")], expect="ok", check=lambda work, r: max(_png_size(
                 work / "out3" / "d300.png")) <= 4000))
    add(Case("big plots", "--plot a folder", ["distances", "pt", "es", "--plot", str(w / "notes")],
             protect=[w / "notes"]))

    # careless module folders
    for name, key, match in [("a truncated safetensors file", "truncated", "safetensors"),
                             ("a zero-byte safetensors file", "zero_bytes", "safetensors"),
                             ("an empty adapter_config.json", "empty_config", "JSON")]:
        for command in (["compose", "2*a", "--module", f"a={f[key]}", *out("c")], ["inspect", str(f[key])],
                        [*ev, "--module", str(f[key])]):
            add(Case("careless modules", f"{command[0]}: {name}", command, match=match, protect=[f[key]]))
    add(Case("careless modules", "a symlink loop as the module", ["compose", "2*a", "--module", f"a={w / 'dirloop'}",
             *out("c")]))
    add(Case("careless modules", "/dev/null as the module", ["inspect", "/dev/null"]))
    add(Case("careless modules", "--out a unicode path", ["compose", "2*a", "--module", f"a={lp}", "--out",
             str(w / "out3" / "módulo ñ 模块")], expect="ok",
             check=lambda work, r: (work / "out3" / "módulo ñ 模块" / "langarith.json").exists()))
    return C


def _nothing_under(folder: Path, prefix: str) -> Callable[[Path, subprocess.CompletedProcess], bool]:
    return lambda work, r: not any(p.name.lstrip(".").startswith(prefix) for p in folder.glob("*"))


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[16:24]
    return int.from_bytes(head[:4], "big"), int.from_bytes(head[4:], "big")


def written(r: subprocess.CompletedProcess) -> Path:
    """The folder a compose reported writing ("wrote DIR: …")."""
    return Path(r.stdout.split(":")[0].removeprefix("wrote "))


def _load(path: Path) -> Any:
    from langarith import load

    return load(path)


def _same_tensors(a: Path, b: Path) -> bool:
    from langarith import load

    ta, tb = load(a).tensors, load(b).tensors
    return ta.keys() == tb.keys() and all(np.array_equal(ta[k], tb[k]) for k in ta)


def _dtypes(folder: Path) -> set[str]:
    from langarith import load

    return {str(t.dtype) for t in load(folder).tensors.values()}


# --- running -----------------------------------------------------------------------------------------------
def run_case(case: Case, work: Path) -> tuple[str, str]:
    env = {**os.environ, "COLUMNS": "200"}
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    before = {p: digest(p) for p in case.protect}
    command = [sys.executable, "-m", "langarith", *case.argv]
    try:
        if case.parallel > 1:
            procs = [subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True) for _ in range(case.parallel)]
            results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
        else:
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600,
                                  preexec_fn=_file_size_limit(case.file_size) if case.file_size else None)
            results = [(done.returncode, done.stdout, done.stderr)]
    except subprocess.TimeoutExpired:
        return "hang", "timed out"
    if any(digest(p) != h for p, h in before.items()):
        return "data loss", "a protected input changed"
    if Path("/tmp/pwned").exists():
        return "silently wrong", "code in an input ran"
    rc, stdout, stderr = results[0]
    if any("Traceback" in err for _, _, err in results):
        return "traceback", stderr.strip().splitlines()[-1] if stderr.strip() else ""
    if case.expect == "race":
        codes = sorted(r[0] for r in results)
        ok = codes == [0, 2] and any("already exists" in err or "appeared" in err for _, _, err in results)
        return ("clean error", f"exit codes {codes}") if ok else ("silently wrong", f"exit codes {codes}")
    error_lines = [line for line in stderr.splitlines() if line.startswith(("error:", "Error", "│", "╭", "╰",
                                                                             "Usage", "Try"))]
    if case.expect == "error":
        if rc == 0:
            return "silently wrong", "accepted: " + (stdout.strip().splitlines() or [""])[-1][:120]
        if rc != 2:
            return "other", f"exit {rc}: {stderr.strip()[-200:]}"
        shown = " ".join(error_lines)[:300] or stderr.strip()[:300]
        if case.match and case.match.lower() not in stderr.lower():
            return "other", f"clean, but without {case.match!r}: {shown}"
        if case.check is not None and not case.check(work, subprocess.CompletedProcess(command, rc, stdout, stderr)):
            return "silently wrong", f"the error left a half-written output behind: {shown}"
        return "clean error", shown
    if rc != 0:
        return "other", f"refused good input, exit {rc}: {stderr.strip()[-200:]}"
    completed = subprocess.CompletedProcess(command, rc, stdout, stderr)
    try:
        good = case.check is None or case.check(work, completed)
    except Exception as err:  # a check that cannot read the result: the result is wrong
        good = False
        stdout = f"{type(err).__name__}: {err}"
    return ("correct result", "") if good else ("silently wrong", stdout.strip()[-200:])


def run_all(chosen: list[Case], work: Path, only: str | None) -> list[dict[str, Any]]:
    outcomes = []
    for case in chosen:
        if only and not case.klass.startswith(tuple(only.split(","))):
            continue
        t = time.time()
        outcome, detail = run_case(case, work)
        outcomes.append({"class": case.klass, "case": case.name, "argv": case.argv, "expect": case.expect,
                         "outcome": outcome, "detail": detail, "seconds": round(time.time() - t, 1)})
        print(f"{outcome:15} {case.klass:26} {case.name:45} {detail[:110]}", file=sys.stderr)
    return outcomes


def _file_size_limit(size: int) -> Callable[[], None]:
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))  # Python ignores SIGXFSZ: a write gets EFBIG
    return limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("hostile.json"))
    parser.add_argument("--only", default=None, help="run only the classes whose name starts with this (several: "
                        "separated by commas)")
    args = parser.parse_args()
    Path("/tmp/pwned").unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="langarith-hostile-") as tmp:
        work = Path(tmp)
        started = time.time()
        fixtures = build(work)
        _gpt2(work / "gpt2", fixtures["tiny"])
        mounts = build_more(work, fixtures)
        print(f"fixtures built in {time.time() - started:.0f} s", file=sys.stderr)
        outcomes = []
        try:
            outcomes = run_all([*cases(fixtures, work), *more_cases(fixtures, work)], work, args.only)
        finally:
            unmount(mounts)
    table: dict[str, Counter] = defaultdict(Counter)
    for o in outcomes:
        table[o["class"]][o["outcome"]] += 1
    print("| class | tried | " + " | ".join(OUTCOMES) + " |")
    print("|---|---:|" + "---:|" * len(OUTCOMES))
    for klass, counts in [*table.items(), ("all", sum(table.values(), Counter()))]:
        print(f"| {klass} | {sum(counts.values())} | " + " | ".join(str(counts[k]) for k in OUTCOMES) + " |")
    args.out.write_text(json.dumps(outcomes, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _gpt2(folder: Path, tiny: Path) -> None:
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(tiny)
    GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=len(tok), n_positions=128,
                               bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)).save_pretrained(folder)
    tok.save_pretrained(folder)


if __name__ == "__main__":
    main()
