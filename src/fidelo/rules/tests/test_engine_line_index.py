"""The matching lines of a rule come from the event's line index when a condition allows it
(sku / category / brand, eq or in): the same lines as testing every line, for any basket."""

from hypothesis import given, settings
from hypothesis import strategies as st

from fidelo.rules.engine.compile import Context, Plan, compile_rule
from fidelo.rules.tests.test_engine_helpers import line, member, purchase, rule, terms

CATEGORIES = ["cafe", "the", "pain", ""]
BRANDS = ["a", "b", "c"]
CONDITION_SETS = [
    [{"field": "line.category", "op": "eq", "value": "cafe"}],
    [{"field": "line.category", "op": "in", "value": ["cafe", "the", "cafe"]}],
    [{"field": "line.sku", "op": "in", "value": ["S1", "S3"]}, {"field": "line.brand", "op": "eq", "value": "a"}],
    [{"field": "line.amount", "op": "gte", "value": 500}, {"field": "line.brand", "op": "in", "value": ["b", "c"]}],
    [{"field": "line.category", "op": "not_in", "value": ["cafe"]}],
    [{"field": "line.category", "op": "not_in", "value": ["cafe", "pain"]}, {"field": "line.amount", "op": "lt", "value": 900}],
]

lines_strategy = st.lists(
    st.tuples(st.sampled_from(["S1", "S2", "S3"]), st.sampled_from(CATEGORIES), st.sampled_from(BRANDS), st.integers(0, 2000)),
    min_size=0, max_size=12,
)


def brute_force(plan: Plan, ctx: Context) -> list[int]:
    return [index for index, ln in enumerate(ctx.lines) if all(predicate(ln) for predicate in plan.line_predicates)]


@settings(max_examples=150, deadline=None)
@given(lines_strategy, st.integers(0, len(CONDITION_SETS) - 1))
def test_the_index_finds_the_lines_that_testing_each_line_finds(raw_lines, which):
    event = purchase(*(line(sku, amount, category=category, brand=brand) for sku, category, brand, amount in raw_lines))
    plan = compile_rule(rule(CONDITION_SETS[which]))
    ctx = Context(event, member(), terms(event))
    assert plan.matching(ctx) == brute_force(plan, ctx)


def test_which_conditions_use_the_index():
    def lookup(conditions):
        return compile_rule(rule(conditions)).line_lookup

    assert lookup([{"field": "line.category", "op": "eq", "value": "cafe"}])[:2] == ("category", ("cafe",))
    assert lookup([{"field": "line.sku", "op": "in", "value": ["S1", "S2", "S1"]}])[:2] == ("sku", ("S1", "S2"))
    # The first indexable condition is looked up; the others stay predicates over the found lines.
    found = lookup([{"field": "line.amount", "op": "gte", "value": 500}, {"field": "line.brand", "op": "eq", "value": "a"}])
    assert found[:2] == ("brand", ("a",)) and len(found[2]) == 1
    assert lookup([{"field": "line.category", "op": "not_in", "value": ["cafe"]}]) is None
    assert lookup([{"field": "line.amount", "op": "gte", "value": 500}]) is None
