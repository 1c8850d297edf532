"""Check bodies against Wazo's own OpenAPI (Swagger 2.0) descriptions in ``../shared/wazo-specs``.

The spec folder is optional: a fresh clone without ``../shared`` must still pass every behaviour
test. ``WAZO_SPECS_DIR`` names another folder; when it is set the folder must exist (a wrong path
fails, it does not silently skip). Without it and without ``../shared/wazo-specs``:

* tests that are nothing but a cross-check carry ``@requires_specs`` and are reported as skipped
  with :data:`SPECS_MISSING_REASON`;
* behaviour tests that also check a body call ``spec_check(...)``, which then returns a spec whose
  ``validate_*`` do nothing; the behaviour assertions still run, and the terminal summary says how
  many such checks were left out (see ``tests/conftest.py``).

    spec = load_spec("wazo-calld")
    spec.validate_response("post", "/calls", 201, body)
    spec.validate_request("post", "/calls", body)
    spec.validate_definition("Call", event_data)
    spec.find_template("get", "/users/1234/services/dnd")  # -> "/users/{user_id}/services/{service_name}"

Each service's spec is ``base.yml`` merged with the other files of its folder (as each Wazo daemon
merges its plugins' fragments at start-up). Swagger schemas are turned into JSON Schema 2020-12:

* ``$ref`` stay ``#/definitions/...`` (the definitions are the validator's root document);
* a property may be ``null``: Swagger 2.0 cannot say "nullable" and the Wazo daemons send ``null``
  for unset fields (chatd ``status``, calld ``answer_time``...), so only the non-null value is checked;
* requests are strict by default: a key that no schema of the object declares is an error, so a typo
  in a request body fails (``unevaluatedProperties: false`` at each object that declares properties).
  Responses are not strict: real daemons return more keys than their specs list.

Violations raise :class:`SpecViolation`, an ``AssertionError`` listing every problem.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

# Repository root -> its parent -> shared/wazo-specs (CI puts shared/ beside the clone).
DEFAULT_SPECS_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "wazo-specs"
SPECS_DIR = Path(os.environ["WAZO_SPECS_DIR"]) if os.environ.get("WAZO_SPECS_DIR") else DEFAULT_SPECS_DIR
# An explicit WAZO_SPECS_DIR is a promise that the checks run: never skip them then.
SPECS_AVAILABLE = SPECS_DIR.is_dir() or bool(os.environ.get("WAZO_SPECS_DIR"))
SPECS_MISSING_REASON = f"Wazo OpenAPI spec cross-check: no folder {SPECS_DIR} (set WAZO_SPECS_DIR to run it)"
requires_specs = pytest.mark.skipif(not SPECS_AVAILABLE, reason=SPECS_MISSING_REASON)
# How many inline cross-checks spec_check() left out in this run (reported in the summary).
SKIPPED_INLINE_CHECKS = [0]

_MERGED_SECTIONS = ("paths", "definitions", "parameters", "responses")
_METHODS = ("get", "put", "post", "delete", "head", "patch", "options")


class SpecViolation(AssertionError):
    """A body does not match the spec, or the operation/status is not in the spec."""


def _merge(target: dict[str, Any], fragment: dict[str, Any], origin: str) -> None:
    for section in _MERGED_SECTIONS:
        for key, value in (fragment.get(section) or {}).items():
            existing = target.setdefault(section, {}).get(key)
            if section == "paths" and isinstance(existing, dict):
                existing.update(value)  # the same path may get methods from several plugins
            elif existing is not None and existing != value:
                raise ValueError(f"{origin}: {section}/{key} defined twice differently")
            else:
                target[section][key] = value


def _declares_properties(
    schema: Any, definitions: dict[str, Any], seen: frozenset[str] = frozenset()
) -> bool:
    if not isinstance(schema, dict):
        return False
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        name = ref.rsplit("/", 1)[-1]
        if name not in seen and _declares_properties(definitions.get(name), definitions, seen | {name}):
            return True
    if schema.get("properties"):
        return True
    return any(_declares_properties(member, definitions, seen) for member in schema.get("allOf", []))


@dataclass
class _Converter:
    """Swagger 2.0 schema -> JSON Schema 2020-12 (see the module docstring)."""

    definitions: dict[str, Any]
    strict: bool

    def schema(self, schema: Any) -> Any:
        if not isinstance(schema, dict):
            return schema
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "properties" and isinstance(value, dict):
                out[key] = {name: self.use_site(sub, nullable=True) for name, sub in value.items()}
            elif key == "items":
                out[key] = self.use_site(value, nullable=False)
            elif key in ("allOf", "anyOf", "oneOf") and isinstance(value, list):
                out[key] = [self.schema(member) for member in value]
            elif key == "additionalProperties" and isinstance(value, dict):
                out[key] = self.use_site(value, nullable=False)
            elif key == "discriminator":
                continue  # Swagger's discriminator is a plain string, not a JSON Schema keyword
            else:
                out[key] = value
        return out

    def use_site(self, schema: Any, nullable: bool) -> Any:
        converted = self.schema(schema)
        if self.strict and _declares_properties(schema, self.definitions):
            converted = {**converted, "unevaluatedProperties": False}
        if nullable:
            return {"anyOf": [converted, {"type": "null"}]}
        return converted


def _explain(error: ValidationError) -> ValidationError:
    """Replace "not valid under any of the given schemas" by the reason from the non-null branch."""
    if error.validator == "anyOf" and error.context:
        relevant = [e for e in error.context if not (e.validator == "type" and e.validator_value == "null")]
        best = best_match(relevant) if relevant else None
        if best is not None:
            return _explain(best)
    return error


@dataclass
class WazoSpec:
    """One Wazo service's merged spec."""

    service: str
    document: dict[str, Any]
    _validators: dict[tuple[Any, ...], Draft202012Validator] = field(default_factory=dict, repr=False)

    @property
    def base_path(self) -> str:
        return str(self.document.get("basePath", ""))

    @property
    def definitions(self) -> dict[str, Any]:
        return dict(self.document.get("definitions") or {})

    # ------------------------------------------------------------ lookups

    def operation(self, method: str, path: str) -> dict[str, Any]:
        path_item = (self.document.get("paths") or {}).get(path)
        if path_item is None:
            raise SpecViolation(f"{self.service}: path {path} is not in the spec")
        operation = path_item.get(method.lower())
        if operation is None:
            raise SpecViolation(f"{self.service}: {method.upper()} {path} is not in the spec")
        return dict(operation)

    def find_template(self, method: str, concrete_path: str) -> str:
        """The spec's path template for a concrete path (without the basePath); literal paths win."""
        candidates = []
        for template, path_item in (self.document.get("paths") or {}).items():
            if method.lower() not in path_item:
                continue
            pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, concrete_path):
                candidates.append((template.count("{"), template))
        if not candidates:
            raise SpecViolation(f"{self.service}: no {method.upper()} operation matches {concrete_path}")
        return str(min(candidates)[1])

    def _resolve(self, section: str, item: dict[str, Any]) -> dict[str, Any]:
        ref = item.get("$ref")
        if isinstance(ref, str) and ref.startswith(f"#/{section}/"):
            return dict(self.document[section][ref.rsplit("/", 1)[-1]])
        return item

    def response_schema(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        responses = self.operation(method, path).get("responses") or {}
        response = responses.get(str(status), responses.get(status))
        if response is None:
            raise SpecViolation(
                f"{self.service}: {method.upper()} {path} does not document status {status} "
                f"(documented: {sorted(str(s) for s in responses)})"
            )
        schema = self._resolve("responses", response).get("schema")
        return dict(schema) if schema is not None else None

    def request_schema(self, method: str, path: str) -> tuple[dict[str, Any] | None, bool]:
        """The body parameter's schema and whether the body is required."""
        for parameter in self.operation(method, path).get("parameters") or []:
            parameter = self._resolve("parameters", parameter)
            if parameter.get("in") == "body":
                return dict(parameter.get("schema") or {}), bool(parameter.get("required"))
        return None, False

    # ------------------------------------------------------------ validation

    def _validator(self, key: tuple[Any, ...], schema: dict[str, Any], strict: bool) -> Draft202012Validator:
        cached = self._validators.get(key)
        if cached is None:
            converter = _Converter(self.definitions, strict)
            root = converter.use_site(copy.deepcopy(schema), nullable=False)
            root["definitions"] = {name: converter.schema(d) for name, d in self.definitions.items()}
            cached = self._validators[key] = Draft202012Validator(root)
        return cached

    def _check(self, validator: Draft202012Validator, body: Any, what: str) -> None:
        errors = sorted(
            (_explain(e) for e in validator.iter_errors(body)), key=lambda e: list(e.absolute_path)
        )
        if errors:
            problems = "\n".join(
                f"  at {'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
                for e in errors[:20]
            )
            raise SpecViolation(f"{self.service}: {what} does not match the spec:\n{problems}")

    def validate_response(self, method: str, path: str, status: int, body: Any) -> None:
        schema = self.response_schema(method, path, status)
        what = f"{method.upper()} {path} -> {status} body"
        if method.lower() == "head":
            return  # HTTP never sends a body with HEAD: the status being documented is all to check
        if schema is None:
            # No schema documents no body shape; only 204 promises that there is no body at all.
            if status == 204 and body not in (None, b"", ""):
                raise SpecViolation(f"{self.service}: {what} should be empty, got {body!r}")
            return
        self._check(self._validator(("response", method, path, status), schema, False), body, what)

    def validate_request(self, method: str, path: str, body: Any, strict: bool = True) -> None:
        schema, required = self.request_schema(method, path)
        what = f"{method.upper()} {path} request body"
        if schema is None:
            if body is not None:
                raise SpecViolation(f"{self.service}: {what} is not expected by the spec")
            return
        if body is None:
            if required:
                raise SpecViolation(f"{self.service}: {what} is required")
            return
        self._check(self._validator(("request", method, path, strict), schema, strict), body, what)

    def validate_definition(self, name: str, value: Any, strict: bool = False) -> None:
        """Check a value (e.g. an event payload) against one named definition."""
        if name not in self.definitions:
            raise SpecViolation(f"{self.service}: no definition {name}")
        schema = {"$ref": f"#/definitions/{name}"}
        self._check(self._validator(("definition", name, strict), schema, strict), value, f"{name} value")


@functools.cache
def load_spec(service: str) -> WazoSpec:
    """``service`` is a folder of ../shared/wazo-specs, e.g. ``"wazo-calld"``."""
    folder = SPECS_DIR / service
    if not folder.is_dir():
        raise FileNotFoundError(f"no Wazo spec folder {folder}")
    document = yaml.safe_load((folder / "base.yml").read_text())
    for fragment_file in sorted(folder.glob("*.yml")):
        if fragment_file.name != "base.yml":
            _merge(document, yaml.safe_load(fragment_file.read_text()) or {}, fragment_file.name)
    return WazoSpec(service, document)


class UncheckedSpec:
    """Stands for a spec when the folder is absent: the body checks are counted, not run."""

    def __init__(self, service: str) -> None:
        self.service = service

    def find_template(self, method: str, concrete_path: str) -> str:
        return concrete_path

    def validate_response(self, method: str, path: str, status: int, body: Any) -> None:
        SKIPPED_INLINE_CHECKS[0] += 1

    def validate_request(self, method: str, path: str, body: Any, strict: bool = True) -> None:
        SKIPPED_INLINE_CHECKS[0] += 1

    def validate_definition(self, name: str, value: Any, strict: bool = False) -> None:
        SKIPPED_INLINE_CHECKS[0] += 1


def spec_check(service: str) -> WazoSpec | UncheckedSpec:
    """The spec for a check made inside a behaviour test; a no-op stand-in without the folder."""
    return load_spec(service) if SPECS_AVAILABLE else UncheckedSpec(service)
