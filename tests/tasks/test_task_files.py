"""A task file given by path is read for the language it holds: one from another language's folder of a dataset's
layout, or named for another language, is refused rather than scored as the language asked for."""

from __future__ import annotations

import json

import pytest
from conftest import write_sib

from langarith.tasks import TaskError, get_task


def test_a_file_of_another_languages_folder_or_name_is_refused(tmp_path):
    data = write_sib(write_sib(tmp_path / "sib200", "eng_Latn", n=3), "por_Latn", n=3)
    english = data / "eng_Latn" / "test.tsv"
    with pytest.raises(TaskError, match="in the eng_Latn folder of a sib200 dataset, not pt's; pass --lang eng_Latn"):
        get_task("sib200").load(english, "pt", "test")  # was: English rows scored as Portuguese
    assert len(get_task("sib200").load(english, "en", "test")) == 3
    loose = tmp_path / "tmp" / "test.tsv"  # a folder whose name happens to be a code (tmp: Tai Mène), alone
    loose.parent.mkdir()
    loose.write_text(english.read_text())
    assert len(get_task("sib200").load(loose, "pt", "test")) == 3
    squad = tmp_path / "xquad.ar.json"
    squad.write_text(json.dumps({"data": []}))
    with pytest.raises(TaskError, match="is the ar file of qa, not de's; pass --lang ar"):
        get_task("qa").load(squad, "de", "test")
