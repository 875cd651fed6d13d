"""Why a rule definition is refused: a stable code and the path of the offending field."""

from fidelo.core.errors import ValidationFailed


class RuleInvalid(ValidationFailed):
    """A rule definition the engine cannot accept (rendered by the API as a 422 problem).

    `code` is one of: rule_unknown_field, rule_unknown_event, rule_invalid_operator,
    rule_invalid_value, rule_unknown_attribute, rule_unknown_reference,
    rule_effect_currency_mode, rule_no_effect, rule_invalid_dates. `field` (also in the
    problem body) is the path of the offending part, e.g. "conditions[2].value".
    """

    code = "rule_invalid"
    title = "Invalid rule"

    def __init__(self, detail: str, *, code: str, field: str) -> None:
        super().__init__(detail, code=code, field=field)
        self.field = field
