"""Every kind of scenario the command line can name has its line in scenarios.kinds.KINDS, which the
run asks for what the kind needs and how it is measured."""

from bench.backends import backend_class
from scenarios.definitions import BUILTIN, parse_scenarios
from scenarios.kinds import KINDS


def test_every_parsed_kind_has_a_line_in_the_table():
    scenarios = parse_scenarios(f"pp8,tg8,single-stream,{next(iter(BUILTIN))}")
    assert {s.kind for s in scenarios} <= set(KINDS)


def test_token_level_kinds_are_the_ones_an_http_backend_cannot_run():
    http = backend_class("openai").capabilities
    runnable = {name for name, kind in KINDS.items() if not kind.token_level or http.microbenchmarks}
    assert runnable == set(KINDS) - {"pp", "tg"}
