"""The descriptor store (block RAM of every layer's descriptor, one loaded) vs a dict model.

Random host writes (any field, random 32-bit data, overwrites), loads of random layers
and idle cycles; whenever the store is not busy, the loaded
descriptor must equal what was written to that layer (each field truncated to its
width), ``layer`` must name it and ``nonempty`` must follow n_in and n_out of every layer.
With the alternate register set, a load that finds its layer there must take one clock
(a swap) and give that layer's descriptor as the host last wrote it.
"""
import numpy as np
import pytest

from gammacore.regmap import layer_fields
from gammacore.rtl.descriptors import DescriptorStore
from rtl_helpers import run


@pytest.mark.parametrize("alternate", [False, True])
@pytest.mark.parametrize("seed,K,layers", [(1, 4, 2), (2, 1, 1), (3, 3, 5), (4, 4, 4)])
def test_loaded_descriptor_equals_what_the_host_wrote(seed, K, layers, alternate):
    print(f"seed={seed} K={K} layers={layers} alternate={alternate}")
    rng = np.random.default_rng(seed)
    dut = DescriptorStore(K, layers, alternate=alternate)
    alternate = dut.alternate           # (one layer: no alternate set)
    fields = layer_fields(K)
    NF = len(fields)
    model = [{name: 0 for name, _ in fields} for _ in range(layers)]
    checked = {"full": 0, "refresh": 0, "skipped": 0, "swapped": 0}
    all_names = [name for name, _ in fields]
    # the model of the two register sets: (layer, complete) held in d, and in the alternate
    # (complete and not written since, else None)
    sets = {"d": (0, True), "alt": None}

    def expect_loaded(ctx, layer, names, what):
        assert ctx.get(dut.layer) == layer, f"seed={seed}: {what}: layer {ctx.get(dut.layer)}, expected {layer}"
        for name in names:
            got = ctx.get(getattr(dut.d, name))
            assert got == model[layer][name], \
                f"seed={seed}: {what} of layer {layer}: {name} = {got:#x}, expected {model[layer][name]:#x}"
        nonempty = sum(1 << n for n in range(layers) if model[n]["n_in"] and model[n]["n_out"])
        assert ctx.get(dut.nonempty) == nonempty, f"seed={seed}: nonempty {ctx.get(dut.nonempty):b}"

    async def wait_idle(ctx, bound):
        for _ in range(bound):
            if not ctx.get(dut.busy):
                return
            await ctx.tick()
        raise AssertionError(f"seed={seed}: still busy after {bound} clocks")

    async def load(ctx, layer):
        """Request a load; whether it took no clock must follow the model of the register sets."""
        ctx.set(dut.load_layer, layer)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        skipped = not ctx.get(dut.busy)
        d_layer, d_full = sets["d"]
        if alternate:
            # served from a register set exactly when the model has it there: from d in no
            # clock, from the alternate set in one (a swap)
            in_d = d_layer == layer and d_full
            in_alt = sets["alt"] == layer and not in_d
            expected = in_d
            if in_alt:
                assert not skipped, f"seed={seed}: the swap to layer {layer} took no clock"
                await ctx.tick()
                assert not ctx.get(dut.busy), f"seed={seed}: the swap to layer {layer} took more than a clock"
            if in_alt:
                sets["alt"] = d_layer if d_full else None
                sets["d"] = (layer, True)
            elif not in_d:
                if d_full:
                    sets["alt"] = d_layer
                sets["d"] = (layer, True)
            checked["swapped"] += in_alt
        else:
            expected = d_layer == layer and d_full
            if not expected:
                sets["d"] = (layer, True)
        assert skipped == expected, \
            f"seed={seed}: load of layer {layer}: skipped {skipped}, expected {expected}, sets {sets}"
        await wait_idle(ctx, NF + 4)
        expect_loaded(ctx, layer, all_names, "load")
        checked["skipped" if skipped else "full"] += 1

    async def tb(ctx):
        held = 0
        for _ in range(400):
            op = rng.random()
            if op < 0.55:
                # a burst of writes, each to the held layer or (store idle) to any layer
                for _ in range(int(rng.integers(1, 6))):
                    layer = int(rng.integers(layers))
                    if ctx.get(dut.busy):
                        layer = held
                    f = int(rng.integers(NF))
                    name, width = fields[f]
                    value = int(rng.integers(1 << 32, dtype=np.uint64))
                    if rng.random() < 0.2:
                        value &= ~((1 << width) - 1)           # a zero field (n_in / n_out: empty)
                    ctx.set(dut.w_layer, layer)
                    ctx.set(dut.w_field, f)
                    ctx.set(dut.w_data, value)
                    ctx.set(dut.w_en, 1)
                    await ctx.tick()
                    ctx.set(dut.w_en, 0)
                    model[layer][name] = value & ((1 << width) - 1)
                    if sets["alt"] == layer:
                        sets["alt"] = None
                    for _ in range(int(rng.integers(0, 3))):
                        await ctx.tick()
                await wait_idle(ctx, NF + 4)
                expect_loaded(ctx, held, all_names, "after writes, the held descriptor")
                sets["d"] = (held, True)
                checked["refresh"] += 1
            else:
                layer = int(rng.integers(layers))
                await load(ctx, layer)
                held = layer
            for _ in range(int(rng.integers(0, 3))):
                await ctx.tick()

    run(dut, tb)
    assert checked["refresh"] > 50 and checked["skipped"] > 0, f"seed={seed}: {checked}"
    if layers > 1:
        assert checked["full"] > 10, f"seed={seed}: {checked}"
    if alternate:
        assert checked["swapped"] > 10, f"seed={seed}: {checked}"


def test_parameters_are_checked():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="buckets must be a positive integer"):
            DescriptorStore(bad, 2)
        with pytest.raises(ValueError, match="layers must be a positive integer"):
            DescriptorStore(2, bad)
