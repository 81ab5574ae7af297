from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

import pytest
from conftest import kill_mid_write, synthetic_lora

from langarith.arith.formats import load, save
from langarith.core.atomic import atomic_folder
from langarith.core.errors import ModuleFileError, OutputExistsError


def _leftovers(parent: Path, name: str) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def test_a_failure_mid_write_leaves_no_module_and_no_temp(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_folder(out) as tmp:
        (tmp / "adapter_config.json").write_text("{}")
        raise RuntimeError("disk full")
    assert not out.exists() and not _leftovers(tmp_path, "out")


def test_a_kill_mid_write_leaves_no_partial_module(tmp_path):
    out = tmp_path / "out"
    kill_mid_write(out)
    assert not out.exists()
    time.sleep(0.05)
    assert not out.exists()


def test_overwrite_replaces_whole_folder_and_refuses_without_flag(tmp_path):
    m = synthetic_lora(1).vector.materialize()
    out = save(m, tmp_path / "m", provenance={})
    (out / "stale.txt").write_text("old")
    with pytest.raises(OutputExistsError, match=r"--overwrite"):
        save(m, out, provenance={})
    save(m, out, provenance={}, overwrite=True)
    assert not (out / "stale.txt").exists() and not _leftovers(tmp_path, "m")


def test_missing_path_and_unknown_folder(tmp_path):
    with pytest.raises(ModuleFileError, match=r"does not exist"):
        load(tmp_path / "nope")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hi")
    with pytest.raises(ModuleFileError, match=r"not a module langarith can read \(found: notes.txt\)"):
        load(tmp_path / "junk")


def test_corrupt_files_are_named(make_peft, tmp_path):
    src = make_peft("a")
    (src / "adapter_model.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(ModuleFileError, match=r"adapter_model.safetensors is not a readable safetensors file"):
        load(src)
    bad_json = make_peft("b")
    (bad_json / "adapter_config.json").write_text("{not json")
    with pytest.raises(ModuleFileError, match=r"adapter_config.json is not valid JSON"):
        load(bad_json)
    no_weights = make_peft("c")
    (no_weights / "adapter_model.safetensors").unlink()
    with pytest.raises(ModuleFileError, match=r"no adapter_model.safetensors"):
        load(no_weights)


@pytest.mark.parametrize("name", ["adapter_model.safetensors", "adapter_config.json"])
def test_a_pipe_or_folder_under_a_module_file_name_is_refused_not_waited_on(make_peft, name):
    for kind, src in (("fifo", make_peft("a")), ("folder", make_peft("b"))):
        (src / name).unlink()
        os.mkfifo(src / name) if kind == "fifo" else (src / name).mkdir()
        with pytest.raises(ModuleFileError, match=rf"{name} is not a regular file"):
            load(src)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("r", 0, "r is 0"), ("r", "four", "r is 'four'"), ("r", True, "r is True"),
    ("lora_alpha", None, "lora_alpha is None"), ("lora_alpha", -2, "lora_alpha is -2"),
])
def test_a_rank_or_alpha_peft_cannot_load_is_refused_on_read(make_peft, key, value, message):
    import json

    src = make_peft("a")
    config = json.loads((src / "adapter_config.json").read_text())
    config[key] = value
    (src / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(ModuleFileError, match=rf"adapter_config.json: {message}; PEFT needs"):
        load(src)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/langarith-pwned",))


def test_pickles_never_execute_code(make_peft, tmp_path):
    src = make_peft("a")
    (src / "adapter_model.safetensors").unlink()
    with (src / "adapter_model.bin").open("wb") as fh:
        pickle.dump({"x": _Exploit()}, fh)
    Path("/tmp/langarith-pwned").unlink(missing_ok=True)
    with pytest.raises(ModuleFileError, match=r"weights-only"):
        load(src)
    assert not Path("/tmp/langarith-pwned").exists()


def test_plain_state_dict_round_trip(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    save_file({"w": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float16)},
              str(tmp_path / "a.safetensors"))
    save_file({"w": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float16)},
              str(tmp_path / "b.safetensors"))
    a, b = load(tmp_path / "a.safetensors", name="a"), load(tmp_path / "b.safetensors", name="b")
    out = save((a - b).materialize(), tmp_path / "diff", provenance={})
    back = load(out)
    assert back.format == "safetensors" and back.tensors["b"].dtype == np.float16
    np.testing.assert_allclose(back.tensors["w"], a.tensors["w"] - b.tensors["w"], rtol=1e-6)
