import pytest

from leaderboard_app.auth import (
    ApiKeys,
    AuthError,
    Scope,
    authorize,
    bearer_token,
    needs_key,
    open_warning,
)

READ_A, READ_B = "read-key-aaaa", "read-key-bbbb"
WRITE_A, WRITE_B = "write-key-aaaa", "write-key-bbbb"
ADMIN_A, ADMIN_B = "admin-key-aaaa", "admin-key-bbbb"
ALL_KEYS = (READ_A, READ_B, WRITE_A, WRITE_B, ADMIN_A, ADMIN_B)

FULL = ApiKeys(read=(READ_A, READ_B), write=(WRITE_A, WRITE_B), admin=(ADMIN_A, ADMIN_B))


def bearer(key: str) -> str:
    return f"Bearer {key}"


def auth_error(keys: ApiKeys, scope: Scope, header: str | None) -> AuthError:
    with pytest.raises(AuthError) as info:
        authorize(keys, scope, header)
    return info.value


# --- parsing the environment -------------------------------------------------


def test_from_env_reads_two_keys_of_each_scope_for_rotation():
    keys = ApiKeys.from_env(
        {
            "LEADERBOARD_READ_KEYS": f"{READ_A},{READ_B}",
            "LEADERBOARD_WRITE_KEYS": f"{WRITE_A},{WRITE_B}",
            "LEADERBOARD_ADMIN_KEYS": f"{ADMIN_A},{ADMIN_B}",
        }
    )
    assert keys == FULL
    for key in (READ_A, READ_B):
        assert keys.scope_of(key) is Scope.READ
    for key in (WRITE_A, WRITE_B):
        assert keys.scope_of(key) is Scope.WRITE
    for key in (ADMIN_A, ADMIN_B):
        assert keys.scope_of(key) is Scope.ADMIN


def test_from_env_strips_whitespace_and_drops_empty_items():
    keys = ApiKeys.from_env({"LEADERBOARD_WRITE_KEYS": f" {WRITE_A} ,, \t{WRITE_B}\n, ,"})
    assert keys.write == (WRITE_A, WRITE_B)
    assert (keys.read, keys.admin) == ((), ())


@pytest.mark.parametrize("value", ["", " ", ",", " , ,\t"])
def test_from_env_empty_values_configure_nothing(value):
    keys = ApiKeys.from_env(
        {"LEADERBOARD_READ_KEYS": value, "LEADERBOARD_WRITE_KEYS": value, "LEADERBOARD_ADMIN_KEYS": value}
    )
    assert keys == ApiKeys()
    assert not keys.configured


def test_from_env_without_variables_configures_nothing():
    assert ApiKeys.from_env({}) == ApiKeys()
    assert not ApiKeys.from_env({"UNRELATED": "x"}).configured


@pytest.mark.parametrize("field", ["read", "write", "admin"])
def test_any_single_key_counts_as_configured(field):
    assert ApiKeys(**{field: ("k",)}).configured


# --- scopes ------------------------------------------------------------------


def test_scopes_are_ordered():
    assert Scope.READ < Scope.WRITE < Scope.ADMIN


def test_scope_of_unknown_key_is_none():
    assert FULL.scope_of("nope") is None
    assert FULL.scope_of("") is None
    assert FULL.scope_of(ADMIN_A + "x") is None
    assert FULL.scope_of(ADMIN_A[:-1]) is None


def test_scope_of_returns_the_highest_scope_when_a_key_is_listed_twice():
    keys = ApiKeys(read=("shared",), write=("shared",), admin=("shared",))
    assert keys.scope_of("shared") is Scope.ADMIN


def test_scope_of_handles_non_ascii_and_lone_surrogates():
    keys = ApiKeys(write=("clé-ü",))
    assert keys.scope_of("clé-ü") is Scope.WRITE
    assert keys.scope_of("cl\udce9") is None


@pytest.mark.parametrize("key", [ADMIN_A, ADMIN_B])
@pytest.mark.parametrize("scope", list(Scope))
def test_admin_key_may_read_write_and_administer(key, scope):
    authorize(FULL, scope, bearer(key))


@pytest.mark.parametrize("key", [WRITE_A, WRITE_B])
def test_write_key_may_read_and_write_but_not_administer(key):
    authorize(FULL, Scope.READ, bearer(key))
    authorize(FULL, Scope.WRITE, bearer(key))
    error = auth_error(FULL, Scope.ADMIN, bearer(key))
    assert (error.status, str(error)) == (403, "this key may not administer")


@pytest.mark.parametrize("key", [READ_A, READ_B])
def test_read_key_may_read_only(key):
    authorize(FULL, Scope.READ, bearer(key))
    error = auth_error(FULL, Scope.WRITE, bearer(key))
    assert (error.status, str(error)) == (403, "this key may not write")
    error = auth_error(FULL, Scope.ADMIN, bearer(key))
    assert (error.status, str(error)) == (403, "this key may not administer")


@pytest.mark.parametrize("scope", list(Scope))
def test_unknown_key_is_401(scope):
    error = auth_error(FULL, scope, bearer("not-a-configured-key"))
    assert (error.status, str(error)) == (401, "unknown API key")


# --- the Authorization header ------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("  Bearer   abc  ", "abc"),
    ],
)
def test_bearer_token_extracts_the_token(header, token):
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        " ",
        "abc",
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "Basic abc",
        "Token abc",
        "Bearer a b",
        "Bearerabc",
        "abc Bearer",
    ],
)
def test_bearer_token_rejects_absent_or_malformed_headers(header):
    assert bearer_token(header) is None


@pytest.mark.parametrize(
    "header",
    [None, "", WRITE_A, "Bearer", "Bearer ", f"Basic {WRITE_A}", f"Bearer {WRITE_A} extra", f"Bearer{WRITE_A}"],
)
@pytest.mark.parametrize("scope", list(Scope))
def test_missing_or_malformed_header_is_401(header, scope):
    error = auth_error(FULL, scope, header)
    assert error.status == 401
    assert str(error) == "missing or malformed Authorization: Bearer <key> header"


# --- which endpoints need a key ----------------------------------------------


def test_reads_are_open_without_read_keys():
    keys = ApiKeys(write=(WRITE_A,), admin=(ADMIN_A,))
    assert not needs_key(keys, Scope.READ)
    authorize(keys, Scope.READ, None)
    # A key presented on an open endpoint is not checked, even an unknown one.
    authorize(keys, Scope.READ, bearer("not-a-configured-key"))
    authorize(keys, Scope.READ, "garbage")


def test_reads_close_when_read_keys_are_configured():
    keys = ApiKeys(read=(READ_A,))
    assert needs_key(keys, Scope.READ)
    assert auth_error(keys, Scope.READ, None).status == 401
    authorize(keys, Scope.READ, bearer(READ_A))


def test_writes_are_open_without_write_keys():
    keys = ApiKeys(read=(READ_A,), admin=(ADMIN_A,))
    assert not needs_key(keys, Scope.WRITE)
    authorize(keys, Scope.WRITE, None)
    # Even a read key is not refused: it is not checked at all.
    authorize(keys, Scope.WRITE, bearer(READ_A))


def test_writes_stay_open_when_only_admin_keys_are_configured():
    keys = ApiKeys(admin=(ADMIN_A,))
    assert not needs_key(keys, Scope.WRITE)
    assert not needs_key(keys, Scope.READ)
    authorize(keys, Scope.WRITE, None)


def test_writes_close_when_write_keys_are_configured():
    keys = ApiKeys(write=(WRITE_A,))
    assert needs_key(keys, Scope.WRITE)
    assert auth_error(keys, Scope.WRITE, None).status == 401
    authorize(keys, Scope.WRITE, bearer(WRITE_A))


@pytest.mark.parametrize(
    "keys",
    [ApiKeys(read=(READ_A,)), ApiKeys(write=(WRITE_A,)), ApiKeys(admin=(ADMIN_A,)), FULL],
    ids=["read-only", "write-only", "admin-only", "all"],
)
def test_admin_is_closed_whenever_any_key_is_configured(keys):
    assert needs_key(keys, Scope.ADMIN)
    assert auth_error(keys, Scope.ADMIN, None).status == 401
    assert auth_error(keys, Scope.ADMIN, bearer("not-a-configured-key")).status == 401


def test_read_only_config_refuses_its_read_key_on_admin():
    keys = ApiKeys(read=(READ_A,))
    assert auth_error(keys, Scope.ADMIN, bearer(READ_A)).status == 403


def test_no_keys_at_all_opens_everything_and_warns():
    keys = ApiKeys.from_env({})
    for scope in Scope:
        assert not needs_key(keys, scope)
        authorize(keys, scope, None)
        authorize(keys, scope, bearer("anything"))
    warning = open_warning(keys)
    assert warning is not None
    assert "NO API KEYS CONFIGURED" in warning
    assert "\n" not in warning


@pytest.mark.parametrize(
    "keys", [ApiKeys(read=(READ_A,)), ApiKeys(write=(WRITE_A,)), ApiKeys(admin=(ADMIN_A,)), FULL]
)
def test_no_open_warning_once_any_key_is_configured(keys):
    assert open_warning(keys) is None


# --- keys stay out of reprs and messages -------------------------------------


def test_keys_stay_out_of_repr_and_str():
    for text in (repr(FULL), str(FULL)):
        for key in ALL_KEYS:
            assert key not in text


@pytest.mark.parametrize(
    ("keys", "scope", "key"),
    [
        (FULL, Scope.READ, "presented-secret-1"),  # unknown: 401
        (FULL, Scope.WRITE, READ_A),  # lacks scope: 403
        (FULL, Scope.ADMIN, WRITE_B),  # lacks scope: 403
        (ApiKeys(read=(READ_A,)), Scope.ADMIN, READ_A),
    ],
)
def test_error_messages_never_contain_the_presented_key(keys, scope, key):
    for header in (bearer(key), f"Bearer {key} extra", f"Basic {key}", key):
        error = auth_error(keys, scope, header)
        assert key not in str(error)
        assert key not in repr(error)
        assert key not in error.message
        for configured in ALL_KEYS:
            assert configured not in str(error)


def test_lone_surrogate_in_a_presented_key_is_a_plain_401():
    error = auth_error(FULL, Scope.WRITE, "Bearer secret-\ud800")
    assert (error.status, str(error)) == (401, "unknown API key")
