"""Argument mistakes a new operator makes, each answered with what is wrong: a negative duration after a space
(argparse said only "expected one argument"), and a file given as the dashboards' folder ("File exists")."""

from __future__ import annotations

import pytest

from server.cli import attach_dashed_values, main
from server.dashboards import dashboards


@pytest.mark.parametrize(
    ("argv", "option"),
    [(["windows", "--since", "-5h"], "--since"), (["score", "--every", "-15m"], "--every")],
)
def test_a_negative_duration_says_it_must_be_positive(argv, option, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and "expected one argument" not in err
    assert f"argument {option}: '{argv[-1]}' is not a duration: use a positive number" in err


def test_only_a_dashed_value_right_after_an_option_is_attached_and_nothing_after_the_double_dash():
    given = ["windows", "--since", "-5h", "--user", "a"]
    assert attach_dashed_values(given) == ["windows", "--since=-5h", "--user", "a"]
    after = ["ingest", "--user", "a", "--", "--x", "-1"]
    assert attach_dashed_values(after) == after
    assert attach_dashed_values(["score", "--every=-5h"]) == ["score", "--every=-5h"]


def test_dashboards_out_a_file_says_it_is_a_file_not_a_folder(tmp_path, capsys):
    a_file = tmp_path / "passwd"
    a_file.write_text("root:x:0:0\n")
    assert main(["dashboards", "--out", str(a_file)]) == 2
    err = capsys.readouterr().err
    assert f"--out {a_file} is a file, not a folder" in err and "File exists" not in err
    assert a_file.read_text() == "root:x:0:0\n"


def test_the_user_dashboards_lowest_score_tile_is_titled_for_hourly_and_daily_users():
    """ "Lowest score, next 24 h" showed the lowest of 7 days for a person taking morning readings."""
    titles = [p["title"] for p in dashboards()["hrvcast-user.json"]["panels"]]
    assert "Lowest score ahead" in titles and not any("next 24 h" in t for t in titles if t.startswith("Lowest"))
