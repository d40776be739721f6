"""Tests of the reference tasks: physical-time events independent of dt, fixed splits, errors."""
import numpy as np
import pytest

from gammacore.golden import tasks


@pytest.mark.parametrize("dt", [5e-4, 2.5e-4, 1e-4])
def test_coincidence_same_events_in_physical_time(dt):
    """Every event of the 1 ms task appears at the same physical time (within dt) at finer dt."""
    a = tasks.coincidence(dt=1e-3, seed=3, n_train=40, n_test=10)
    b = tasks.coincidence(dt=dt, seed=3, n_train=40, n_test=10)
    np.testing.assert_array_equal(a.y_train, b.y_train, err_msg=f"seed=3 dt={dt}")
    for n in range(a.x_train.shape[0]):
        ta = np.argwhere(a.x_train[n] != 0)
        tb = np.argwhere(b.x_train[n] != 0)
        assert len(ta) == len(tb), f"sample {n} dt={dt}"
        for (sa, ca), (sb, cb) in zip(sorted(ta.tolist(), key=lambda r: (r[1], r[0])),
                                      sorted(tb.tolist(), key=lambda r: (r[1], r[0]))):
            assert ca == cb
            assert abs(sa * 1e-3 - sb * dt) <= 1e-3, f"sample {n} channel {ca} dt={dt}"


@pytest.mark.parametrize("name", ["coincidence", "digits"])
def test_split_fixed_by_seed(name):
    kw = {"n_train": 50, "n_test": 20} if name == "coincidence" else {}
    a = tasks.make_task(name, seed=1, **kw)
    b = tasks.make_task(name, seed=1, **kw)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.m_train.shape == a.x_train.shape[:2]
    assert a.m_train.any(axis=1).all(), "every sample must carry loss on some step"
    assert set(np.unique(a.y_train)) <= set(range(a.n_classes))


def test_digits_classes_balanced_and_magnitudes_in_range():
    t = tasks.digits(seed=0)
    assert t.n_classes == 10 and t.x_train.shape[2] == 8
    assert set(np.unique(t.y_test)) == set(range(10))
    assert t.x_train.min() >= 0 and t.x_train.max() <= 64


@pytest.mark.parametrize("bad", [0.0, -1e-3])
def test_bad_dt_names_value(bad):
    with pytest.raises(ValueError, match="dt"):
        tasks.coincidence(dt=bad)
