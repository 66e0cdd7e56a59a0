"""GET /docs: the OpenAPI document rendered as one self-contained HTML page.

The page is generated from ``build_openapi_document()``, so it cannot drift from
/openapi.json. It loads nothing from anywhere: no script, no stylesheet, no font.
"""

from __future__ import annotations

import functools
from html import escape
from typing import Any

import orjson
from faust.web import Blueprint, Request, Response

from leaderboard_app.web.base import LeaderboardView
from leaderboard_app.web.openapi import SCOPE_EXTENSION, build_openapi_document

DOCS_PATH = "/docs"
METHODS = ("get", "put", "post", "delete", "patch")

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
code, .path { font-family: ui-monospace, monospace; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.method { font-weight: bold; text-transform: uppercase; padding: 0 0.4rem; background: #e8eef8; }
section.operation { border-top: 2px solid #ddd; margin-top: 2rem; }
"""

Html = str


def _text(value: Any) -> Html:
    return escape(str(value))


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-{name}".replace("/", "_").replace("{", "").replace("}", "")


def _ref_name(schema: dict[str, Any]) -> tuple[str, str] | None:
    """Return (kind, name) of a ``#/components/<kind>/<name>`` reference."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return None
    _, _, kind, name = ref.split("/", 3)
    return kind, name


class DocsRenderer:
    """Turns one OpenAPI document into HTML."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = document.get("components", {})

    def resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        """Return the object a reference points at (or ``item`` itself)."""
        target = _ref_name(item)
        return item if target is None else self.components[target[0]][target[1]]

    def type_of(self, schema: dict[str, Any]) -> Html:
        """Describe a schema in one line: its type, bounds and default, with links to named schemas."""
        target = _ref_name(schema)
        if target is not None:
            return f'<a href="#{_anchor("schema", target[1])}">{_text(target[1])}</a>'
        if "const" in schema:
            return f"<code>{_text(_literal(schema['const']))}</code>"
        if "enum" in schema:
            return "one of " + ", ".join(f"<code>{_text(value)}</code>" for value in schema["enum"])
        if "oneOf" in schema:
            return " or ".join(self.type_of(option) for option in schema["oneOf"])
        kinds = schema.get("type", "any")
        kind = " or ".join(kinds) if isinstance(kinds, list) else kinds
        if kind == "array":
            text = "array of " + self.type_of(schema.get("items", {}))
            bounds = _bounds(schema.get("minItems"), schema.get("maxItems"), "items")
        elif kind == "string":
            text = "string"
            bounds = _bounds(schema.get("minLength"), schema.get("maxLength"), "characters")
        else:
            text = _text(kind)
            bounds = _bounds(schema.get("minimum"), schema.get("maximum"), "")
        details = [part for part in (bounds, _format(schema), _default(schema)) if part]
        return text + (", " + ", ".join(details) if details else "")

    def schema_table(self, schema: dict[str, Any]) -> Html:
        """A table of an object's fields, or the one-line description of anything else."""
        properties = schema.get("properties")
        if not properties:
            return f"<p>{self.type_of(schema)}</p>"
        required = set(schema.get("required", ()))
        rows = "".join(
            f"<tr><td><code>{_text(name)}</code></td><td>{self.type_of(field)}</td>"
            f"<td>{'yes' if name in required else 'no'}</td>"
            f"<td>{_text(self.resolve(field).get('description', field.get('description', '')))}</td></tr>"
            for name, field in properties.items()
        )
        closed = "" if schema.get("additionalProperties", True) else "<p>No other fields are accepted.</p>"
        return ("<table><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr>"
                f"{rows}</table>{closed}")

    def parameters(self, operation: dict[str, Any]) -> Html:
        items = [self.resolve(parameter) for parameter in operation.get("parameters", ())]
        if not items:
            return ""
        rows = "".join(
            f"<tr><td><code>{_text(item['name'])}</code></td><td>{_text(item['in'])}</td>"
            f"<td>{'yes' if item.get('required') else 'no'}</td><td>{self.type_of(item['schema'])}</td>"
            f"<td>{_text(item.get('description', ''))}</td></tr>"
            for item in items
        )
        return ("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>type</th>"
                f"<th>meaning</th></tr>{rows}</table>")

    def request_body(self, operation: dict[str, Any]) -> Html:
        body = operation.get("requestBody")
        if body is None:
            return ""
        parts = [f"<h4>Body ({_text(body.get('description', ''))})</h4>"]
        for media_type, content in body["content"].items():
            parts.append(f"<p><code>{_text(media_type)}</code>: {self.type_of(content['schema'])}</p>")
        return "".join(parts)

    def responses(self, operation: dict[str, Any]) -> Html:
        rows = []
        for status, item in operation["responses"].items():
            answer = self.resolve(item)
            bodies = ", ".join(f"<code>{_text(media)}</code> {self.type_of(content['schema'])}"
                               for media, content in answer.get("content", {}).items())
            headers = ", ".join(f'<a href="#{_anchor("header", name)}"><code>{_text(name)}</code></a>'
                                for name in answer.get("headers", {}))
            rows.append(f"<tr><td>{_text(status)}</td><td>{_text(answer.get('description', ''))}</td>"
                        f"<td>{bodies}</td><td>{headers}</td></tr>")
        return ("<h4>Responses</h4><table><tr><th>status</th><th>when</th><th>body</th><th>headers</th></tr>"
                f"{''.join(rows)}</table>")

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(method, path, item[method]) for path, item in self.document["paths"].items()
                for method in METHODS if method in item]

    def operation(self, method: str, path: str, operation: dict[str, Any]) -> Html:
        scope = operation.get(SCOPE_EXTENSION)
        access = (f"Needs a key of scope <code>{_text(scope)}</code> (or higher) once such keys are configured."
                  if scope else "Open: never needs a key.")
        return (f'<section class="operation" id="{_anchor("op", operation["operationId"])}">'
                f'<h3><span class="method">{_text(method)}</span> <span class="path">{_text(path)}</span></h3>'
                f"<p><strong>{_text(operation.get('summary', ''))}</strong>. "
                f"{_text(operation.get('description', ''))}</p><p>{access}</p>"
                f"{self.parameters(operation)}{self.request_body(operation)}{self.responses(operation)}</section>")

    def render(self) -> Html:
        info = self.document["info"]
        title = f"{info['title']} {info['version']}"
        contents = "".join(
            f'<li><a href="#{_anchor("op", operation["operationId"])}"><span class="method">{_text(method)}</span> '
            f'<span class="path">{_text(path)}</span></a>: {_text(operation.get("summary", ""))}</li>'
            for method, path, operation in self.operations()
        )
        security = "".join(
            f"<p><code>{_text(name)}</code>: {_text(scheme.get('scheme', ''))} ({_text(scheme['type'])}). "
            f"{_text(scheme.get('description', ''))}</p>"
            for name, scheme in self.components.get("securitySchemes", {}).items()
        )
        operations = "".join(self.operation(*entry) for entry in self.operations())
        schemas = "".join(
            f'<section id="{_anchor("schema", name)}"><h3>{_text(name)}</h3>'
            f"<p>{_text(schema.get('description', ''))}</p>{self.schema_table(schema)}</section>"
            for name, schema in self.components.get("schemas", {}).items()
        )
        headers = "".join(
            f'<tr id="{_anchor("header", name)}"><td><code>{_text(name)}</code></td>'
            f"<td>{self.type_of(header['schema'])}</td><td>{_text(header.get('description', ''))}</td></tr>"
            for name, header in self.components.get("headers", {}).items()
        )
        return (
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_text(title)}</title>'
            f"<style>{_STYLE}</style></head><body>"
            f"<h1>{_text(title)}</h1><p>{_text(info.get('description', ''))}</p>"
            f'<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI '
            f"{_text(self.document['openapi'])}).</p>"
            f"<h2>API keys</h2>{security}<h2>Endpoints</h2><ul>{contents}</ul>{operations}"
            f"<h2>Response headers</h2><table><tr><th>header</th><th>value</th><th>meaning</th></tr>{headers}</table>"
            f"<h2>Schemas</h2>{schemas}</body></html>"
        )


def _literal(value: Any) -> str:
    return orjson.dumps(value).decode()


def _bounds(low: Any, high: Any, unit: str) -> str:
    unit = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"{low} to {high}{unit}"
    if low is not None:
        return f"at least {low}{unit}"
    if high is not None:
        return f"at most {high}{unit}"
    return ""


def _format(schema: dict[str, Any]) -> Html:
    if "format" in schema:
        return _text(schema["format"])
    if "pattern" in schema:
        return f"pattern <code>{_text(schema['pattern'])}</code>"
    return ""


def _default(schema: dict[str, Any]) -> Html:
    return f"default <code>{_text(_literal(schema['default']))}</code>" if "default" in schema else ""


@functools.cache
def docs_html() -> str:
    """Return the page, rendered once: it depends only on the code."""
    return DocsRenderer(build_openapi_document()).render()


blueprint = Blueprint("docs")


@blueprint.route(DOCS_PATH, name="docs")
class DocsView(LeaderboardView):
    scope = None  # public, like /openapi.json

    async def get(self, request: Request) -> Response:
        """Return the API reference as HTML."""
        return self.html(docs_html())  # aiohttp adds "; charset=utf-8"
