"""Lockstep training of independent learners (golden.train.train_many) equals separate runs."""
import numpy as np
import pytest

from gammacore.golden import formats as F
from gammacore.golden.network import make_network, stack_params
from gammacore.golden.presets import preset
from gammacore.golden.tasks import make_task
from gammacore.golden.train import Schedule, train, train_many

SEEDS = [3, 7, 11]


def _same(a, b, where):
    """Exact equality of two train() result dicts (params, curve, accuracies and the rest)."""
    for n, (pa, pb) in enumerate(zip(a["params"], b["params"])):
        for k in ("W", "V", "b"):
            assert np.array_equal(pa[k], pb[k]), f"{where}: layer {n} {k} differs"
    assert a["curve"] == b["curve"], where
    skip = {"params", "curve", "wall_seconds", "train_wall_seconds"}
    assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}, where


@pytest.mark.parametrize("model", ["fixed", "float"])
@pytest.mark.parametrize("task,dt", [("coincidence", 1e-3), ("coincidence", 5e-4), ("digits", 1e-3)])
def test_train_many_equals_separate_runs(task, dt, model):
    """Three members (own init, data and order seeds) in lockstep give exactly (bit for bit,
    float included: every float sum runs over one member's terms in a fixed order) what
    three separate train() runs give: weights, learning curve, accuracies, losses."""
    print(f"seeds={SEEDS} task={task} dt={dt} model={model}")
    cfgs = [preset(task, dt=dt, seed=s) for s in SEEDS]
    tasks = [make_task(task, dt=dt, seed=s) for s in SEEDS]
    sch = Schedule(epochs=2, phases=3)      # a halving inside each epoch's run
    many = train_many(cfgs, tasks, model, seeds=SEEDS, schedule=sch, limit=20, progress=False)
    assert [r["seed"] for r in many] == SEEDS
    for s, c, t, r in zip(SEEDS, cfgs, tasks, many):
        alone = train(c, t, model, seed=s, schedule=sch, limit=20, progress=False)
        _same(r, alone, f"seed={s}")
    # the members did learn something different from each other
    assert not np.array_equal(many[0]["params"][0]["W"], many[1]["params"][0]["W"])


def test_train_many_per_member_schedules():
    """Members with different schedules (phases) still match their separate runs."""
    seeds, schedules = [0, 1], [Schedule(epochs=2, phases=2), Schedule(epochs=2, phases=4)]
    print(f"seeds={seeds}")
    cfgs = [preset("coincidence", seed=s) for s in seeds]
    tasks = [make_task("coincidence", seed=s) for s in seeds]
    many = train_many(cfgs, tasks, "fixed", seeds=seeds, schedule=schedules, limit=12, progress=False)
    for s, c, t, sch, r in zip(seeds, cfgs, tasks, schedules, many):
        _same(r, train(c, t, "fixed", seed=s, schedule=sch, limit=12, progress=False), f"seed={s}")


@pytest.mark.parametrize("model", ["fixed", "float"])
def test_zero_error_leaves_a_member_unchanged(model):
    """A member given a zero error at a step keeps every weight bit; the others learn."""
    cfgs = [preset("coincidence", seed=s) for s in (0, 1)]
    net = make_network(cfgs[0], model, batch=2, members=True,
                       params=stack_params([c.init_params() for c in cfgs]))
    before = net.get_params()
    rng = np.random.default_rng(0)
    for t in range(30):
        net.step(rng.uniform(0, 1, size=(2, 2)) * (rng.random((2, 2)) < 0.3))
        net.learn(np.array([[0.0, 0.0], [0.4, -0.4]]))
    after = net.get_params()
    for b, a in zip(before, after):
        for k in ("W", "V", "b"):
            assert np.array_equal(b[k][0], a[k][0]), k
    assert not np.array_equal(before[1]["b"][1], after[1]["b"][1])
    if model == "fixed":   # the raw master words too, not only their top bits
        fixed = make_network(cfgs[0], "fixed", batch=1, members=True)
        m0 = [layer.W_master.copy() for layer in fixed.layers]
        fixed.step(np.ones((1, 2)))
        fixed.learn(F.ERR.to_float(np.zeros((1, 2), dtype=np.int64)))
        assert all(np.array_equal(a, layer.W_master) for a, layer in zip(m0, fixed.layers))


def test_train_many_refuses_mismatched_members():
    a, b = preset("coincidence", dt=1e-3), preset("coincidence", dt=5e-4)
    with pytest.raises(ValueError, match="differs"):
        train_many([a, b], [make_task("coincidence", dt=1e-3), make_task("coincidence", dt=5e-4)],
                   seeds=[0, 1], limit=2, progress=False)
    with pytest.raises(ValueError, match="same epochs"):
        train_many([a, a], [make_task("coincidence")] * 2, seeds=[0, 1],
                   schedule=[Schedule(1), Schedule(2)], limit=2, progress=False)
    with pytest.raises(ValueError, match="members=True"):
        make_network(a, "fixed", batch=2).learn(np.zeros((2, 2)))


@pytest.mark.parametrize("model", ["fixed", "float"])
def test_train_many_starts_from_given_weights(model):
    """``init_params`` replaces a member's initial weights, and nothing else: a member whose
    configuration has init_seed 7 but starts from seed 3's weights runs exactly as seed 3's
    configuration does alone (the data and sample order come from the task and ``seeds``)."""
    print(f"seeds=3,7 model={model}")
    c3, c7 = preset("coincidence", seed=3), preset("coincidence", seed=7)
    task = make_task("coincidence", seed=3)
    sch = Schedule(epochs=2, phases=2)
    many = train_many([c7, c7], [task, task], model, seeds=[3, 3], schedule=sch, limit=12, progress=False,
                      init_params=[c3.init_params(), c7.init_params()])
    _same(many[0], train(c3, task, model, seed=3, schedule=sch, limit=12, progress=False), "seed 3's start")
    _same(many[1], train(c7, task, model, seed=3, schedule=sch, limit=12, progress=False), "seed 7's start")
    with pytest.raises(ValueError, match="1 initial parameter lists for 2 members"):
        train_many([c3, c3], [task, task], model, seeds=[3, 3], limit=2, progress=False,
                   init_params=[c3.init_params()])
