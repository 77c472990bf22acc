"""The config reference (docs/configuration.md), generated from the stack model.

`python -m infra.docs` rewrites the generated part of that page; a test keeps
it in step with the model. Each key's description is its field's attribute
docstring, read from the source here rather than by pydantic at import
(`use_attribute_docstrings`): on Python < 3.13 pydantic finds each class's
source by walking the stack and every loaded module, about 0.04 s of CPU in
every run of the program for text only this page shows.
"""

import ast
import functools
import inspect
import sys
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from infra.config import StackConfig
from infra.mockrun import PROJECT_DIR
from infra.secrets import ALL_SECRET_KEYS

REFERENCE_PAGE = PROJECT_DIR / "docs" / "configuration.md"
BEGIN = "<!-- config-reference:begin -->"
END = "<!-- config-reference:end -->"


@functools.cache
def _attribute_docstrings_of_module(module: str) -> dict[str, dict[str, str]]:
    """For each class of ``module``: its annotated attributes' docstrings, by attribute name."""
    classes: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(inspect.getsource(sys.modules[module]))):
        if isinstance(node, ast.ClassDef):
            classes[node.name] = {
                statement.target.id: inspect.cleandoc(following.value.value)
                for statement, following in zip(node.body, node.body[1:], strict=False)
                if isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            }
    return classes


def field_docs(model: type[BaseModel]) -> dict[str, str]:
    """Each field's attribute docstring (the string right below it), inherited ones included."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if issubclass(cls, BaseModel) and cls is not BaseModel:
            docs.update(_attribute_docstrings_of_module(cls.__module__).get(cls.__name__, {}))
    return docs


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation) if a is not type(None))
    if origin is dict:
        return f"map of {_type_name(get_args(annotation)[1])}"
    if origin is list:
        return f"list of {_type_name(get_args(annotation)[0])}"
    if str(origin).endswith("Literal"):
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin is not None and get_args(annotation):  # Annotated[...]
        return _type_name(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _container(annotation: Any) -> Any:
    """``dict`` or ``list`` when ``annotation`` is one (also optional or annotated), else None."""
    origin = get_origin(annotation)
    if origin in (dict, list):
        return origin
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return _container(members[0]) if len(members) == 1 else None
    if origin is not None and get_args(annotation):  # Annotated[...]
        return _container(get_args(annotation)[0])
    return None


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    default = field.default if field.default is not PydanticUndefined else field.default_factory()
    if isinstance(default, BaseModel) or default in ({}, [], None):
        return ""
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, list) and all(isinstance(item, BaseModel) for item in default):
        # A list of sections (rollout steps) as the stack file would spell it.
        items = ", ".join(
            "{" + ", ".join(f"{k}: {v}" for k, v in item.model_dump(by_alias=True).items()) + "}"
            for item in default
        )
        return f"`[{items}]`"
    return f"`{default}`"


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    docs = field_docs(model)
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        description = " ".join(docs.get(name, "").split())
        rows.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | {description} |")
        container = _container(field.annotation)
        nested_prefix = {dict: f"{key}.<name>.", list: f"{key}[]."}.get(container, f"{key}.")
        for nested in _models_in(field.annotation):
            rows += _rows(nested, nested_prefix)
    return rows


def config_reference() -> str:
    """Markdown tables of every config key and every secret."""
    lines = [
        BEGIN,
        "| key | type | default | description |",
        "|---|---|---|---|",
        *_rows(StackConfig, "perfstack:"),
        "",
        "| secret (set with `pulumi config set --secret`) | purpose |",
        "|---|---|",
        *[f"| `perfstack:{s.key}` | {s.purpose} |" for s in ALL_SECRET_KEYS],
        END,
    ]
    return "\n".join(lines)


def page_with_reference(page: str) -> str:
    """``page`` with the text between the BEGIN and END markers replaced by the current reference."""
    return page[: page.index(BEGIN)] + config_reference() + page[page.index(END) + len(END) :]


if __name__ == "__main__":
    REFERENCE_PAGE.write_text(page_with_reference(REFERENCE_PAGE.read_text()))
    print(f"wrote {REFERENCE_PAGE.relative_to(PROJECT_DIR)}")
