"""Demo files: users are written one at a time, and a user drawn with other parameters is said so in truth.json."""

from __future__ import annotations

import json

from model.synth.generator import SynthParams
from server.pipeline.demo import DemoSpec, write_demo

END_MS = 1_794_787_200_000  # 2026-11-16T00:00:00Z


def test_each_user_is_complete_when_yielded_and_truth_comes_last(tmp_path):
    spec = DemoSpec(users=2, days=1, seed=4, end_ms=END_MS)
    seen = []
    for written in write_demo(spec, tmp_path):
        lines = written.files.rr.read_text().splitlines()
        assert lines[0] == "timestamp,rr_ms" and len(lines) - 1 == written.n_beats
        assert written.files.sleep.is_file() and written.files.activity.is_file()
        assert not (tmp_path / "truth.json").exists()
        seen.append(written.user)
    assert seen == ["demo-1", "demo-2"]
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert sorted(truth["users"]) == seen and "user_params" not in truth
    assert not list(tmp_path.glob(".*.tmp"))  # every temporary file was renamed into place


def test_an_overridden_user_differs_alone_and_truth_names_its_parameters(tmp_path):
    plain = DemoSpec(users=2, days=2, seed=4, end_ms=END_MS)
    strained = DemoSpec(users=2, days=2, seed=4, end_ms=END_MS, overrides={2: SynthParams(strain_at_end_days=1.5)})
    list(write_demo(plain, tmp_path / "plain"))
    list(write_demo(strained, tmp_path / "strained"))
    same = (tmp_path / "plain" / "demo-1.csv").read_bytes() == (tmp_path / "strained" / "demo-1.csv").read_bytes()
    other = (tmp_path / "plain" / "demo-2.csv").read_bytes() != (tmp_path / "strained" / "demo-2.csv").read_bytes()
    assert same and other
    truth = json.loads((tmp_path / "strained" / "truth.json").read_text())
    assert truth["user_params"]["demo-2"]["strain_at_end_days"] == 1.5 and "demo-1" not in truth["user_params"]
    assert truth["users"]["demo-2"]["strain"][-1]["end_ms"] >= END_MS  # the episode is still on at the end
