"""Default networks per task (tuned; benchmarks/README.md lists the figures they give)."""
from .config import LayerConfig, NetworkConfig
from .train import Schedule

__all__ = ["preset", "schedule", "SCHEDULES"]

#: bucket time constants: bucket k is delayed by about 2, 6, 14 and 30 ms
TAUS = (0.002, 0.004, 0.008, 0.016)
#: initial weight scale (NetworkConfig.init_gain) per task
INIT_GAIN = {"coincidence": 4.0, "digits": 1.0}
#: training schedule per task (epochs, halvings of the learning rates); any other data set
#: (``train --data``) gets DATA_SCHEDULE
SCHEDULES = {"coincidence": Schedule(epochs=8, phases=4), "digits": Schedule(epochs=10, phases=5)}
DATA_SCHEDULE = Schedule(epochs=4, phases=4)


def schedule(task):
    """The default :class:`~gammacore.golden.train.Schedule` of a task name (built-in or not)."""
    return SCHEDULES.get(task, DATA_SCHEDULE)


def preset(task, dt=1e-3, seed=0):
    """The default NetworkConfig of a task at step ``dt`` (weights seeded by ``seed``).

    coincidence: 2-32-2; a hidden layer is needed for the delay between the two inputs
    (docs/model.md section 2). Initial weights at gain 4 (twice the He scale) and learning rates
    of 2 per second: each sample brings only two input events, so at gain 1 the hidden
    layer stays near the encoder threshold and training crawls out of a plateau whose
    length (and the final accuracy) hinged on O(dt / tau) differences between time steps
    and on the power-of-two rounding of eta * dt (x1.22 at 0.1 ms); rates of 4 to 8 per
    second made that plateau permanent at fine dt. benchmarks/README.md has the numbers.
    digits: 8-128-10, fast bucket-weight learning and a low threshold (theta0 = 0.02)
    for the hidden layer.
    """
    if task == "coincidence":
        lr = dict(eta_w=2.0, eta_v=2.0, eta_b=2.0)
        layers = (LayerConfig(2, 32, taus=TAUS, theta0=0.05, m_f=0.05, tau_theta=0.02, **lr),
                  LayerConfig(32, 2, taus=TAUS, readout="linear", encoder="none", **lr))
    elif task == "digits":
        lr = dict(eta_w=8.0, eta_v=8.0, eta_b=8.0)
        layers = (LayerConfig(8, 128, taus=TAUS, theta0=0.02, m_f=0.05, tau_theta=0.02, **lr),
                  LayerConfig(128, 10, taus=TAUS, readout="linear", encoder="none", **lr))
    else:
        raise ValueError(f"unknown task {task!r}; expected 'coincidence' or 'digits'")
    return NetworkConfig(dt=dt, layers=layers, init_seed=seed, init_gain=INIT_GAIN[task]).validate()
