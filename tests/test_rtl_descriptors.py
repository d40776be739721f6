"""The descriptor store (block RAM of every layer's descriptor, one loaded) vs a dict model.

Random host writes (any field, random 32-bit data, overwrites), loads of random layers
(whole or head only) and idle cycles; whenever the store is not busy, the loaded
descriptor must equal what was written to that layer (each field truncated to its
width), ``layer`` must name it and ``nonempty`` must follow n_in and n_out of every layer.
"""
import numpy as np
import pytest

from gammacore.regmap import layer_fields
from gammacore.rtl.descriptors import HEAD_FIELDS, DescriptorStore
from rtl_helpers import run


@pytest.mark.parametrize("seed,K,layers", [(1, 4, 2), (2, 1, 1), (3, 3, 5), (4, 4, 4)])
def test_loaded_descriptor_equals_what_the_host_wrote(seed, K, layers):
    rng = np.random.default_rng(seed)
    dut = DescriptorStore(K, layers)
    fields = layer_fields(K)
    NF = len(fields)
    model = [{name: 0 for name, _ in fields} for _ in range(layers)]
    checked = {"full": 0, "head": 0, "refresh": 0, "skipped": 0}

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

    async def tb(ctx):
        held, all_names = 0, [name for name, _ in fields]
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
                    for _ in range(int(rng.integers(0, 3))):
                        await ctx.tick()
                await wait_idle(ctx, NF + 4)
                expect_loaded(ctx, held, all_names, "after writes, the held descriptor")
                checked["refresh"] += 1
            else:
                layer, head = int(rng.integers(layers)), bool(rng.random() < 0.3)
                ctx.set(dut.load_layer, layer)
                ctx.set(dut.load_head, head)
                ctx.set(dut.load, 1)
                await ctx.tick()
                ctx.set(dut.load, 0)
                skipped = not ctx.get(dut.busy)
                await wait_idle(ctx, NF + 4)
                names = list(HEAD_FIELDS) if head else all_names
                expect_loaded(ctx, layer, names, "head load" if head else "load")
                checked["skipped" if skipped else ("head" if head else "full")] += 1
                if head:
                    # the rest of d is stale: a full load of the same layer must not be skipped
                    ctx.set(dut.load_layer, layer)
                    ctx.set(dut.load_head, 0)
                    ctx.set(dut.load, 1)
                    await ctx.tick()
                    ctx.set(dut.load, 0)
                    assert ctx.get(dut.busy), f"seed={seed}: full load after a head load was skipped"
                    await wait_idle(ctx, NF + 4)
                    expect_loaded(ctx, layer, all_names, "full load after a head load")
                held = layer
            for _ in range(int(rng.integers(0, 3))):
                await ctx.tick()

    run(dut, tb)
    assert checked["refresh"] > 50 and checked["head"] > 10 and checked["skipped"] > 0, f"seed={seed}: {checked}"
    if layers > 1:
        assert checked["full"] > 10, f"seed={seed}: {checked}"


def test_parameters_are_checked():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="buckets must be a positive integer"):
            DescriptorStore(bad, 2)
        with pytest.raises(ValueError, match="layers must be a positive integer"):
            DescriptorStore(2, bad)
