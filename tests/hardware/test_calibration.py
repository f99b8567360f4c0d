"""A user's own result calibrates their machine: project, measure, calibrate, and the residual on
that machine shrinks to the measurement's CI, while the ratio carries to its other quants."""

import dataclasses

import pytest

from hardware.calibration import CIBand, calibrate
from hardware.machines import machines
from hardware.projection import fit, project, row_tg
from hardware.reference import reference_rows


def test_project_measure_calibrate_on_a_machine_the_fit_never_saw():
    rows, known = list(reference_rows()), machines()
    m = known["ryzen-7950x"]
    mine = [r for r in rows if r.machine == m.id and r.tg128 is not None]
    f = fit([r for r in rows if r.machine != m.id], known)["cpu"]
    measured = next(r for r in mine if r.id == "P9")            # llama-3.1-8b Q4_0, tg at 4 threads
    assert measured.tg128 is not None
    ci = (measured.tg128 * 0.97, measured.tg128 * 1.03)
    run = dataclasses.replace(measured, measured=True, tg_ci95=ci)
    before = row_tg(f, measured, m)
    assert before is not None and not ci[0] <= before <= ci[1]                           # the published fit alone misses it
    cal = calibrate(f, m, [run])
    assert cal.tg_ratio is not None
    after = before * cal.tg_ratio
    assert ci[0] <= after <= ci[1] and after == pytest.approx(measured.tg128)
    # the same machine's other rows (another build of Q4_0, and F16): the ratio brings them closer
    for other_id in ("R11", "R9"):
        other = next(r for r in mine if r.id == other_id)
        projected = row_tg(f, other, m)
        assert projected is not None and other.tg128 is not None
        assert abs(projected * cal.tg_ratio / other.tg128 - 1) < abs(projected / other.tg128 - 1)


def test_calibration_scales_every_figure_of_the_machine():
    rows, known = list(reference_rows()), machines()
    m = known["m2-max"]
    f = fit(rows, known)
    plain = project(m, f, "llama-3.1-8b", "Q4_K_M", 4096, [1, 8])
    scaled = project(m, f, "llama-3.1-8b", "Q4_K_M", 4096, [1, 8], scale=(0.5, 2.0))
    assert plain.tg128 is not None and plain.tg is not None and plain.pp512 is not None
    assert plain.levels[0].aggregate_tps is not None
    assert scaled.tg128 == pytest.approx(plain.tg128 * 0.5) and scaled.tg == pytest.approx(plain.tg * 0.5)
    assert scaled.pp512 == pytest.approx(plain.pp512 * 2.0)
    assert scaled.levels[0].aggregate_tps == pytest.approx(plain.levels[0].aggregate_tps * 0.5)


def test_nothing_to_calibrate_on_is_no_ratio_not_one():
    m = machines()["m2-max"]
    cal = calibrate(None, m, [])
    assert cal.tg_ratio is None and cal.pp_ratio is None and cal.scale == (1.0, 1.0)


def test_a_runs_ci_is_its_band():
    assert CIBand.of(10.0, (9.0, 10.5)).band == pytest.approx(0.1)
    one = CIBand.of(10.0, None)
    assert one.band is None and one.unvalidated is not None and "one sample" in one.unvalidated
