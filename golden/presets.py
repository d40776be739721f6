"""Default networks per task (tuned; benchmarks/README.md lists the figures they give)."""
from .config import LayerConfig, NetworkConfig

__all__ = ["preset"]

#: bucket time constants: bucket k is delayed by about 2, 6, 14 and 30 ms
TAUS = (0.002, 0.004, 0.008, 0.016)


def preset(task, dt=1e-3, seed=0):
    """The default NetworkConfig of a task at step ``dt`` (weights seeded by ``seed``).

    coincidence: 2-32-2; a hidden layer is needed for the delay between the two inputs
    (MODEL.md section 2). digits: 8-128-10, fast bucket-weight learning and a low
    threshold (theta0 = 0.02) for the hidden layer.
    """
    if task == "coincidence":
        lr = dict(eta_w=4.0, eta_v=4.0, eta_b=4.0)
        layers = (LayerConfig(2, 32, taus=TAUS, theta0=0.05, m_f=0.05, tau_theta=0.02, **lr),
                  LayerConfig(32, 2, taus=TAUS, readout="linear", encoder="none", **lr))
    elif task == "digits":
        lr = dict(eta_w=8.0, eta_v=8.0, eta_b=8.0)
        layers = (LayerConfig(8, 128, taus=TAUS, theta0=0.02, m_f=0.05, tau_theta=0.02, **lr),
                  LayerConfig(128, 10, taus=TAUS, readout="linear", encoder="none", **lr))
    else:
        raise ValueError(f"unknown task {task!r}; expected 'coincidence' or 'digits'")
    return NetworkConfig(dt=dt, layers=layers, init_seed=seed).validate()
