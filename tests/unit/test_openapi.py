"""The OpenAPI document and the /docs page built from it (no worker needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import orjson
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from leaderboard_app.app import create_app
from leaderboard_app.archiver import FinalStandings
from leaderboard_app.models import DEFAULT_RULES, RankedPlayer, parse_rules
from leaderboard_app.season_results import season_result_values
from leaderboard_app.settings import Settings
from leaderboard_app.web.docs import DocsRenderer, docs_html
from leaderboard_app.web.openapi import MAX_REQUEST_LINE, SCOPE_EXTENSION, build_openapi_document, openapi_json

METHODS = {"get", "put", "post", "delete", "patch"}


@pytest.fixture(scope="module")
def document() -> dict:
    return build_openapi_document()


def operations(document: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, item[method]) for path, item in document["paths"].items() for method in item
            if method in METHODS]


def test_the_document_is_valid_openapi_3_1(document: dict) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_validator_would_notice_a_broken_document(document: dict) -> None:
    broken = orjson.loads(openapi_json())
    broken["paths"]["/topk"]["get"]["responses"]["200"] = {"content": {}}  # no description
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_routed_endpoint_is_documented_and_nothing_else() -> None:
    app = create_app(Settings.from_env({}))
    routed = {(route.method.lower(), route.resource.canonical) for route in app.web.web_app.router.routes()
              if route.method != "HEAD" and route.resource is not None}
    documented = {(method, path) for method, path, _ in operations(build_openapi_document())}
    assert routed == documented


def test_served_bytes_are_the_document(document: dict) -> None:
    assert orjson.loads(openapi_json()) == document


def test_keyed_operations_document_every_auth_and_backend_error(document: dict) -> None:
    for method, path, operation in operations(document):
        statuses = set(operation["responses"])
        if operation["security"]:
            assert operation[SCOPE_EXTENSION] in {"read", "write", "admin"}, (method, path)
            assert {"401", "429", "503"} <= statuses, (method, path)
            # Any known key may read: only writes and admin endpoints can refuse one with 403.
            assert ("403" in statuses) == (operation[SCOPE_EXTENSION] != "read"), (method, path)
        else:
            assert SCOPE_EXTENSION not in operation
        if "requestBody" in operation:
            assert {"400", "408", "413"} <= statuses, (method, path)


def test_admin_and_write_scopes_match_the_readme(document: dict) -> None:
    scopes = {(method, path): operation.get(SCOPE_EXTENSION) for method, path, operation in operations(document)}
    assert scopes[("post", "/score")] == scopes[("post", "/scores")] == "write"
    assert scopes[("put", "/games/{gameId}")] == scopes[("delete", "/users/{userId}")] == "admin"
    assert scopes[("get", "/topk")] == scopes[("get", "/games/{gameId}")] == "read"
    assert scopes[("get", "/health")] is scopes[("get", "/ready")] is None


def test_every_error_answer_has_the_error_body(document: dict) -> None:
    responses = document["components"]["responses"]
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400 and path != "/ready":
                name = answer["$ref"].rsplit("/", 1)[1]
                schema = responses[name]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


def test_reads_document_the_lag_and_season_headers(document: dict) -> None:
    def headers(path: str) -> set[str]:
        return set(document["paths"][path]["get"]["responses"]["200"].get("headers", {}))

    for path in ("/topk", "/around/{userId}", "/ranks", "/history/{userId}"):
        assert headers(path) == {"X-Leaderboard-Lag", "X-Leaderboard-Season"}
    for path in ("/rank/{userId}", "/games/{gameId}", "/games"):
        assert headers(path) == {"X-Leaderboard-Lag"}
    assert headers("/health") == headers("/ready") == set()


def test_the_docs_page_lists_every_operation_parameter_and_status(document: dict) -> None:
    page = docs_html()
    renderer = DocsRenderer(document)
    for method, path, operation in operations(document):
        assert f'<span class="method">{method}</span> <span class="path">{path}</span>' in page
        for parameter in operation["parameters"]:
            assert f"<code>{renderer.resolve(parameter)['name']}</code>" in page
        section = page.split(f'id="op-{operation["operationId"]}"', 1)[1].split("</section>", 1)[0]
        for status in operation["responses"]:
            assert f"<td>{status}</td>" in section, (method, path, status)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page


def test_the_docs_page_fetches_nothing(document: dict) -> None:
    page = docs_html()
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_the_docs_page_escapes_what_it_shows(document: dict) -> None:
    tampered = orjson.loads(openapi_json())
    tampered["paths"]["/topk"]["get"]["description"] = "<script>alert(1)</script>"
    page = DocsRenderer(tampered).render()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def _longest_value(document: dict, schema: dict) -> int:
    """The most characters a described query value can have."""
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema["maxLength"]


def test_every_described_ranks_request_fits_the_request_line(document: dict) -> None:
    parameters = [document["components"]["parameters"][p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p
                  for p in document["paths"]["/ranks"]["get"]["parameters"]]
    query = 0
    for parameter in parameters:
        schema = parameter["schema"]
        repeats = schema.get("maxItems", 1) if schema.get("type") == "array" else 1
        value = _longest_value(document, schema["items"] if schema.get("type") == "array" else schema)
        query += repeats * (len(parameter["name"]) + 2 + 12 * value)  # "&name=", every character percent-encoded
    assert {p["name"] for p in parameters} >= {"userId", "userIds", "gameId"}
    assert len("GET /ranks? HTTP/1.1") + query <= MAX_REQUEST_LINE


def test_season_results_records_match_the_schemas_described_for_them(document: dict) -> None:
    def validator(name: str) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                                "components": document["components"]})

    standings = FinalStandings(2)
    players = [RankedPlayer("ann", 3, 1, display_name="Ann"), RankedPlayer("bob", 3, 1)]
    rows = [*standings.add(players), *standings.finish()]
    *standing_records, summary = [orjson.loads(value) for value in season_result_values("g", "2026-11", 2, 5, rows)]
    for record in standing_records:
        validator("SeasonStanding").validate(record)
    validator("SeasonClosed").validate(summary)
    # The schemas would notice a record that broke them.
    assert not validator("SeasonStanding").is_valid({**standing_records[0], "position": -1})
    assert not validator("SeasonClosed").is_valid({key: value for key, value in summary.items() if key != "top"})
    assert not validator("SeasonClosed").is_valid(standing_records[0])


def test_season_results_records_of_a_game_with_sort_columns_match_their_schemas(document: dict) -> None:
    def validator(name: str) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                                "components": document["components"]})

    standings = FinalStandings(2)
    players = [RankedPlayer("ann", 3, 1, columns={"time": -(2**63)}),
               RankedPlayer("bob", 3, 2, columns={"time": 2**63 - 1})]
    rows = [*standings.add(players), *standings.finish()]
    *standing_records, summary = [orjson.loads(value) for value in season_result_values("g", "2026-11", 2, 5, rows)]
    assert [record["columns"] for record in standing_records] == [{"time": -(2**63)}, {"time": 2**63 - 1}]
    for record in standing_records:
        validator("SeasonStanding").validate(record)
    validator("SeasonClosed").validate(summary)
    assert not validator("SeasonStanding").is_valid({**standing_records[0], "columns": {"time": 2**63}})
    assert not validator("SeasonStanding").is_valid({**standing_records[0], "columns": {"time": 1.5}})


def test_sort_columns_are_described_where_rules_submissions_and_players_carry_them(document: dict) -> None:
    def valid(name: str, instance: object) -> bool:
        return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                                "components": document["components"]}).is_valid(instance)

    rules = parse_rules({"order": "desc", "operator": "incr",
                         "columns": [{"name": "time", "order": "asc", "operator": "set"}, {"name": "kills"}]})
    assert valid("GameRules", rules.as_json())
    assert valid("Game", {"gameId": "g", **rules.as_json(), "season": "all", "players": 0})
    assert valid("Game", {"gameId": "g", **DEFAULT_RULES.as_json(), "season": "all", "players": 0})
    assert not valid("Game", {"gameId": "g", "order": "desc", "operator": "best", "reset": "never", "tiers": [],
                              "tags": [], "season": "all", "players": 0})  # columns is always there
    assert valid("RulesQueued", {"status": "queued", "gameId": "g", **rules.as_json()})
    for refused in ([{"name": "Time"}], [{"name": "time", "weight": 2}], [{"name": "a"}, {"name": "b"},
                                                                            {"name": "c"}, {"name": "d"}]):
        assert not valid("GameRules", {"columns": refused}), refused
    submission = {"gameId": "g", "userId": "u", "score": 3, "columns": {"time": 5234, "kills": -(2**63)}}
    assert valid("ScoreSubmission", submission)
    assert valid("ScoreBatch", {"scores": [submission]})
    assert not valid("ScoreSubmission", {**submission, "columns": {"time": "5234"}})
    player = RankedPlayer("u", 3, 1, columns={"time": 5234, "kills": 2**63 - 1}).as_json()
    assert valid("RankedPlayer", player)
    assert valid("Standing", {**player, "season": "all", "total": 1, "percentile": 0.0, "next": None})
    assert "columns" not in document["components"]["schemas"]["TournamentDefinition"]["properties"]


def test_the_season_results_doc_shows_the_schemas_of_the_openapi_document(document: dict) -> None:
    schemas = document["components"]["schemas"]

    def inlined(node: object) -> object:
        if isinstance(node, dict):
            if set(node) == {"$ref"}:
                return inlined(schemas[node["$ref"].rsplit("/", 1)[1]])
            return {key: inlined(value) for key, value in node.items()}
        return [inlined(value) for value in node] if isinstance(node, list) else node

    text = (Path(__file__).parents[2] / "docs" / "season-results.md").read_text()
    shown = {schema["title"]: schema for schema in map(json.loads, re.findall(r"```json\n(.*?)\n```", text, re.S))}
    assert set(shown) == {"SeasonStanding", "SeasonClosed"}
    for name, schema in shown.items():
        assert {key: value for key, value in schema.items() if key not in ("$schema", "title")} == \
            inlined(schemas[name])
