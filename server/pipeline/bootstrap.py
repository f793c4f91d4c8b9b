"""What ``make run`` does before serving: demo data into an empty store, a model if none, then how to connect.

    report = bootstrap(settings, BootstrapConfig(users=5, days=14))   # idempotent; quick when done already
    token_set = settings.api_token is not None
    print("\n".join(connection_help("127.0.0.1", 8000, report.example_user, token_set=token_set)))

1. The configured store is opened (``HRVCAST_STORE``; an SQLite store creates its folder, ``var/`` by default).
2. A store without users gets demo data: ``users`` synthetic people (``model.synth.generator``) covering the
   last ``days`` days up to now, written as the files ``hrvcast demo-data`` writes (``server.pipeline.demo``)
   and each ingested with ``server.pipeline.ingest`` as soon as it is written (beats, hourly and daily windows,
   sleep, activity), with two progress lines per user. One of them (``demo-1``) is in a strain episode still on
   when the data ends, so a demo shows a user heading into the red zone. A store that has users is left alone:
   bootstrap never mixes demo people into real data. (5 users x 14 days, 6.4 M beats: about 1.5 minutes on
   2 cores, most of it ingesting.)
3. Without a checkpoint at ``HRVCAST_MODEL`` the default model is trained on the store's users with the shipped
   hourly recipe (``model.training.recipes``), as ``hrvcast train --from-store`` does (progress bar; seconds
   for 5 users x 14 days).
4. The caller prints :func:`connection_help`: the Grafana data source URL and a ``curl`` line that works as
   printed once ``hrvcast serve`` is up (never the token itself).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from model.errors import InsufficientHistory
from model.history import UserHistory
from model.schema import DAY_MS, HOUR_MS
from model.synth.generator import SynthParams
from server.pipeline.demo import DemoSpec, write_demo
from server.settings import Settings
from server.stores import redact, store_from_settings
from server.stores.base import HistoryStore

STRAINED_INDEX = 1  # demo-1: the user heading into the red zone (the curl example asks for it)
# demo-1's strain: began 2.5 days before the end, at full load by then (ln RMSSD -0.7: RMSSD about halved, resting
# HR +8 bpm) and still on; its earlier episodes, if any, are drawn from these deeper ranges too
STRAINED_PARAMS = SynthParams(strain_at_end_days=2.5, strain_depth_ln=(0.55, 0.7), strain_hr_bpm=(4.0, 8.0))
VAL_FRACTION = 0.2  # validation users of the default model, as `hrvcast train --val-fraction` by default


@dataclass(frozen=True)
class BootstrapConfig:
    users: int = 5  # demo users demo-1 ... demo-N written into an empty store
    days: int = 14  # days of demo data per user, ending now
    seed: int = 1  # same seed, same people (as hrvcast demo-data --seed)
    demo_dir: Path = Path("var/demo")  # where the demo files are written before they are ingested
    train_seed: int = 0  # seed of the default model's training (hrvcast train --seed)
    progress: bool = True  # the training progress bar on stderr


@dataclass
class BootstrapReport:
    store: str  # the store URL, password redacted
    users: list[str] = field(default_factory=list)  # users in the store after bootstrap
    demo_users: list[str] = field(default_factory=list)  # users generated and ingested by this run ([] = none)
    model: str = ""  # checkpoint path
    trained: bool = False  # True when this run trained the checkpoint
    example_user: str | None = None  # a user with hourly windows, for the curl example
    last_observed_ms: int | None = None  # the example user's newest hourly window

    @property
    def did_nothing(self) -> bool:
        return not self.demo_users and not self.trained


def bootstrap(
    settings: Settings, config: BootstrapConfig = BootstrapConfig(), *, log: Callable[[str], None] = print
) -> BootstrapReport:
    """Steps 1-3 of the module docstring; ``log`` receives one line per thing done (two per demo user)."""
    store = store_from_settings(settings, create=True)  # a fresh checkout: var/ and the store are made here
    report = BootstrapReport(store=redact(settings.store), model=settings.model)
    try:
        users = store.list_users()
        if users:
            log(f"store {report.store}: {len(users)} user(s) already, no demo data added")
        else:
            started = time.perf_counter()
            report.demo_users = fill_with_demo_data(store, config, log=log)
            users = store.list_users()
            elapsed_s = time.perf_counter() - started
            log(f"demo data: {len(report.demo_users)} user(s) written and ingested in {elapsed_s:.0f} s")
        report.users = users
        last = store.last_observation(users, "1h") if users else {}
        if Path(settings.model).is_file():
            log(f"model {settings.model}: present, not retrained (delete it to train a new one)")
        else:
            log(f"model {settings.model}: missing, training the default model on the store's users")
            started = time.perf_counter()
            train_default_model(store, last, settings, config)
            report.trained = True
            log(f"model trained in {time.perf_counter() - started:.0f} s")
    finally:
        store.close()
    report.example_user = example_user(last)
    report.last_observed_ms = last.get(report.example_user) if report.example_user else None
    return report


def fill_with_demo_data(
    store: HistoryStore, config: BootstrapConfig, *, log: Callable[[str], None] = print
) -> list[str]:
    """Generate ``config.users`` demo users up to now into ``config.demo_dir`` and ingest each into ``store``
    as soon as its files are written; two lines per user go to ``log`` (written, ingested)."""
    from model.io import ReadOptions
    from server.pipeline.ingest import IngestFiles, ingest_file  # the HRV pipeline, loaded only when there is work

    spec = DemoSpec(
        users=config.users,
        days=config.days,
        seed=config.seed,
        overrides={STRAINED_INDEX: STRAINED_PARAMS},
        generator="hrvcast bootstrap",
    )
    log(
        f"store {redact(store.url)} is empty: generating {config.users} demo user(s) x {config.days} days "
        f"into {config.demo_dir} and ingesting them"
    )
    ingested = []
    for written in write_demo(spec, config.demo_dir):
        step = f"  [{written.index}/{config.users}] {written.user}"
        log(f"{step}: {written.n_beats:,} beats written in {written.write_s:.0f} s, ingesting")
        started = time.perf_counter()
        files = written.files
        ingest = IngestFiles(files.rr, sleep=files.sleep, activity=files.activity)
        done = ingest_file(store, written.user, ingest, ReadOptions(fmt="csv"))
        log(
            f"{step}: ingested in {time.perf_counter() - started:.0f} s "
            f"({done.windows.get('1h', 0)} hourly windows, {done.sleep} sleep episodes)"
        )
        ingested.append(written.user)
    return ingested


def train_default_model(store: HistoryStore, last: dict[str, int], settings: Settings, config: BootstrapConfig):
    """Train the shipped hourly recipe on every stored hour of the users in ``last`` (user -> newest hourly
    window) and save it at ``settings.model``, as ``hrvcast train --from-store`` does."""
    from model.forecast.checkpoint import save
    from model.training.recipes import train_config
    from model.training.train import split_by_user, train

    histories = stored_histories(store, last, settings)
    if len(histories) < 2:
        raise InsufficientHistory(
            f"only {len(histories)} user(s) with hourly windows in {redact(settings.store)}: the default model "
            "needs at least 2 (one for validation); bootstrap an empty store with --users 2 or more"
        )
    train_users, val_users = split_by_user(histories, VAL_FRACTION, seed=config.train_seed)
    checkpoint = train(train_users, val_users, train_config("1h", seed=config.train_seed), progress=config.progress)
    checkpoint.training["sources"] = {"store": redact(settings.store), "users": len(histories)}
    save(checkpoint, Path(settings.model))
    return checkpoint


def stored_histories(store: HistoryStore, last: dict[str, int], settings: Settings) -> list[UserHistory]:
    """Every stored hourly window, sleep episode and activity hour of the users in ``last``, by user id, each in
    its user's time zone (``Settings.zone_of``, as ``hrvcast train --from-store`` and serving read them): a
    profile fitted on UTC hours would be served on local ones."""
    from server.pipeline.history import load_histories

    if not last:
        return []
    end_ms = max(last.values()) + DAY_MS  # past the newest window, with the activity and sleep around it
    histories = load_histories(store, sorted(last), end_ms, lookback_h=end_ms // HOUR_MS)  # from the epoch
    return [replace(h, zone=settings.zone_of(h.user)) for h in histories.values() if not h.windows.empty]


def example_user(last_observed: dict[str, int]) -> str | None:
    """The user for the curl example: the demo user heading into the red zone when present, else the user
    with the newest hourly window (ties: the first id)."""
    if not last_observed:
        return None
    strained = f"demo-{STRAINED_INDEX}"
    if strained in last_observed:
        return strained
    return min(last_observed, key=lambda u: (-last_observed[u], u))


def client_host(host: str) -> str:
    """The address a client on this machine uses for a server bound to ``host`` (a wildcard means loopback)."""
    bare = host.strip("[]")
    if bare in ("", "0.0.0.0"):
        return "127.0.0.1"
    if bare == "::":
        return "[::1]"
    return f"[{bare}]" if ":" in bare else bare


def connection_help(
    host: str,
    port: int,
    user: str | None,
    *,
    token_set: bool,
    last_observed_ms: int | None = None,
    now_ms: int | None = None,
) -> list[str]:
    """The lines ``hrvcast bootstrap`` prints: data source URL and a curl line that works as printed (the
    token is referred to as ``$HRVCAST_API_TOKEN``, never written out)."""
    base = f"http://{client_host(host)}:{port}"
    lines = [f"Grafana data source URL (simPod JSON, Access = Server): {base}/grafana"]
    if host.strip("[]") in ("", "0.0.0.0", "::"):
        lines.append(f"  (the server listens on {host}; other machines use this machine's address instead)")
    if token_set:
        lines.append(
            "  HRVCAST_API_TOKEN is set: in Grafana add the header 'Authorization' with the value 'Bearer <token>'"
        )
    if user is None:
        lines.append(
            "No user has hourly HRV windows yet: ingest data (hrvcast ingest --user ID FILE), then ask "
            f"{base}/api/v1/forecast?user=ID&horizon=24"
        )
        return lines
    auth = ' -H "Authorization: Bearer $HRVCAST_API_TOKEN"' if token_set else ""
    url = shlex.quote(f"{base}/api/v1/forecast?user={user}&horizon=24")
    lines.append(
        f"Next 24 hours for {user} once `hrvcast serve` is up"
        + (" (with HRVCAST_API_TOKEN exported in your shell):" if token_set else ":")
    )
    lines.append(f"  curl -s{auth} {url}")
    if last_observed_ms is not None and now_ms is not None and now_ms - last_observed_ms > 6 * HOUR_MS:
        age_h = (now_ms - last_observed_ms) // HOUR_MS
        lines.append(
            f"  note: {user}'s newest data is {age_h} h old, so its forecast starts {age_h} h ago; "
            "`make clean` (deletes var/) regenerates demo data up to now"
        )
    return lines


def summary(report: BootstrapReport) -> list[str]:
    what = (
        "nothing to do"
        if report.did_nothing
        else ", ".join(
            part
            for part in (
                f"ingested {len(report.demo_users)} demo user(s)" if report.demo_users else "",
                "trained the default model" if report.trained else "",
            )
            if part
        )
    )
    return [f"bootstrap: {what}; store {report.store} has {len(report.users)} user(s); model {report.model}"]
