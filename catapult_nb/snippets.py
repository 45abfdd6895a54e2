"""The same gather request as code in six languages, to copy out of the notebook.

:func:`render` turns gather options into a snippet for one language; :func:`render_all` does every
language at once (the code tab of the gather form uses it)::

    >>> from catapult_nb.snippets import render
    >>> print(render({"maxDigits": "5"}, "c-abc", "node"))   # doctest: +SKIP

Each snippet speaks the idiom of its client library:

========== =================================================================================
curl       the raw HTTP request; JSON body with wire names
python     ``requests.post`` with a ``json=`` body; wire names
python-sdk bandwidth-sdk 3.x: ``bandwidth.client("voice", …).create_call_gather(call_id, …)``
node       node-bandwidth: ``client.Call.createGather(callId, options)``; wire names
csharp     Bandwidth.Net: ``client.Call.CreateGatherAsync(callId, new CreateGatherData {…})``;
           PascalCase properties, ``GatherPrompt`` for the prompt
ruby       ruby-bandwidth: ``call.create_gather({…})``; snake_case symbols
========== =================================================================================

For the how-to page's own example the node, C# and Ruby snippets are, statement for statement, the ones
printed on that page: numbers are sent as strings (``"maxDigits": "5"``) and properties come in the page's
order. Booleans are the language's own ``true``/``false``, which the API accepts as well as strings.

Credentials never appear in a snippet: there is no parameter for them. Snippets read them from the
environment (``CATAPULT_USER_ID``, ``CATAPULT_API_TOKEN``, ``CATAPULT_API_SECRET``); only the user id,
which is not a secret, may be written in by passing ``user_id=``. The node, C# and Ruby snippets show how
to build the client in comments, so that their statements stay the page's statements.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from catapult_nb.credentials import DEFAULT_BASE_URL, ENV_SECRET, ENV_TOKEN, ENV_USER_ID
from catapult_nb.options import GATHER_FIELDS, OPTION_FIELDS, PROMPT_FIELDS, GatherOptions
from catapult_nb.translate import TRANSLATIONS, to_bxml_v2, to_twiml

__all__ = ["DEFAULT_BASE_URL", "LANGUAGES", "TRANSLATIONS", "render", "render_all"]

#: The live v1 API, without the ``/v1`` version segment (the SDKs add it themselves).

#: Snippet languages as ``(name, display label)`` pairs, in the order the code tab shows them.
LANGUAGES: tuple[tuple[str, str], ...] = (
    ("curl", "curl"),
    ("python", "Python (requests)"),
    ("python-sdk", "Python (bandwidth-sdk 3)"),
    ("node", "Node.js (node-bandwidth)"),
    ("csharp", "C# (Bandwidth.Net)"),
    ("ruby", "Ruby (ruby-bandwidth)"),
)

# Property order of the how-to page's example (terminatingDigits before interDigitTimeout), then the rest:
# the option table's order.
_GATHER_ORDER = tuple(f.wire for f in GATHER_FIELDS)
_PROMPT_ORDER = tuple(f.key for f in PROMPT_FIELDS)
# Options whose values are numbers (sent as strings, as the page does; unquoted where an SDK wants numbers).
_NUMBERS = frozenset(f.wire for f in OPTION_FIELDS if f.dtype in ("Int64", "Float64"))

# Ids and the base URL are written into code unquoted in places (shell URLs, comments), so they are held to
# characters that mean nothing in any of the six languages.
_ID_PATTERN = re.compile(r"[A-Za-z0-9_.{}-]+")
_URL_PATTERN = re.compile(r"https?://[A-Za-z0-9.\-_:\[\]/%~]+")

_ENV_USER, _ENV_TOKEN, _ENV_SECRET = ENV_USER_ID, ENV_TOKEN, ENV_SECRET


# --------------------------------------------------------------------------------------------------
# Public API


def render(
    options: GatherOptions | dict[str, Any] | None = None,
    call_id: str = "{callId}",
    language: str = "curl",
    *,
    user_id: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    **option_kwargs: Any,
) -> str:
    """The gather request for ``call_id`` as code in ``language``.

    :param options: a :class:`GatherOptions`, a wire dict (``{"maxDigits": "5"}``), or ``None`` with the
        options as keyword arguments (``max_digits=5``), as :meth:`GatherOptions.coerce` takes them.
    :param call_id: the call to gather on: a real id (``c-…``) or a placeholder (``{callId}``).
    :param language: one of the names in :data:`LANGUAGES`, or ``"bxml-v2"`` / ``"twiml"`` for the same
        gather in Bandwidth's v2 BXML or Twilio's TwiML (see :mod:`catapult_nb.translate`; ``call_id``,
        ``user_id`` and ``base_url`` do not apply there).
    :param user_id: written into the snippet when given; otherwise the snippet reads ``CATAPULT_USER_ID``
        from the environment. The API token and secret are always read from the environment.
    :param base_url: the API server, with or without the trailing ``/v1``; the live API by default.
    :raises OptionError: an option has a value the API does not accept.
    :raises ValueError: an unknown language, or an id or URL that cannot be written into code safely.
    """
    gather = GatherOptions.coerce(options, **option_kwargs)
    translator = _TRANSLATORS.get(language)
    if translator is not None:  # not a request: the XML a v2 or Twilio app returns instead
        _ordered_body(gather)  # the same text checks as the request snippets
        return translator(gather)
    writer = _WRITERS.get(language)
    if writer is None:
        known = ", ".join(name for name, _ in (*LANGUAGES, *TRANSLATIONS))
        raise ValueError(f"unknown snippet language {language!r}; choose one of {known}")
    target = _Target(
        call_id=_check_id("call_id", call_id, "a call id like 'c-…' or a placeholder like '{callId}'"),
        user_id=None if user_id is None else _check_id("user_id", user_id, "a user id like 'u-…'"),
        base_url=_check_base_url(base_url),
    )
    return writer(_ordered_body(gather), target)


def render_all(
    options: GatherOptions | dict[str, Any] | None = None,
    call_id: str = "{callId}",
    *,
    user_id: str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    **option_kwargs: Any,
) -> dict[str, str]:
    """Every language's snippet, by language name in :data:`LANGUAGES` order (same arguments as
    :func:`render`)."""
    gather = GatherOptions.coerce(options, **option_kwargs)
    return {
        name: render(gather, call_id, name, user_id=user_id, base_url=base_url) for name, _ in LANGUAGES
    }


# --------------------------------------------------------------------------------------------------
# Checks and the request body


class _Target:
    """Where the request goes: the parts of the URL besides the body."""

    def __init__(self, call_id: str, user_id: str | None, base_url: str) -> None:
        self.call_id = call_id
        self.user_id = user_id  # None: read CATAPULT_USER_ID at run time
        self.base_url = base_url  # without /v1

    @property
    def custom_base_url(self) -> bool:
        return self.base_url != DEFAULT_BASE_URL


def _check_id(name: str, value: Any, expected: str) -> str:
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value):
        raise ValueError(
            f"{name} must be {expected} (letters, digits and - _ . {{ }} only), got {value!r}"
        )
    return value


def _check_base_url(value: Any) -> str:
    if not isinstance(value, str) or not _URL_PATTERN.fullmatch(value):
        raise ValueError(
            "base_url must be an http(s) URL such as 'https://api.catapult.inetwork.com' or "
            f"'http://127.0.0.1:8900' (no spaces, quotes or query), got {value!r}"
        )
    url = value.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _ordered_body(gather: GatherOptions) -> dict[str, Any]:
    """The wire body in the page's property order: numbers as strings, booleans as booleans."""
    wire = gather.to_wire(as_strings=False)
    body = {key: _seed_style(wire[key]) for key in _GATHER_ORDER if key in wire}
    if "prompt" in wire:
        prompt = wire["prompt"]
        body["prompt"] = {key: _seed_style(prompt[key]) for key in _PROMPT_ORDER if key in prompt}
    for text in _strings(body):
        _reject_surrogates(text)
    return body


def _seed_style(value: Any) -> Any:
    # The how-to page sends numbers as strings; booleans stay booleans (C#'s LoopEnabled is a bool?).
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _strings(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for value in body.values():
        if isinstance(value, dict):
            out.extend(_strings(value))
        elif isinstance(value, str):
            out.append(value)
    return out


def _reject_surrogates(text: str) -> None:
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise ValueError(
            f"{text[:40]!r} contains a lone surrogate, which is not valid Unicode text: fix the string "
            "(it could not be sent as UTF-8 JSON either)"
        )


# --------------------------------------------------------------------------------------------------
# String literals. JavaScript, C# and Python share the escapes used here (\\ \" \n \r \t \uXXXX).

_BASIC_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _c_like_string(text: str) -> str:
    """A double-quoted literal valid in JavaScript, C# and Python."""
    out = []
    for ch in text:
        if ch in _BASIC_ESCAPES:
            out.append(_BASIC_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F or ch in "\u2028\u2029":
            # U+2028/2029 end a line inside a JavaScript string in older engines.
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _ruby_string(text: str) -> str:
    """A double-quoted Ruby literal: also escapes ``#`` where it would start interpolation."""
    literal = _c_like_string(text)
    return re.sub(r"#(?=[{$@])", r"\\#", literal)


def _shell_single_quoted(text: str) -> str:
    """A POSIX shell word that is exactly ``text``: nothing but ``'`` is special inside single quotes."""
    return "'" + text.replace("'", "'\\''") + "'"


def _json_text(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=4, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------
# Values and nested objects per language


def _js_value(value: Any, indent: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _aligned_object(value, indent, lambda key: _c_like_string(key), " : ", _js_value, "{", "}")
    return _c_like_string(value)


def _ruby_value(value: Any, indent: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return _aligned_object(value, indent, lambda key: ":" + _snake(key), " => ", _ruby_value, "{", "}",
                               align=False)
    return _ruby_string(value)


def _python_value(value: Any, indent: int) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return _aligned_object(value, indent, lambda key: _c_like_string(key), ": ", _python_value, "{", "}",
                               align=False, trailing_comma=True)
    return _c_like_string(value)


def _aligned_object(
    obj: dict[str, Any],
    indent: int,
    key_text: Callable[[str], str],
    separator: str,
    value_text: Callable[[Any, int], str],
    opening: str,
    closing: str,
    *,
    align: bool = True,
    trailing_comma: bool = False,
) -> str:
    """A multi-line object literal; ``align`` pads keys so the separators line up, as the page does."""
    pad = " " * (indent + 4)
    keys = [key_text(key) for key in obj]
    width = max((len(key) for key in keys), default=0) if align else 0
    lines = [
        f"{pad}{key.ljust(width)}{separator}{value_text(value, indent + 4)}"
        for key, value in zip(keys, obj.values(), strict=True)
    ]
    joined = ",\n".join(lines) + ("," if trailing_comma and lines else "")
    return f"{opening}\n{joined}\n{' ' * indent}{closing}" if lines else f"{opening}{closing}"


def _snake(wire_name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", wire_name).lower()


def _pascal(wire_name: str) -> str:
    return wire_name[0].upper() + wire_name[1:]


def _gather_url(target: _Target, user_part: str) -> str:
    return f"{target.base_url}/v1/users/{user_part}/calls/{target.call_id}/gather"


# --------------------------------------------------------------------------------------------------
# One writer per language


def _curl(body: dict[str, Any], target: _Target) -> str:
    user = target.user_id or "${" + _ENV_USER + "}"
    read = [_ENV_TOKEN, _ENV_SECRET] if target.user_id else [_ENV_USER, _ENV_TOKEN, _ENV_SECRET]
    return "\n".join([
        f"# Credentials come from the environment: {', '.join(read)}.",
        f'curl --include -X POST "{_gather_url(target, user)}" \\',
        f'    -u "${{{_ENV_TOKEN}}}:${{{_ENV_SECRET}}}" \\',
        '    -H "Content-Type: application/json; charset=utf-8" \\',
        f"    --data {_shell_single_quoted(_json_text(body))}",
        "",
    ])


def _python(body: dict[str, Any], target: _Target) -> str:
    user = _c_like_string(target.user_id) if target.user_id else f'os.environ["{_ENV_USER}"]'
    # The URL is an f-string, so the ids go in as variables: a "{callId}" placeholder must stay literal.
    url = f"{target.base_url}/v1/users/{{user_id}}/calls/{{call_id}}/gather"
    return "\n".join([
        "import os",
        "",
        "import requests",
        "",
        f"user_id = {user}",
        f"call_id = {_c_like_string(target.call_id)}",
        "response = requests.post(",
        f'    f"{url}",',
        f'    auth=(os.environ["{_ENV_TOKEN}"], os.environ["{_ENV_SECRET}"]),',
        f"    json={_python_value(body, 4)},",
        "    timeout=30,",
        ")",
        "response.raise_for_status()  # 201 Created; errors carry {category, code, message} in the body",
        'gather_id = response.headers["Location"].rsplit("/", 1)[-1]',
        "print(gather_id)",
        "",
    ])


# bandwidth-sdk 3.x: create_call_gather(call_id, max_digits, inter_digit_timeout, terminating_digits, tag,
# **kwargs) sends the named four under wire names and any other keyword argument as it is, so
# suppressDtmf and prompt are passed with their wire names.
_SDK_PARAMETERS = ("max_digits", "inter_digit_timeout", "terminating_digits", "tag")
_SDK_NAMED = {f.wire: f.python for f in GATHER_FIELDS if f.python in _SDK_PARAMETERS}


def _python_sdk(body: dict[str, Any], target: _Target) -> str:
    user = _c_like_string(target.user_id) if target.user_id else f'os.environ["{_ENV_USER}"]'
    client_args = [
        '    "voice",',
        f"    {user},",
        f'    os.environ["{_ENV_TOKEN}"],',
        f'    os.environ["{_ENV_SECRET}"],',
    ]
    if target.custom_base_url:
        client_args.append(f"    api_endpoint={_c_like_string(target.base_url)},")
    call_args = [f"    {_c_like_string(target.call_id)},"]
    for key, value in body.items():
        name = _SDK_NAMED.get(key, key)
        # The SDK documents max_digits and inter_digit_timeout as numbers: write numbers unquoted.
        text = value if key in _NUMBERS else _python_value(value, 4)
        call_args.append(f"    {name}={text},")
    return "\n".join([
        "import os",
        "",
        "import bandwidth",
        "",
        "voice_api = bandwidth.client(",
        *client_args,
        ")",
        "gather_id = voice_api.create_call_gather(",
        *call_args,
        ")",
        "print(gather_id)",
        "",
    ])


def _node(body: dict[str, Any], target: _Target) -> str:
    config = [
        f"userId: {_c_like_string(target.user_id) if target.user_id else 'process.env.' + _ENV_USER}",
        f"apiToken: process.env.{_ENV_TOKEN}",
        f"apiSecret: process.env.{_ENV_SECRET}",
    ]
    if target.custom_base_url:
        config.append(f"baseUrl: {_c_like_string(target.base_url)}")
    return "\n".join([
        "// The client, made once (node-bandwidth):",
        '//   var Bandwidth = require("node-bandwidth");',
        f"//   var client = new Bandwidth({{{', '.join(config)}}});",
        f"var options = {_js_value(body, 0)};",
        f"client.Call.createGather({_c_like_string(target.call_id)}, options).then(function(res) {{}});",
        "",
    ])


def _csharp_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if key == "gender":
        return f"Gender.{value.capitalize()}"
    return _c_like_string(value)


def _csharp(body: dict[str, Any], target: _Target) -> str:
    env = "Environment.GetEnvironmentVariable"
    user = _c_like_string(target.user_id) if target.user_id else f'{env}("{_ENV_USER}")'
    client_args = [user, f'{env}("{_ENV_TOKEN}")', f'{env}("{_ENV_SECRET}")']
    if target.custom_base_url:
        client_args.append(_c_like_string(target.base_url))
    lines = [
        "// The client, made once (Bandwidth.Net):",
        "//   using System; using Bandwidth.Net; using Bandwidth.Net.Api;",
        f"//   var client = new Client({', '.join(client_args)});",
        f"var gather = await client.Call.CreateGatherAsync({_c_like_string(target.call_id)}, "
        "new CreateGatherData {",
    ]
    members: list[str] = []
    for key, value in body.items():
        if key == "prompt":
            inner = [f"        {_pascal(k)} = {_csharp_value(k, v)}" for k, v in value.items()]
            members.append("    Prompt = new GatherPrompt {\n" + ",\n".join(inner) + "\n    }")
        elif key == "suppressDtmf":
            # CreateGatherData (Bandwidth.Net 3) has no such property: say so rather than emit code that
            # does not compile.
            members.append(
                f"    // SuppressDtmf = {_csharp_value(key, value)}: CreateGatherData has no SuppressDtmf "
                "property; send suppressDtmf in a raw JSON request if you need it"
            )
        else:
            members.append(f"    {_pascal(key)} = {_csharp_value(key, value)}")
    lines.append(_join_members(members))
    lines.append("});")
    lines.append("")
    return "\n".join(lines)


def _join_members(members: list[str]) -> str:
    """Comma-separate initializer members, leaving comment lines without a comma."""
    code_indexes = [i for i, m in enumerate(members) if not m.lstrip().startswith("//")]
    last_code = code_indexes[-1] if code_indexes else -1
    out = []
    for i, member in enumerate(members):
        is_code = i in code_indexes
        out.append(member + ("," if is_code and i != last_code else ""))
    return "\n".join(out)


def _ruby(body: dict[str, Any], target: _Target) -> str:
    user = _ruby_string(target.user_id) if target.user_id else f'ENV["{_ENV_USER}"]'
    client_args = [user, f'ENV["{_ENV_TOKEN}"]', f'ENV["{_ENV_SECRET}"]']
    if target.custom_base_url:
        client_args.append(_ruby_string(target.base_url))
    return "\n".join([
        "# The client and the call, made once (ruby-bandwidth):",
        '#   require "ruby-bandwidth"',
        f"#   client = Bandwidth::Client.new({', '.join(client_args)})",
        f"#   call = Bandwidth::Call.get(client, {_ruby_string(target.call_id)})",
        f"gather = call.create_gather({_ruby_value(body, 0)})",
        "",
    ])


_WRITERS: dict[str, Callable[[dict[str, Any], _Target], str]] = {
    "curl": _curl,
    "python": _python,
    "python-sdk": _python_sdk,
    "node": _node,
    "csharp": _csharp,
    "ruby": _ruby,
}

_TRANSLATORS: dict[str, Callable[[GatherOptions], str]] = {"bxml-v2": to_bxml_v2, "twiml": to_twiml}
