"""Bucket-decay unit vs golden.fixedpoint.bucket_step, word by word, under stalls."""
import numpy as np
import pytest

from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F
from gammacore.rtl.bucket_decay import BucketDecay
from rtl_helpers import receive, run, seeded, send


def make_case(rng, neurons, K, pow2):
    Z = rng.integers(F.Z.min, F.Z.max, size=(neurons, K), endpoint=True)
    Z[rng.random(Z.shape) < 0.5] //= 1 << int(rng.integers(0, 20))   # mix of large and small states
    A = rng.integers(-(1 << 36), 1 << 36, size=neurons)
    A[rng.random(neurons) < 0.3] = 0
    if pow2:
        shifts = rng.integers(1, 17, size=K)
        beta = np.array([1 << (16 - int(s)) for s in shifts])
        alpha = fp.beta_from_alpha(beta)
        coefs = shifts
    else:
        alpha = rng.integers(1, F.COEF.max + 1, size=K)
        beta = fp.beta_from_alpha(alpha)
        coefs = np.concatenate([[alpha[0]], beta[1:]])
    want = fp.bucket_step(Z, A, alpha, beta)
    words = []
    for n in range(neurons):
        for k in range(K):
            words.append({"z": int(Z[n, k]), "below": int(A[n]) if k == 0 else int(Z[n, k - 1]),
                          "coef": int(coefs[k]), "first": int(k == 0)})
    return words, want.ravel().tolist()


@pytest.mark.parametrize("registered", [True, False])
@pytest.mark.parametrize("pow2", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bucket_decay_matches_golden(seed, pow2, registered):
    rng = seeded(seed)
    K = int(rng.integers(1, 7))
    words, want = make_case(rng, int(rng.integers(5, 40)), K, pow2)
    dut = BucketDecay(pow2=pow2, registered=registered)
    got = []

    async def producer(ctx):
        await send(ctx, dut.i, words, rng)

    async def consumer(ctx):
        got.extend(await receive(ctx, dut.o, len(want), np.random.default_rng(seed + 100)))

    run(dut, producer, consumer)
    assert got == want, f"seed={seed} pow2={pow2} registered={registered}: first mismatch at word {next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)}"


@pytest.mark.parametrize("registered", [True, False])
def test_full_throughput_without_stalls(registered):
    """One word per clock when the input is always valid and the output always ready."""
    rng = seeded(9)
    words, want = make_case(rng, 50, 4, False)
    dut = BucketDecay(registered=registered)
    cycles = []

    async def producer(ctx):
        await send(ctx, dut.i, words, rng, p_idle=0.0)

    async def consumer(ctx):
        got, n = [], 0
        ctx.set(dut.o.ready, 1)
        while len(got) < len(want):
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            n += 1
            if valid:
                got.append(payload)
        cycles.append(n)
        assert got == want

    run(dut, producer, consumer)
    # three pipeline stages (four with the operand registered), then one word per clock
    assert cycles[0] == len(words) + (4 if registered else 3), cycles


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_bad_parameter_is_named():
    with pytest.raises(TypeError, match="pow2"):
        BucketDecay(pow2="yes")
