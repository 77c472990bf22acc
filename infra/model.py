"""The base every stack-config model derives from.

Users write camelCase keys in ``Pulumi.<stack>.yaml``; Python code reads
snake_case attributes. Unknown keys are rejected so a typo is an error, not a
silently ignored setting, and attribute docstrings become field descriptions
(the documentation users read in the README's config reference).
"""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ConfigModel(BaseModel):
    """A frozen, strict, camelCase-aliased section of the stack config."""

    model_config = ConfigDict(
        extra="forbid",
        # Values come from YAML: "10" is not 10, and "yes" is not true.
        strict=True,
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=True,
    )
