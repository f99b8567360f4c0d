"""The projection model: hand-worked arithmetic, the fit recovering known efficiencies (per quant
family, per build era, per CPU thread), and the held-out validation never seeing what it projects."""

import dataclasses

import pytest

from hardware.machines import Machine, machines
from hardware.projection import (
    PlatformFit,
    batch_speedup,
    decode_bytes,
    effective_bandwidth,
    fit,
    model_bytes,
    predict_pp,
    predict_tg,
    project,
    quant_family,
)
from hardware.reference import ReferenceRow, reference_rows
from hardware.roofline import decode_ceiling
from hardware.validation import GROUPINGS, MIN_COVERAGE, leave_group_out, target, validate
from models.catalog import get_model
from models.plan import flops_per_token


def machine(id_, bw, platform="cuda", **kw):
    return Machine(id=id_, name=id_, platform=platform, bandwidth_gbps=bw, source="test", **kw)


def tg_row(id_, machine_id, tg, platform="CUDA", quant="Q4_0", **kw):
    return ReferenceRow(id=id_, machine=machine_id, backend=platform, engine="llama.cpp", model="llama-2-7b",
                        quant=quant, file_bytes=3825065984, flags="", build="", source="test", date="2026",
                        tg128=tg, **kw)


def test_llama_8b_bf16_ceiling_on_h100_as_the_issue_works_it():
    # 3352 GB/s / 16.06 GB (the whole F16 file) = 208.7 tok/s: eta 1 and no fixed time is the plain roofline
    plain = PlatformFit("cuda", eta_bw=1.0, t0_s=0.0)
    assert predict_tg(plain, 16.06e9, 3352) == pytest.approx(208.7, abs=0.05)
    assert predict_tg(plain, 16.06e9, 3352) == pytest.approx(decode_ceiling(16.06e9, 3352))
    # What a token reads is every tensor but the embedding table, of which it reads one row:
    # 16,061,055,232 B of tensors - 128,256 x 4096 x 2 + 4096 x 2 = 15,010,390,272 B: 223.3 tok/s
    from models.plan import weight_bytes
    from models.quant import get_quant

    tensors = weight_bytes(get_model("llama-3.1-8b").architecture, get_quant("F16"))
    weights, kv = model_bytes("llama-3.1-8b", "F16")
    assert tensors == 16_061_055_232 and weights == tensors - 128_256 * 4096 * 2 + 4096 * 2 == 15_010_390_272
    assert 3352e9 / weights == pytest.approx(223.3, abs=0.05)
    assert kv == 2 * 32 * 8 * 128 * 2          # 128 KiB per token: K and V, 32 layers, 8 KV heads of 128, F16


def test_fixed_time_per_token_by_hand():
    f = PlatformFit("metal", eta_bw=0.8, t0_s=0.001)
    # 4e9 B at 0.8 x 1000 GB/s = 5 ms, + 1 ms = 6 ms per token
    assert predict_tg(f, 4e9, 1000) == pytest.approx(1 / 0.006)
    # KV at the context: Llama-3.1-8B Q4_K_M at 4096 tokens reads 4096 x 128 KiB more than its weights
    weights, _kv = model_bytes("llama-3.1-8b", "Q4_K_M")
    assert decode_bytes("llama-3.1-8b", "Q4_K_M", 4096) == weights + 4096 * 131072


def test_flops_per_token_by_hand():
    arch = get_model("llama-2-7b").architecture
    # every matrix but the embedding table (a lookup): 6,738,415,616 params - 32000 x 4096 - the norms
    matmul = 6_738_415_616 - 32000 * 4096 - (2 * 32 + 1) * 4096
    assert flops_per_token(arch, 0) == 2 * matmul
    # a pp512 pass attends over 256 positions on average: 4 x layers x heads x head_dim per position
    assert flops_per_token(arch, 256) == 2 * matmul + 4 * 32 * 32 * 128 * 256 == 13_348_372_480
    assert predict_pp(PlatformFit("cuda", eta_fl=0.5), 100e12, 13_348_372_480) == pytest.approx(3745.8, abs=0.1)


def test_batch_speedup_by_hand():
    assert batch_speedup(8, 4e9, 0.0) == 8                   # no KV: one weight pass serves 8 tokens
    assert batch_speedup(4, 4e9, 1e9) == pytest.approx(2.5)  # 4 x (4 + 1) / (4 + 4 x 1)
    assert batch_speedup(1, 4e9, 1e9) == 1


def test_project_levels_follow_the_formula():
    m = machine("m", 1000.0, dense_tflops=100.0, memory_gib=80)
    fits = {"cuda": PlatformFit("cuda", eta_bw=0.8, t0_s=0.001, eta_fl=0.5, compute_unit="FLOP/s", beta=0.05)}
    p = project(m, fits, "llama-3.1-8b", "Q4_K_M", 4096, [1, 32], output_tokens=256)
    weights, kv = model_bytes("llama-3.1-8b", "Q4_K_M")
    tg = 1 / ((weights + kv * 4096) / 0.8e12 + 0.001)
    assert p.tg == pytest.approx(tg)
    assert p.levels[0].aggregate_tps == pytest.approx(tg)          # batch 1 is the decode figure
    assert p.levels[1].aggregate_tps == pytest.approx(tg * batch_speedup(32, weights, kv * 4096) * 32 ** -0.05)
    assert p.levels[1].bound == "bandwidth"
    # short sequences, many of them: the weight pass is shared so widely that compute binds
    compute = 0.5 * 100e12 / flops_per_token(get_model("llama-3.1-8b").architecture, 256)
    big = project(m, fits, "llama-3.1-8b", "Q4_K_M", 256, [512], output_tokens=128).levels[0]
    assert big.bound == "compute" and big.aggregate_tps == pytest.approx(compute * 512 ** -0.05)
    # the request stream: 3840-token prompts prefilled one after another, then 256 tokens decoded
    prompt_tps = 0.5 * 100e12 / flops_per_token(get_model("llama-3.1-8b").architecture, 3840 / 2)
    one = p.levels[0]
    assert one.output_tps is not None and one.output_tps == pytest.approx(256 / (3840 / prompt_tps + 256 / tg))
    assert one.input_tps == pytest.approx(one.output_tps * 3840 / 256)


def test_project_says_why_a_figure_is_missing():
    m = machine("spark", 273.0)                               # no published dense FLOPS
    fits = {"cuda": PlatformFit("cuda", eta_bw=0.8, eta_fl=0.5, compute_unit="FLOP/s")}
    p = project(m, fits, "llama-3.1-8b", "Q4_K_M", 4096, [1])
    assert p.pp512 is None and "no published FLOP/s" in p.missing["pp"]
    why = p.levels[0].why
    assert p.tg is not None and why is not None and "prefill time not counted" in why
    q = project(machine("r", 500.0, platform="rocm"), fits, "llama-3.1-8b", "Q4_K_M", 4096, [1])
    assert q.tg is None and "no rocm reference rows" in q.missing["tg"] and q.levels[0].aggregate_tps is None


def synthetic_set(eta, t0, bws=(300, 500, 900, 1500, 3000)):
    ms = {f"m{i}": machine(f"m{i}", bw) for i, bw in enumerate(bws)}
    b = decode_bytes("llama-2-7b", "Q4_0", 64)
    rows = [tg_row(f"r{i}", m.id, 1 / (b / (eta * m.bandwidth_gbps * 1e9) + t0)) for i, m in enumerate(ms.values())]
    return rows, ms


def test_fit_recovers_known_efficiencies():
    rows, ms = synthetic_set(0.7, 0.002)
    f = fit(rows, ms)["cuda"]
    assert f.eta_bw == pytest.approx(0.7, rel=1e-6) and f.t0_s == pytest.approx(0.002, rel=1e-6)
    assert f.tg_machines == 5
    # fewer than three machines: eta alone, no fixed time to fit two points exactly
    two = fit(rows[:2], ms)["cuda"]
    assert two.t0_s == 0.0 and two.tg_machines == 2


def test_fit_keeps_efficiencies_physical():
    rows, ms = synthetic_set(1.3, 0.0)                        # faster than the bandwidth allows
    assert fit(rows, ms)["cuda"].eta_bw == pytest.approx(1.0)


def test_leave_one_out_never_sees_the_machine_it_projects():
    rows = list(reference_rows())
    known = machines()
    seen = []

    def spy(train, machine_of):
        seen.append({r.machine for r in train})
        return fit(train, machine_of)

    errors = leave_group_out(rows, known, "machine", fit_fn=spy)
    every = {r.machine for r in rows}
    assert len(seen) == len(every) and all(len(every - s) == 1 for s in seen)
    # moving a row's published figure tenfold leaves its own projection where it was: it was never seen
    target = next(r for r in rows if r.id == "B4")                 # RTX 4090 tg128
    assert target.tg128 is not None
    before = {(e.row, e.kind): e.projected for e in errors}
    edited = [dataclasses.replace(r, tg128=target.tg128 * 10) if r.id == target.id else r for r in rows]
    after = {(e.row, e.kind): e.projected for e in leave_group_out(edited, known, "machine")}
    assert after[("B4", "tg")] == pytest.approx(before[("B4", "tg")])
    # ... while every other CUDA machine's projection, whose fit did see it, moved
    others = [k for k in before if k[1] == "tg" and k[0] != "B4" and known[
        next(r.machine for r in rows if r.id == k[0])].platform == "cuda"]
    assert others and all(after[k] != pytest.approx(before[k]) for k in others)


@pytest.mark.parametrize("way", list(GROUPINGS))
def test_every_way_of_holding_out_never_sees_the_group_it_projects(way):
    rows, known = list(reference_rows()), machines()
    key = GROUPINGS[way]
    trained_without: list[set[str]] = []

    def spy(train, machine_of):
        trained_without.append({key(r) for r in rows} - {key(r) for r in train})
        return fit(train, machine_of)

    errors = leave_group_out(rows, known, way, fit_fn=spy)
    assert all(len(missing) == 1 for missing in trained_without)
    assert len(trained_without) == len({key(r) for r in rows})
    by_id = {r.id: r for r in rows}
    assert errors and all(e.held_out == f"{way}={key(by_id[e.row])}" for e in errors)


def test_validation_table_states_every_class_over_its_target():
    v = validate(list(reference_rows()), machines())
    assert {("cuda", "tg"), ("metal", "tg"), ("metal", "pp"), ("cpu", "tg"), ("cuda", "batched"),
            ("any", "tg-calibrated")} <= set(v.stats)
    lines = v.misses()
    for (platform, kind), s in v.stats.items():
        median_t, p90_t = target(platform, kind)
        over = any((median_t is not None and w.median > median_t) or (p90_t is not None and w.p90 > p90_t)
                   or (w.coverage is not None and w.coverage < MIN_COVERAGE) for w in s.ways.values())
        assert over == any(line.startswith(f"{platform} {kind}:") for line in lines), (platform, kind)
        # the band is the worst way's p90, shown only where coverage held and three machines back it
        assert s.p90 == max(w.p90 for w in s.ways.values())
        validated = s.machines >= 3 and s.coverage is not None and s.coverage >= MIN_COVERAGE
        assert s.band == (s.p90 if validated else None) and (s.unvalidated is None) == validated
    assert target("cpu", "tg")[0] == 0.15 and target("cuda", "tg")[0] == 0.10


def test_coverage_is_checked_on_groups_the_band_never_saw():
    """Nine machines the model fits within 2%, one 40% off: the band the others earn does not cover
    the odd one, so coverage is under 100%, but the class keeps its band."""
    ms = {f"m{i}": machine(f"m{i}", bw) for i, bw in enumerate((300, 400, 500, 700, 900, 1200, 1500, 2000, 3000, 3500))}
    b = decode_bytes("llama-2-7b", "Q4_0", 64)
    truth = {m.id: 1 / (b / (0.7 * m.bandwidth_gbps * 1e9) + 0.002) for m in ms.values()}
    wobble = dict(zip(ms, (1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.02, 0.98, 1.4), strict=True))
    rows = [tg_row(f"r{i}", mid, truth[mid] * wobble[mid]) for i, mid in enumerate(ms)]
    s = validate(rows, ms).band("cuda", "tg")
    assert s is not None
    coverage = s.ways["machine"].coverage
    assert s.machines == 10 and coverage is not None and MIN_COVERAGE <= coverage < 1.0
    assert s.band == s.p90 and s.unvalidated is None


def test_sources_that_disagree_leave_the_class_without_a_band():
    """Two publications measure six machines each; one reads 1.5x the other (another methodology).
    Held out by source, each is projected from the other: the band the first earns cannot cover the
    second, coverage is 50%, and the class is unvalidated however well each source fits alone."""
    ms = {f"m{i}": machine(f"m{i}", bw) for i, bw in enumerate((300, 500, 700, 900, 1500, 3000, 350, 550, 800,
                                                                  1000, 2000, 3350))}
    b = decode_bytes("llama-2-7b", "Q4_0", 64)
    rows = [dataclasses.replace(tg_row(f"r{i}", m.id, (1.5 if i >= 6 else 1.0) / (b / (0.6 * m.bandwidth_gbps * 1e9)
                                                                                 + 0.002)),
                                source="lab B" if i >= 6 else "lab A") for i, m in enumerate(ms.values())]
    s = validate(rows, ms).band("cuda", "tg")
    assert s is not None
    assert s.ways["source"].coverage == pytest.approx(0.5)
    assert s.band is None and s.unvalidated is not None and "coverage 50%" in s.unvalidated and "source" in s.unvalidated
    assert any("coverage 50% by source" in m for m in s.misses)


def test_batched_validation_projects_from_the_sources_batch_one_figure():
    errors = leave_group_out(list(reference_rows()), machines(), "machine")
    batched = [e for e in errors if e.kind == "batched"]
    assert {e.machine for e in batched} == {"h100-sxm", "a100-sxm-80", "l40s", "a100-sxm-40"}
    assert all(e.projected > 0 for e in batched)


def test_quant_families():
    assert [quant_family(q) for q in ("Q4_0", "Q5_1", "Q4_K_M", "IQ4_XS", "Q8_0", "F16", "bf16")] == \
        ["legacy", "legacy", "k", "k", "q8", "f16", "f16"]


def test_fit_recovers_a_quant_familys_own_efficiency():
    """Q4_0 at eta 0.8 and Q4_K_M at 0.6 on four machines: each family gets its own."""
    ms = {f"m{i}": machine(f"m{i}", bw) for i, bw in enumerate((400, 900, 1500, 3000))}
    rows = []
    for m in ms.values():
        for quant, eta in (("Q4_0", 0.8), ("Q4_K_M", 0.6)):
            b = decode_bytes("llama-3.1-8b", quant, 64)
            rows.append(dataclasses.replace(tg_row(f"{m.id}-{quant}", m.id, 1 / (b / (eta * m.bandwidth_gbps * 1e9)
                                                                                 + 0.001), quant=quant),
                                            model="llama-3.1-8b"))
    f = fit(rows, ms)["cuda"]
    assert f.eta_family["legacy"] == pytest.approx(0.8, rel=1e-6) and f.eta_family["k"] == pytest.approx(0.6, rel=1e-6)
    assert f.t0_s == pytest.approx(0.001, rel=1e-6)
    assert f.family_basis["k"].startswith("fit on 4") and "no machine measured it" in f.family_basis["f16"]
    # a platform that never measured K-quants takes the ratio the others measured
    other = {f"v{i}": machine(f"v{i}", bw, "rocm") for i, bw in enumerate((500, 800, 1200))}
    b = decode_bytes("llama-2-7b", "Q4_0", 64)
    rocm = [tg_row(f"{m.id}", m.id, 1 / (b / (0.5 * m.bandwidth_gbps * 1e9) + 0.002), platform="ROCm")
            for m in other.values()]
    g = fit(rows + rocm, {**ms, **other})["rocm"]
    assert g.eta_family["k"] == pytest.approx(0.5 * 0.6 / 0.8, rel=1e-6) and "ratio" in g.family_basis["k"]


def test_fit_gives_each_build_era_its_fixed_time_and_speaks_for_the_newest():
    ms = {f"m{i}": machine(f"m{i}", bw) for i, bw in enumerate((300, 500, 900, 1500, 3000))}
    b = decode_bytes("llama-2-7b", "Q4_0", 64)
    rows = [tg_row(f"{era}-{m.id}", m.id, 1 / (b / (0.8 * m.bandwidth_gbps * 1e9) + t0), build_date=date)
            for era, date, t0 in (("old", "2024-03", 0.006), ("new", "2025-10", 0.002)) for m in ms.values()]
    f = fit(rows, ms)["cuda"]
    assert f.t0_era["2024"] == pytest.approx(0.006, rel=1e-6) and f.t0_era["2025+"] == pytest.approx(0.002, rel=1e-6)
    assert f.era == "2025+" and f.t0_s == pytest.approx(0.002, rel=1e-6)
    # the era without rows of its own takes the nearest one's
    assert f.t0_era["2023"] == pytest.approx(0.006, rel=1e-6)
    fast = machine("fast", 3350)
    assert project(fast, {"cuda": f}, "llama-2-7b", "Q4_0", 64, [1]).tg128 == pytest.approx(
        1 / (b / (0.8 * 3350e9) + 0.002), rel=1e-3)


def test_a_cpu_reads_its_threads_times_one_threads_bandwidth_up_to_the_socket():
    sock = machine("sock", 460.8, "cpu", cores=96)
    assert effective_bandwidth(sock, 2, 12.0) == 24.0 and effective_bandwidth(sock, 96, 12.0) == 460.8
    assert effective_bandwidth(sock, None, None) == 460.8
    assert effective_bandwidth(machine("g", 3350), 2, 12.0) == 3350       # a GPU has no thread cap
    # rows at 2 to 32 threads on sockets of 100-400 GB/s: the fit finds 11 GB/s a thread
    ms = {f"c{i}": machine(f"c{i}", bw, "cpu", cores=32) for i, bw in enumerate((100, 200, 300, 400))}
    b = decode_bytes("llama-2-7b", "Q4_0", 64)
    rows = [tg_row(f"{m.id}-{t}", m.id, 1 / (b / (0.7 * min(m.bandwidth_gbps, 11 * t) * 1e9) + 0.004),
                   platform="CPU", tg_threads=t) for m in ms.values() for t in (2, 4, 8, 16, 32)]
    f = fit(rows, ms)["cpu"]
    assert f.per_core_gbps == 11.0 and f.eta_bw == pytest.approx(0.7, rel=1e-3)
