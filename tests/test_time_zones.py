"""A user's time zone gives the hourly forecast their local hour (HRVCAST_TIME_ZONE, HRVCAST_USER_TIME_ZONES).

The shipped profile is a local-hour profile (MMASH's clock is local time stored as UTC). A New York user whose
device sends true UTC times must get the forecast that the same night gets when its times are local: the same
numbers, an hour grid five hours later. Without the zone that user's forecast is the profile shifted by five
hours (on the shared MMASH subjects: tonight's MAE 0.30 -> 0.46, ``docs/reviews/2026-12-02-time-zones.md``).
"""

from __future__ import annotations

import numpy as np
import pytest

from model.clock import check_zone, utc_offsets_ms
from model.errors import SettingsError
from model.forecast.features import FEATURE_INDEX, user_grid
from model.history import UserHistory
from server.metrics import Metrics
from server.pipeline.forecasting import Plan
from server.pipeline.wiring import forecast_service, load_models
from server.settings import DEFAULT_MODEL, Settings
from server.stores.sqlite import SQLiteStore
from tests.support.served import hourly_windows

H = 3_600_000
JAN_15 = 1_768_435_200_000  # 2026-01-15T00:00:00Z: New York is UTC-5 (standard time)
JUL_15 = 1_784_073_600_000  # 2026-07-15T00:00:00Z: New York is UTC-4 (summer time)
NY_WINTER = 5 * H  # true UTC = local clock + 5 h


def _hour(grid: np.ndarray) -> np.ndarray:
    """The hour of day the time columns say (0-23)."""
    angle = np.arctan2(grid[:, FEATURE_INDEX["hour_sin"]], grid[:, FEATURE_INDEX["hour_cos"]])
    return np.round(angle / (2 * np.pi) * 24).astype(int) % 24


def test_offsets_follow_the_zone_and_its_summer_time():
    t = np.array([JAN_15, JUL_15], dtype=np.int64)
    assert (utc_offsets_ms(t, "America/New_York") // H).tolist() == [-5, -4]
    assert (utc_offsets_ms(t, "Asia/Kolkata") // 60_000).tolist() == [330, 330]
    assert utc_offsets_ms(t, "UTC").tolist() == [0, 0]


def test_the_features_read_the_local_hour_in_the_zone():
    windows = hourly_windows(0, JAN_15 + 24 * H, 48)
    utc = UserHistory("u", windows)
    ny = UserHistory("u", windows, zone="America/New_York")
    assert _hour(user_grid(utc, JAN_15, 24, H))[:3].tolist() == [0, 1, 2]
    assert _hour(user_grid(ny, JAN_15, 24, H))[:3].tolist() == [19, 20, 21]  # 00:00 UTC is 19:00 in New York
    assert _hour(user_grid(ny, JUL_15, 24, H))[0] == 20  # summer time: UTC-4
    daily = user_grid(ny, JAN_15, 7, 24 * H)  # daily steps are UTC days: the weekday stays the UTC date's
    assert np.array_equal(daily, user_grid(utc, JAN_15, 7, 24 * H))


def test_a_half_hour_zone_reads_the_half_hour_and_whole_hour_zones_keep_whole_hours():
    """Asia/Kolkata is UTC+5:30: the UTC hour 00:00-01:00 is 05:30-06:30 there, so its hour feature is 5.5 (half-way
    between the profile's hours 5 and 6, where the beats are), not 5 (the profile 30 minutes early)."""
    windows = hourly_windows(0, JAN_15 + 24 * H, 48)
    kolkata = user_grid(UserHistory("u", windows, zone="Asia/Kolkata"), JAN_15, 24, H)
    angle = np.arctan2(kolkata[:, FEATURE_INDEX["hour_sin"]], kolkata[:, FEATURE_INDEX["hour_cos"]])
    np.testing.assert_allclose((angle / (2 * np.pi) * 24 % 24)[:3], [5.5, 6.5, 7.5], atol=1e-9)
    tokyo = user_grid(UserHistory("u", windows, zone="Asia/Tokyo"), JAN_15, 24, H)  # whole hours: exact integers
    whole = np.arange(9, 33) % 24
    np.testing.assert_array_equal(
        tokyo[:, FEATURE_INDEX["hour_sin"]], np.sin(2 * np.pi * whole / 24).astype(tokyo.dtype)
    )


def test_a_half_hour_zone_is_not_served_the_profile_of_the_zone_half_an_hour_away(tmp_path):
    """The same stored night for a user in Kolkata (+5:30), Karachi (+5) and Dhaka (+6): three different normals;
    with the hour rounded down Kolkata's was Karachi's to the last digit."""
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.write_windows("u", hourly_windows(7, JAN_15 + 9 * H, 240))
    normal = {}
    for zone in ("Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka"):
        settings = Settings(model=DEFAULT_MODEL, daily_model="none", cache="null://", user_time_zones=(("u", zone),))
        normal[zone] = _forecast(store, settings, "u", JAN_15 + 9 * H).expected_ln
    store.close()
    assert np.abs(normal["Asia/Kolkata"] - normal["Asia/Karachi"]).max() > 0.01
    assert np.abs(normal["Asia/Kolkata"] - normal["Asia/Dhaka"]).max() > 0.01


def test_a_bad_zone_is_refused_at_start_up_naming_the_fix():
    with pytest.raises(SettingsError, match=r"HRVCAST_TIME_ZONE.*IANA name"):
        Settings.from_env({"HRVCAST_TIME_ZONE": "Eastern"})
    with pytest.raises(SettingsError, match=r"bob.*not a time zone"):
        Settings.from_env({"HRVCAST_USER_TIME_ZONES": "alice=America/New_York,bob=Mars/Olympus"})
    with pytest.raises(SettingsError, match="user=Zone"):
        Settings.from_env({"HRVCAST_USER_TIME_ZONES": "America/New_York"})
    with pytest.raises(SettingsError, match="named twice"):
        Settings.from_env({"HRVCAST_USER_TIME_ZONES": "a=UTC,a=Asia/Tokyo"})
    settings = Settings.from_env(
        {"HRVCAST_TIME_ZONE": "Europe/Berlin", "HRVCAST_USER_TIME_ZONES": "ny=America/New_York"}
    )
    assert (settings.zone_of("ny"), settings.zone_of("anyone")) == ("America/New_York", "Europe/Berlin")
    assert check_zone("utc") == "UTC"


@pytest.fixture
def stores(tmp_path):
    """One night of hourly windows, stored twice: ``local`` with local-clock times (as MMASH), ``ny`` with the true
    UTC times of the same night in New York."""
    windows = hourly_windows(7, JAN_15 + 9 * H, 240)  # ten days ending 09:00 "local"
    store = SQLiteStore(tmp_path / "s.sqlite")
    store.write_windows("local", windows)
    store.write_windows("ny", windows.assign(start=windows["start"] + NY_WINTER))
    yield store
    store.close()


def _forecast(store, settings: Settings, user: str, origin_ms: int):
    service = forecast_service(settings, store, Metrics(), load_models(settings))
    return service.serve([Plan(user, "1h", origin_ms)], 24)[Plan(user, "1h", origin_ms)]


def test_a_new_york_user_with_true_utc_times_gets_the_local_nights_forecast(stores):
    base = Settings(model=DEFAULT_MODEL, daily_model="none", cache="null://")
    local = _forecast(stores, base, "local", JAN_15 + 9 * H)
    zoned = Settings(
        model=DEFAULT_MODEL, daily_model="none", cache="null://", user_time_zones=(("ny", "America/New_York"),)
    )
    ny = _forecast(stores, zoned, "ny", JAN_15 + 9 * H + NY_WINTER)
    assert np.array_equal(ny.times_ms, local.times_ms + NY_WINTER)
    np.testing.assert_allclose(ny.rmssd_p50, local.rmssd_p50, rtol=1e-5)
    np.testing.assert_allclose(ny.expected_ln, local.expected_ln, atol=1e-5)  # the normal: the same local profile
    assert ny.score == pytest.approx(local.score, abs=1e-3)
    unzoned = _forecast(stores, base, "ny", JAN_15 + 9 * H + NY_WINTER)  # the same times read as UTC hours
    assert np.abs(np.log(unzoned.rmssd_p50) - np.log(local.rmssd_p50)).max() > 0.05


def test_the_bootstrap_trains_on_the_local_hours_that_serving_reads(stores):
    """``hrvcast bootstrap`` fits the default model on the store's users in their zones, as ``hrvcast train
    --from-store`` does and as they are served: the New York user's true-UTC night reads as the local night."""
    from server.pipeline.bootstrap import stored_histories

    zoned = Settings(model=DEFAULT_MODEL, cache="null://", user_time_zones=(("ny", "America/New_York"),))
    histories = {h.user: h for h in stored_histories(stores, stores.last_observation(), zoned)}
    local = _hour(user_grid(histories["local"], JAN_15, 24, H))
    ny = _hour(user_grid(histories["ny"], JAN_15 + NY_WINTER, 24, H))
    assert local[:3].tolist() == [0, 1, 2] and np.array_equal(ny, local)


# --- clock times written without an offset are read in the user's zone --------------------------------------


def _ingest(monkeypatch, tmp_path, user: str, args: list[str], zones: str | None = None) -> np.ndarray:
    """Ingest with ``HRVCAST_USER_TIME_ZONES=zones``; the stored beat times of ``user``."""
    from server.cli import main

    url = f"sqlite:///{tmp_path / 'zones.sqlite'}"
    monkeypatch.setenv("HRVCAST_STORE", url)
    monkeypatch.delenv("HRVCAST_TIME_ZONE", raising=False)
    if zones:
        monkeypatch.setenv("HRVCAST_USER_TIME_ZONES", zones)
    else:
        monkeypatch.delenv("HRVCAST_USER_TIME_ZONES", raising=False)
    assert main(["ingest", "--user", user, *args]) == 0
    store = SQLiteStore(tmp_path / "zones.sqlite")
    try:
        return store.read_beats(user, 0, 4_102_444_800_000)[0]
    finally:
        store.close()


@pytest.mark.realdata
def test_an_mmash_file_of_a_new_york_user_is_stored_at_its_true_utc_times(monkeypatch, tmp_path, data_dir, capsys):
    """MMASH's clock is local time. Read for a user in New York, each beat is stored five hours later (January:
    UTC-5) than the same file read as UTC, and the command says which zone it read the clock in."""
    rr = str(data_dir / "mmash" / "DataPaper" / "user_1" / "RR.csv")
    local = _ingest(monkeypatch, tmp_path, "local", [rr, "--start-date", "2026-01-14"])
    ny = _ingest(monkeypatch, tmp_path, "ny", [rr, "--start-date", "2026-01-14"], "ny=America/New_York")
    assert np.array_equal(ny, local + NY_WINTER)
    assert "clock times without an offset read in America/New_York" in capsys.readouterr().err
    flag = _ingest(monkeypatch, tmp_path, "flag", [rr, "--start-date", "2026-01-14", "--time-zone", "Asia/Tokyo"])
    assert np.array_equal(flag, local - 9 * H)  # --time-zone wins over the default


def test_a_start_without_offset_is_local_and_one_with_an_offset_is_kept(monkeypatch, tmp_path):
    path = tmp_path / "rr.txt"
    np.savetxt(path, np.full(600, 800.0), fmt="%.1f")
    zones = "a=America/New_York,b=America/New_York"
    naive = _ingest(monkeypatch, tmp_path, "a", [str(path), "--start", "2026-01-15T08:00:00"], zones)
    utc = _ingest(monkeypatch, tmp_path, "b", [str(path), "--start", "2026-01-15T08:00:00Z"], zones)
    assert naive[0] - 800 == JAN_15 + 13 * H  # 08:00 in New York is 13:00 UTC
    assert utc[0] - 800 == JAN_15 + 8 * H


def test_a_local_clock_across_the_end_of_summer_time_stays_continuous(monkeypatch, tmp_path):
    """New York's clock shows 01:00-02:00 twice on 2026-11-01. Beats written with that clock, in order, are read
    as one continuous recording (the order tells the two hours apart): no hole, no beat going backwards."""
    from datetime import UTC, datetime, timedelta

    wall = datetime(2026, 11, 1, 0, 30)
    step = timedelta(seconds=1)
    n = 3 * 3600  # 00:30 EDT to 02:30 EST: three hours of beats, the wall clock repeating 01:00-02:00
    times = []
    for k in range(n):
        t = wall + k * step
        if k >= 5400:  # past 01:59:59 EDT the clock goes back to 01:00 EST
            t -= timedelta(hours=1)
        times.append(t.strftime("%Y-%m-%dT%H:%M:%S"))
    path = tmp_path / "rr.csv"
    path.write_text("timestamp,rr_ms\n" + "".join(f"{t},1000\n" for t in times))
    beats = _ingest(monkeypatch, tmp_path, "dst", [str(path)], "dst=America/New_York")
    assert beats.size == n
    assert np.all(np.diff(beats) == 1000)
    assert beats[0] == int(datetime(2026, 11, 1, 4, 30, tzinfo=UTC).timestamp() * 1000)  # 00:30 EDT = 04:30 UTC


def test_a_start_the_clock_showed_twice_is_refused_naming_the_fix(monkeypatch, tmp_path, capsys):
    from server.cli import main

    path = tmp_path / "rr.txt"
    np.savetxt(path, np.full(100, 800.0), fmt="%.1f")
    monkeypatch.setenv("HRVCAST_STORE", f"sqlite:///{tmp_path / 's.sqlite'}")
    monkeypatch.setenv("HRVCAST_TIME_ZONE", "America/New_York")
    assert main(["ingest", "--user", "x", str(path), "--start", "2026-11-01T01:30:00"]) == 2
    err = capsys.readouterr().err
    assert "came twice in America/New_York" in err and "offset" in err


def test_the_repeated_autumn_hour_is_told_apart_by_order_also_when_a_file_chunk_ends_inside_it():
    """A file is read 4 MiB at a time. A two-day strap file whose chunk ended inside New York's repeated hour was
    refused (pandas infers the hour per chunk); read in any chunks, the times convert as in one piece."""
    from model.clock import WallClock

    wall0 = 1_793_493_000_000  # 2026-11-01T00:30 New York's wall clock, written as if UTC
    wall = wall0 + 1000 * np.arange(3 * 3600, dtype=np.int64)
    wall[5400:] -= 3_600_000  # from 02:00 EDT the clock shows 01:00 again (EST)
    whole = WallClock("America/New_York").to_utc(wall)
    assert np.all(np.diff(whole) == 1000) and whole[0] == wall0 + 4 * H  # 00:30 EDT is 04:30 UTC
    for cut in (4000, 5400, 6000, 9000):  # inside the first pass, at the jump back, inside the second pass
        clock = WallClock("America/New_York")
        parts = np.concatenate([clock.to_utc(wall[:cut]), clock.to_utc(wall[cut:])])
        assert np.array_equal(parts, whole), cut
