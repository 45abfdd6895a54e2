"""The gather request as code in six languages (catapult_nb.snippets).

Golden files live in ``tests/golden/snippets/<case>.<language>.<ext>``. After an intended change to a
snippet, regenerate them and review the diff::

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_snippets.py -k golden

The curl, requests and SDK snippets are run for real against a loopback HTTP server; the node snippet runs
in Node.js against a stand-in ``client``; the C# and Ruby literals are decoded with each language's rules.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from catapult_nb.options import GatherOptions, OptionError, Prompt
from catapult_nb.snippets import LANGUAGES, render, render_all

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden" / "snippets"
#: The v1 gather how-to page the snippets must reproduce, kept with the tests so a fresh clone runs them;
#: SHARED_SEED_FILE is the project's original, beside the checkout where it exists.
SEED_FILE = ROOT / "tests" / "golden" / "seed-gather-howto.txt"
SHARED_SEED_FILE = ROOT.parent / "shared" / "seed-gather-howto.txt"
EXTENSIONS = {"curl": "sh", "python": "py", "python-sdk": "py", "node": "js", "csharp": "cs", "ruby": "rb"}
NAMES = [name for name, _ in LANGUAGES]
SDK_MISSING = "bandwidth-sdk 3.x is not installed (pip install 'bandwidth-sdk==3.*')"

# The how-to page's example.
SEED_OPTIONS = {
    "maxDigits": "5",
    "terminatingDigits": "*",
    "interDigitTimeout": "7",
    "prompt": {"sentence": "Please enter your 5 digit code"},
}
# Every field the gather takes.
FULL_OPTIONS = GatherOptions(
    max_digits=4,
    inter_digit_timeout=2.5,
    terminating_digits="#*",
    tag="order-42",
    suppress_dtmf=False,
    prompt=Prompt(
        sentence="Entrez votre code, puis dièse.",
        gender="male",
        locale="fr_FR",
        voice="bernard",
        file_url="https://example.com/menu.mp3",
        loop_enabled=True,
        bargeable=False,
    ),
)
TRICKY_SENTENCE = 'Press "1" for $5\nthen #'
NASTY_SENTENCES = [
    TRICKY_SENTENCE,
    # control characters other than tabs and line breaks are refused before any code is generated
    "it's a `back tick` and $(echo no) and \\ and #{x} #$y #@z\tend\r\n\u2028ok ünïcødé \u00a0",
]

CASES: dict[str, dict[str, Any]] = {
    "seed": {"options": SEED_OPTIONS},
    "full": {"options": FULL_OPTIONS, "call_id": "c-isw3qup6gvr3ywcsentygnq"},
    "tricky": {
        "options": GatherOptions(max_digits=1, sentence=TRICKY_SENTENCE),
        "call_id": "c-abc",
        "user_id": "u-xa2n3oxk6it4efbglisna6a",
        "base_url": "http://127.0.0.1:8900",
    },
}


def _render_case(case: str, language: str) -> str:
    spec = dict(CASES[case])
    options = spec.pop("options")
    return render(options, language=language, **spec)


# --------------------------------------------------------------------------------------------------
# Golden files


@pytest.mark.parametrize("language", NAMES)
@pytest.mark.parametrize("case", list(CASES))
def test_golden(case: str, language: str) -> None:
    path = GOLDEN / f"{case}.{language}.{EXTENSIONS[language]}"
    text = _render_case(case, language)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to write it"
    assert text == path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# The how-to page's snippets, statement for statement

_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|=>|\n|\S')
_COMMENT = {"node": "//", "csharp": "//", "ruby": "#"}


def statements(code: str, language: str) -> list[tuple[str, ...]]:
    """Code as a list of statements, each a tuple of tokens: whitespace and comment lines are dropped.

    JavaScript and C# statements end at ``;``; a Ruby statement ends at a newline outside brackets.
    """
    kept = "\n".join(
        line for line in code.splitlines() if not line.lstrip().startswith(_COMMENT[language])
    )
    out: list[tuple[str, ...]] = []
    current: list[str] = []
    depth = 0
    for token in _TOKEN.findall(kept):
        if token == "\n":
            if language == "ruby" and depth == 0 and current:
                out.append(tuple(current))
                current = []
            continue
        depth += (token in "([{") - (token in ")]}")
        current.append(token)
        if token == ";" and language != "ruby":
            out.append(tuple(current))
            current = []
    if current:
        out.append(tuple(current))
    return out


def in_ci() -> bool:
    """Whether the tests run in CI (``CI=true``), where everything a test needs is provided."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def seed_text() -> str:
    return SEED_FILE.read_text(encoding="utf-8")


def test_the_kept_seed_page_is_the_projects_own():
    if not SHARED_SEED_FILE.exists():  # CI has it, so there its absence fails the test
        message = (f"nothing to compare with: the project's original seed page {SHARED_SEED_FILE} is "
                   "missing; put the project's shared/ folder (with seed-gather-howto.txt) beside the "
                   "checkout, as ../shared")
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    assert SEED_FILE.read_bytes() == SHARED_SEED_FILE.read_bytes()


SEED_SNIPPETS = {
    # language: (pattern that cuts the snippet out of the page, the call id the page uses)
    "node": (r"^var options =.*?^client\.Call\.createGather\(.*?;$", "callId"),
    "csharp": (r"^var gather = await client\.Call\.CreateGatherAsync\(.*?^\}\);$", "{callId1}"),
    "ruby": (r"^gather = call\.create_gather\(\{.*?^\}\)$", "{callId}"),
}


@pytest.mark.parametrize("language", list(SEED_SNIPPETS))
def test_seed_snippets_match_the_page_statement_for_statement(seed_text: str, language: str) -> None:
    pattern, call_id = SEED_SNIPPETS[language]
    match = re.search(pattern, seed_text, re.S | re.M)
    assert match, f"the {language} snippet was not found in the seed page"
    expected = statements(match.group(0), language)
    # given the page's options, when rendered for the page's call id
    ours = statements(render(SEED_OPTIONS, call_id, language), language)
    # then the code is the page's code, token for token
    assert ours == expected


def test_seed_http_body_matches_the_page(seed_text: str) -> None:
    match = re.search(r"charset=utf-8\s*\n\s*\n(\{.*?\n\})\s*\n\s*Response", seed_text, re.S)
    assert match, "the request body was not found in the seed page"
    page_body = json.loads(match.group(1))
    curl = render(SEED_OPTIONS, "c-abc", "curl")
    data = re.search(r"--data '(.*)'\s*$", curl, re.S)
    assert data
    assert json.loads(data.group(1)) == page_body
    # the property order is the page's too
    assert list(json.loads(data.group(1))) == list(page_body)


# --------------------------------------------------------------------------------------------------
# Every field, in each SDK's naming

FIELD_SPELLINGS = {
    "curl": ['"maxDigits": "4"', '"interDigitTimeout": "2.5"', '"terminatingDigits": "#*"',
             '"tag": "order-42"', '"suppressDtmf": false', '"prompt": {', '"sentence": ', '"gender": "male"',
             '"locale": "fr_FR"', '"voice": "bernard"', '"fileUrl": "https://example.com/menu.mp3"',
             '"loopEnabled": true', '"bargeable": false'],
    "python": ['"maxDigits": "4"', '"interDigitTimeout": "2.5"', '"terminatingDigits": "#*"',
               '"tag": "order-42"', '"suppressDtmf": False', '"prompt": {', '"sentence": ',
               '"gender": "male"', '"locale": "fr_FR"', '"voice": "bernard"',
               '"fileUrl": "https://example.com/menu.mp3"', '"loopEnabled": True', '"bargeable": False'],
    "python-sdk": ["max_digits=4,", "inter_digit_timeout=2.5,", 'terminating_digits="#*",',
                   'tag="order-42",', "suppressDtmf=False,", "prompt={", '"sentence": ', '"gender": "male"',
                   '"locale": "fr_FR"', '"voice": "bernard"', '"fileUrl": "https://example.com/menu.mp3"',
                   '"loopEnabled": True', '"bargeable": False'],
    "node": ['"maxDigits"', '"interDigitTimeout"', '"terminatingDigits"', '"tag"',
             '"suppressDtmf"      : false', '"prompt"', '"sentence"', '"gender"      : "male"',
             '"locale"', '"voice"', '"fileUrl"',
             '"loopEnabled" : true', '"bargeable"   : false'],
    "csharp": ['MaxDigits = "4"', 'InterDigitTimeout = "2.5"', 'TerminatingDigits = "#*"',
               'Tag = "order-42"', "// SuppressDtmf = false", "Prompt = new GatherPrompt {", "Sentence = ",
               "Gender = Gender.Male",
               'Locale = "fr_FR"', 'Voice = "bernard"', 'FileUrl = "https://example.com/menu.mp3"',
               "LoopEnabled = true", "Bargeable = false"],
    "ruby": [':max_digits => "4"', ':inter_digit_timeout => "2.5"', ':terminating_digits => "#*"',
             ':tag => "order-42"', ":suppress_dtmf => false", ":prompt => {", ":sentence => ",
             ':gender => "male"', ':locale => "fr_FR"', ':voice => "bernard"',
             ':file_url => "https://example.com/menu.mp3"', ":loop_enabled => true", ":bargeable => false"],
}


@pytest.mark.parametrize("language", NAMES)
def test_every_field_is_written_in_the_sdk_naming(language: str) -> None:
    code = render(FULL_OPTIONS, "c-abc", language)
    missing = [spelling for spelling in FIELD_SPELLINGS[language] if spelling not in code]
    assert not missing, f"{language} snippet lacks {missing}:\n{code}"


def test_absent_fields_are_left_out() -> None:
    for language, code in render_all(max_digits=3).items():
        for word in ("prompt", "sentence", "suppress", "tag", "terminating", "inter_digit", "interdigit"):
            assert word not in code.lower(), f"{language} snippet mentions {word}:\n{code}"


# --------------------------------------------------------------------------------------------------
# Strings that mean something in one language or another, executed or decoded


def _clean_env(**values: str) -> dict[str, str]:
    # Only what the snippet needs: no proxy settings can send a loopback request elsewhere.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_PROXY": "*", **values}


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"CATAPULT_USER_ID": "u-test", "CATAPULT_API_TOKEN": "t-test", "CATAPULT_API_SECRET": "s-test"}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def _expect_gather(httpserver: Any) -> None:
    path = "/v1/users/u-test/calls/c-abc/gather"
    httpserver.expect_oneshot_request(path, method="POST").respond_with_data(
        "", status=201, headers={"Location": httpserver.url_for(path + "/gtr-abc")}
    )


def _received(httpserver: Any) -> tuple[GatherOptions, Any]:
    assert len(httpserver.log) == 1, "the snippet did not send exactly one request"
    request, response = httpserver.log[0]
    assert response.status_code == 201, "the request did not match the expected POST"
    body = {k: v for k, v in request.get_json().items() if v is not None}  # the SDK sends nulls
    return GatherOptions.from_wire(body), request.authorization


def _exec_python(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})
    return out.getvalue()


@pytest.mark.parametrize("sentence", NASTY_SENTENCES)
def test_python_snippet_sends_the_exact_options(httpserver: Any, credentials: dict, sentence: str) -> None:
    options = GatherOptions(max_digits=3, terminating_digits="#", tag="t'\"", sentence=sentence)
    _expect_gather(httpserver)
    code = render(options, "{callId}", "python", base_url=httpserver.url_for("/"))
    # the test fills in the call id placeholder, the environment holds the credentials
    printed = _exec_python(code.replace('"{callId}"', '"c-abc"'))
    received, auth = _received(httpserver)
    assert received == options
    assert (auth.username, auth.password) == ("t-test", "s-test")
    assert printed.strip() == "gtr-abc"


@pytest.mark.parametrize("sentence", NASTY_SENTENCES)
def test_python_sdk_snippet_sends_the_exact_options(
    httpserver: Any, credentials: dict, sentence: str
) -> None:
    pytest.importorskip("bandwidth", reason=SDK_MISSING)
    options = GatherOptions(max_digits=3, inter_digit_timeout=2.5, suppress_dtmf=False,
                            prompt=Prompt(sentence=sentence, voice="kate", loop_enabled=True))
    _expect_gather(httpserver)
    code = render(options, "c-abc", "python-sdk", base_url=httpserver.url_for("/"))
    printed = _exec_python(code)
    received, auth = _received(httpserver)
    assert received == options
    assert (auth.username, auth.password) == ("t-test", "s-test")
    assert printed.strip() == "gtr-abc"


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("bash")), reason="needs curl and bash")
@pytest.mark.parametrize("sentence", NASTY_SENTENCES)
def test_curl_snippet_sends_the_exact_options(httpserver: Any, credentials: dict, sentence: str) -> None:
    options = GatherOptions(tag="$HOME '", suppress_dtmf=True, sentence=sentence)
    _expect_gather(httpserver)
    code = render(options, "c-abc", "curl", base_url=httpserver.url_for("/"))
    done = subprocess.run(["bash", "-c", code], env=_clean_env(**credentials), capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    received, auth = _received(httpserver)
    assert received == options
    assert (auth.username, auth.password) == ("t-test", "s-test")
    assert "201" in done.stdout.splitlines()[0]


_NODE_CLIENT = """
var client = {Call: {createGather: function (callId, options) {
    process.stdout.write(JSON.stringify({callId: callId, options: options}));
    return Promise.resolve({});
}}};
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
@pytest.mark.parametrize("sentence", NASTY_SENTENCES)
def test_node_snippet_passes_the_exact_options(sentence: str) -> None:
    options = GatherOptions(max_digits=2, tag="a\\b", suppress_dtmf=False,
                            prompt=Prompt(sentence=sentence, gender="female", bargeable=True))
    code = _NODE_CLIENT + render(options, "c-abc", "node")
    done = subprocess.run(["node"], input=code, env=_clean_env(), capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["callId"] == "c-abc"
    assert GatherOptions.from_wire(seen["options"]) == options


_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "0": "\0", "a": "\a", "b": "\b",
           "f": "\f", "v": "\v"}


def decode_literal(literal: str, language: str) -> str:
    """Read a double-quoted C# or Ruby string literal as the compiler would (the escapes both share,
    plus Ruby's ``\\#``). A Ruby interpolation (``#{``, ``#$``, ``#@``) is an error here."""
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt in _SIMPLE:
                out.append(_SIMPLE[nxt])
                i += 2
            elif nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
            elif nxt == "#" and language == "ruby":
                out.append("#")
                i += 2
            else:
                raise AssertionError(f"escape \\{nxt} is not valid in {language}: {literal}")
        elif ch == "#" and language == "ruby" and body[i + 1 : i + 2] in ("{", "$", "@"):
            raise AssertionError(f"Ruby would interpolate here: {literal}")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@pytest.mark.parametrize("language", ["csharp", "ruby"])
@pytest.mark.parametrize("sentence", NASTY_SENTENCES)
def test_csharp_and_ruby_literals_decode_to_the_text(language: str, sentence: str) -> None:
    options = GatherOptions(tag='x"#{y}', sentence=sentence)
    code = render(options, "c-abc", language)
    comment = _COMMENT[language]
    code_lines = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(comment))
    # every quote in the code belongs to a literal that stays on one line
    assert code_lines.count('"') == sum(lit.count('"') for lit in _LITERAL.findall(code_lines))
    decoded = [decode_literal(lit, language) for lit in _LITERAL.findall(code_lines)]
    assert sentence in decoded
    assert 'x"#{y}' in decoded


# --------------------------------------------------------------------------------------------------
# Credentials


def test_no_snippet_holds_credentials_even_when_the_environment_does(monkeypatch: pytest.MonkeyPatch) -> None:
    secret, token, user = "s3cr3t-Zq9-do-not-print", "t-tok3n-Zq9", "u-envuserzq9"
    monkeypatch.setenv("CATAPULT_API_SECRET", secret)
    monkeypatch.setenv("CATAPULT_API_TOKEN", token)
    monkeypatch.setenv("CATAPULT_USER_ID", user)
    for case in CASES:
        for language in NAMES:
            code = _render_case(case, language)
            for value in (secret, token, user):
                assert value not in code, f"{case}/{language} leaks {value!r}"
            assert "CATAPULT_API_SECRET" in code, f"{case}/{language} does not read the secret from the env"


def test_there_is_no_way_to_pass_a_secret() -> None:
    with pytest.raises(TypeError):
        render(SEED_OPTIONS, "c-abc", "curl", api_secret="s")  # type: ignore[call-arg]


def test_a_given_user_id_is_written_in_and_the_env_is_used_otherwise() -> None:
    assert "u-abc" in render(SEED_OPTIONS, "c-abc", "node", user_id="u-abc")
    assert "process.env.CATAPULT_USER_ID" in render(SEED_OPTIONS, "c-abc", "node")
    assert "${CATAPULT_USER_ID}" in render(SEED_OPTIONS, "c-abc", "curl")


# --------------------------------------------------------------------------------------------------
# Inputs and errors


def test_options_as_object_dict_or_keywords_give_the_same_code() -> None:
    as_object = GatherOptions(max_digits=5, terminating_digits="*", inter_digit_timeout=7,
                              sentence="Please enter your 5 digit code")
    for language in NAMES:
        expected = render(as_object, "c-abc", language)
        assert render(SEED_OPTIONS, "c-abc", language) == expected
        assert render(None, "c-abc", language, max_digits=5, terminating_digits="*", inter_digit_timeout=7,
                      sentence="Please enter your 5 digit code") == expected


def test_render_all_gives_every_language_in_order() -> None:
    snippets = render_all(SEED_OPTIONS, "c-abc")
    assert list(snippets) == NAMES
    assert snippets["ruby"] == render(SEED_OPTIONS, "c-abc", "ruby")
    assert all(label for _, label in LANGUAGES)


def test_base_url_with_or_without_v1() -> None:
    a = render(SEED_OPTIONS, "c-abc", "curl", base_url="http://127.0.0.1:8900/v1/")
    b = render(SEED_OPTIONS, "c-abc", "curl", base_url="http://127.0.0.1:8900")
    assert a == b
    assert '"http://127.0.0.1:8900/v1/users/${CATAPULT_USER_ID}/calls/c-abc/gather"' in a


def test_unknown_language_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown snippet language 'java'; choose one of curl, python"):
        render(SEED_OPTIONS, "c-abc", "java")


@pytest.mark.parametrize("call_id", ['c-"; rm -rf /', "c abc", "$(id)", "", "c-abc/../x"])
def test_unsafe_call_ids_are_refused(call_id: str) -> None:
    with pytest.raises(ValueError, match="call_id must be a call id"):
        render(SEED_OPTIONS, call_id, "curl")


@pytest.mark.parametrize("base_url", ["ftp://x", 'http://x"; echo', "http://x/?a=$HOME", "localhost:8900"])
def test_unsafe_base_urls_are_refused(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url must be an http"):
        render(SEED_OPTIONS, "c-abc", "curl", base_url=base_url)


def test_bad_options_raise_option_error_naming_the_property() -> None:
    with pytest.raises(OptionError) as caught:
        render({"maxDigits": "31"}, "c-abc", "node")
    assert caught.value.prop == "maxDigits"


def test_lone_surrogate_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        render(GatherOptions(sentence="bad \ud800 text"), "c-abc", "python")


# --------------------------------------------------------------------------------------------------
# The Python snippets against the embedded simulator (fixtures from conftest.py)


@pytest.fixture
def simulator() -> Any:
    """Overrides conftest's: at speed 10 a call is answered in 0.1 s, and the seed's 7 s timeout (after a
    2.4 s prompt) leaves almost a second of wall time to look at the running gather, even on a busy
    machine."""
    from catapult_nb.simulator import Simulator

    with Simulator(speed=10) as sim:
        yield sim


@pytest.fixture
def simulator_env(simulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The simulator's credentials in the environment, as a user would set them."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("CATAPULT_USER_ID", simulator.user_id)
    monkeypatch.setenv("CATAPULT_API_TOKEN", simulator.api_token)
    monkeypatch.setenv("CATAPULT_API_SECRET", simulator.api_secret)
    return simulator


def _run_against_simulator(language: str, options: Any, api: Any, collector: Any) -> tuple[str, str]:
    # given an answered call, created with plain requests
    call_id = api.answered_call(collector)
    code = render(options, "{callId}", language, base_url=api.sim.base_url)
    # when the snippet runs with the call id filled in
    printed = _exec_python(code.replace('"{callId}"', f'"{call_id}"'))
    gather_id = printed.strip()
    assert api.GATHER_ID.match(gather_id), printed
    return call_id, gather_id


def test_python_snippet_creates_the_gather_on_the_simulator(
    simulator_env: Any, api: Any, collector: Any
) -> None:
    call_id, gather_id = _run_against_simulator("python", SEED_OPTIONS, api, collector)
    # then the simulator has the gather running on that call
    got = api.get(f"/calls/{call_id}/gather/{gather_id}").json()
    assert got["id"] == gather_id
    assert got["state"] == "started"
    assert got["call"].endswith(f"/calls/{call_id}")
    # and it honours the options: * ends it, 5 digits at most
    simulator_env.phone.press(call_id, "12*", gap=0.1)
    event = collector.wait_for_event("gather", call_id)
    assert (event["reason"], event["digits"], event["gatherId"]) == ("terminating-digit", "12", gather_id)


def test_python_sdk_snippet_creates_the_gather_on_the_simulator(
    simulator_env: Any, api: Any, collector: Any
) -> None:
    pytest.importorskip("bandwidth", reason=SDK_MISSING)
    options = GatherOptions(max_digits=3, inter_digit_timeout=30, terminating_digits="#", tag="sdk-run",
                            prompt=Prompt(sentence=TRICKY_SENTENCE, voice="kate", loop_enabled=False))
    call_id, gather_id = _run_against_simulator("python-sdk", options, api, collector)
    got = api.get(f"/calls/{call_id}/gather/{gather_id}").json()
    assert (got["id"], got["state"], got["tag"]) == (gather_id, "started", "sdk-run")
    simulator_env.phone.press(call_id, "987", gap=0.1)
    event = collector.wait_for_event("gather", call_id)
    assert (event["reason"], event["digits"], event["tag"]) == ("max-digits", "987", "sdk-run")
