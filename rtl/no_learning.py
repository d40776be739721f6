"""The learning unit's ports with nothing behind them: the inference-only network core.

A :class:`~gammacore.rtl.net_core.NetCore` built with ``learning=False`` (DSP- and
logic-poor devices such as the iCE40 UP5K) puts this in place of
:class:`~gammacore.rtl.learning.LearningUnit`: same signature, every output held at zero, no
error memory and no multipliers. The chip refuses ``Cmd.LEARN`` and every access to the ERR
region with a bus error and clears ``CapFlag.LEARNING``, so the host sees that the build
cannot learn; the core never starts the unit.
"""
from amaranth.hdl import Module

from .learning import LearningUnit

__all__ = ["NoLearningUnit"]


class NoLearningUnit(LearningUnit):
    """:class:`~gammacore.rtl.learning.LearningUnit`'s interface, constant outputs (busy and
    done low, no memory requests, error reads zero). Parameters as the learning unit's."""

    def elaborate(self, platform):
        self.memories = {}
        return Module()
