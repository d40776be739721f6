"""The benchmarks' own logic that figures depend on (not their measurements)."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _bench(name):
    """benchmarks/<name>.py as a module (its directory on sys.path while it loads)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


def _bench_robustness():
    return _bench("bench_robustness")


def _record(path, runs, scored_on="test"):
    path.write_text(json.dumps({"scored_on": scored_on, "runs": runs}))
    return str(path)


def _runs(acc, dt):
    return [{"task": "coincidence", "model": "fixed", "dt": dt, "seed": s, "test_accuracy": float(a)}
            for s, a in enumerate(acc)]


def test_robustness_from_joins_records_and_checks_the_goals(tmp_path):
    """``--from``: the runs of records made one dt at a time give the same table, per-seed
    drops from 1 ms and goals as one record holding them all."""
    br = _bench_robustness()
    seed = 41
    rng = np.random.default_rng(seed)
    print(f"seed={seed}")
    acc = {dt: rng.choice([0.94, 0.97, 0.99, 1.0], size=10) for dt in (1e-3, 5e-4, 1e-4)}
    paths = [_record(tmp_path / f"r{n}.json", _runs(a, dt)) for n, (dt, a) in enumerate(acc.items())]
    groups, scored = br.joined(paths)
    table, drops, goals = br.summarize(groups)
    assert scored == "test" and len(groups) == 3
    together, _, _ = br.summarize([{"task": "coincidence", "model": "fixed", "dt": dt, "runs": _runs(a, dt)}
                                   for dt, a in acc.items()])
    assert table == together
    worst = [max(100 * (acc[1e-3][s] - acc[dt][s]) for dt in (5e-4, 1e-4)) for s in range(10)]
    for s in range(10):
        assert drops["coincidence/fixed"][str(s)]["worst_drop_points"] == pytest.approx(worst[s]), f"seed={seed} s={s}"
    assert goals["coincidence_fixed_mean_ge_98_every_dt"] == all(a.mean() >= 0.98 for a in acc.values())
    assert goals["coincidence_fixed_every_seed_ge_95_every_dt"] == all(a.min() >= 0.95 for a in acc.values())
    assert goals["coincidence_fixed_no_finer_dt_2_points_below_1ms"] == all(w <= 2 for w in worst)


def test_robustness_from_refuses_a_run_twice_and_mixed_scoring(tmp_path):
    br = _bench_robustness()
    a = _record(tmp_path / "a.json", _runs([1.0, 0.99], 1e-3))
    b = _record(tmp_path / "b.json", _runs([0.98], 1e-3))                     # seed 0 again
    with pytest.raises(SystemExit, match=r"run \('coincidence', 'fixed', 0.001, 0\).*a\.json.*b\.json"):
        br.joined([a, b])
    c = _record(tmp_path / "c.json", _runs([1.0], 1e-4), scored_on="validation 0.2")
    with pytest.raises(SystemExit, match="scored on different data"):
        br.joined([a, c])
    d = tmp_path / "d.json"
    d.write_text(json.dumps({"summary": []}))
    with pytest.raises(SystemExit, match=r"d\.json.*not a record of this benchmark"):
        br.joined([a, str(d)])
    with pytest.raises(SystemExit, match=r"cannot read record.*missing\.json"):
        br.joined([str(tmp_path / "missing.json")])


@pytest.mark.parametrize("sources", ["", ",", ",,"])
def test_robustness_from_naming_no_record_is_refused(sources, monkeypatch, capsys, tmp_path):
    """``--from`` with no file in it trains nothing and writes no record (it wrote an empty
    one): argparse's error, naming the value and what was expected."""
    br = _bench_robustness()
    monkeypatch.setattr(sys.modules["_common"], "RESULTS", tmp_path)    # where write() puts records
    monkeypatch.setattr(sys, "argv", ["bench_robustness.py", "--from", sources, "--name", "empty"])
    with pytest.raises(SystemExit) as exited:
        br.main()
    assert exited.value.code == 2
    assert f"--from {sources!r} names no record; expected A.json[,B.json...]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_narrow_learning_patch_at_18_bits_is_the_golden_model(monkeypatch):
    """bench_narrow_learning's patched learning rule: at 18 bits and shift 12 it is the golden
    model (GRAD_OP: every final weight equal), at 32 bits and no shift it is the model before
    GRAD_OP (the weights differ, no operand saturates); the golden model is restored after
    the test (monkeypatch)."""
    from gammacore.golden import fixed_model, formats
    from gammacore.golden.presets import preset
    from gammacore.golden.tasks import make_task
    from gammacore.golden.train import train_many
    bn = _bench("bench_narrow_learning")
    monkeypatch.setattr(fixed_model, "fp", fixed_model.fp)
    monkeypatch.setattr(fixed_model, "F", fixed_model.F)
    seeds = [0, 1]
    print(f"seeds={seeds}")

    def params():
        cfgs = [preset("coincidence", dt=1e-3, seed=s) for s in seeds]
        tasks = [make_task("coincidence", dt=1e-3, seed=s) for s in seeds]
        res = train_many(cfgs, tasks, "fixed", seeds=seeds, limit=12, epochs=1, progress=False)
        return [[{k: np.asarray(v).copy() for k, v in layer.items()} for layer in r["params"]] for r in res]

    def same(a, b):
        return all(np.array_equal(x[k], y[k]) for ra, rb in zip(a, b) for x, y in zip(ra, rb) for k in x)

    golden = params()
    grad_op = {"yhat": [0, 0], "u": [0, 0], "Z": [0, 0]}
    bn.patch(formats.GRAD_OP.width, formats.GRAD_OP_SHIFT, grad_op)
    assert same(params(), golden)
    assert all(c[1] > 0 for c in grad_op.values()), grad_op
    wide = {"yhat": [0, 0], "u": [0, 0], "Z": [0, 0]}
    bn.patch(32, 0, wide)
    assert not same(params(), golden)
    assert all(c[0] == 0 and c[1] > 0 for c in wide.values()), wide


@pytest.mark.parametrize("args", [["--bits", "40"], ["--shift", "23"], ["--tasks", "mnist"], ["--seeds", "x"]])
def test_narrow_learning_refuses_bad_arguments(args, capsys):
    bn = _bench("bench_narrow_learning")
    with pytest.raises(SystemExit) as e:
        bn.main(args + ["--name", "never_written"])
    assert e.value.code == 2
    assert args[1] in capsys.readouterr().err
    assert not (BENCH / "results" / "never_written.json").exists()
