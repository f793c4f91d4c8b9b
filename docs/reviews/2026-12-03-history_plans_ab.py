"""Score-history planning, the code before the resolution-as-of change against the code after, one run.

    git show 9a65904:server/pipeline/score_history.py > /tmp/old_score_history.py
    PYTHONPATH=$PWD .venv/bin/python docs/reviews/2026-12-03-history_plans_ab.py
"""
import importlib.util, tempfile, time, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, "bench")
from score_history import morning_readings, END_MS, DAY_MS, synth, load_models, forecast_service, Settings, Metrics, SQLiteStore
from server.pipeline import score_history as new
spec = importlib.util.spec_from_file_location("old_sh", "/tmp/old_score_history.py"); old = importlib.util.module_from_spec(spec); sys.modules["old_sh"] = old; spec.loader.exec_module(old)
settings = Settings(); models = load_models(settings)
with tempfile.TemporaryDirectory() as tmp:
    store = SQLiteStore(Path(tmp) / "b.sqlite")
    strap, _ = synth.hourly_history("strap", END_MS - 98 * DAY_MS, END_MS, np.random.default_rng(1))
    store.write_windows("strap", strap.windows)
    store.write_windows("spot", morning_readings(210), "1d")
    for user in ("strap", "spot"):
        svc = forecast_service(settings, store, Metrics(), models)
        times = new._step_times(svc, [user], END_MS - 90 * DAY_MS, END_MS, END_MS)
        for name, mod in (("old", old), ("new", new), ("old", old), ("new", new)):
            t = time.perf_counter(); plans = mod.past_plans(svc, times); dt = time.perf_counter() - t
            print(user, name, f"{dt*1000:.1f} ms", len(plans[user]), len({p for _, p in plans[user]}))
        assert old.past_plans(svc, times) == new.past_plans(svc, times)
    print("same plans")
