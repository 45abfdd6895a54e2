"""The option field table is the one list of gather options: the form, the store, analysis and snippets
derive from it, so a field added to it shows up in all of them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import catapult_nb
from catapult_nb import analysis, snippets
from catapult_nb.options import OPTION_FIELDS, SHOWN_FIELDS, OptionField, flat_wire, nest_wire
from catapult_nb.store.reading import GATHER_OPTION_COLUMNS
from catapult_nb.widgets import GatherForm

# A new option, added the way a developer would: an attribute of GatherOptions and a row of the table.
_ATTRIBUTE = "    prompt: Prompt | None = None  # played while waiting; the first key stops it\n"
_NEW_ATTRIBUTE = "    priority: str | None = None  # an option the API does not have\n"
_ROW = '    OptionField("sentence", "prompt.sentence", check_sentence,'
_NEW_ROW = ('    OptionField("priority", "priority", _checked("priority", parse_str), "string", "text",\n'
            '                row=9, hint="how urgent"),\n')

# What the package, with the new option, shows of it: printed as JSON for the test to read.
_PROBE = """
import json, sys
import catapult_nb
from catapult_nb import analysis, snippets
from catapult_nb.store.store import EventStore
from catapult_nb.options import GatherOptions
from catapult_nb.widgets import GatherForm

form = GatherForm(max_digits=4)
form.set_values(priority="urgent")
options = form.options
store = EventStore(sys.argv[1])
store.record_gather("gtr-1", "c-1", options, "2026-01-01T00:00:00Z")
store.add({"eventType": "gather", "callId": "c-1", "gatherId": "gtr-1", "reason": "max-digits",
           "digits": "1234", "state": "completed", "time": "2026-01-01T00:00:03Z"})
table = analysis.gather_table(store.to_dataframe(), store.gathers())
print(json.dumps({
    "package": catapult_nb.__file__,
    "form_classes": [c for box in form.children[1].children for c in getattr(box, "_dom_classes", ())],
    "form_body": form.wire_body(),
    "wire": options.to_wire(),
    "round_trip": GatherOptions.from_wire(options.to_wire()) == options,
    "store_columns": list(store.gathers().columns),
    "analysis_columns": list(analysis.OPTION_COLUMNS),
    "table_columns": list(table.columns),
    "option_set": table["optionSet"].iloc[0],
    "snippets": snippets.render_all(options, "c-1"),
}))
store.close()
"""


def _with_new_option(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    shutil.copytree(Path(catapult_nb.__file__).parent, root / "catapult_nb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = root / "catapult_nb" / "options.py"
    source = path.read_text()
    assert source.count(_ATTRIBUTE) == 1 and source.count(_ROW) == 1, "options.py changed: update the anchors"
    source = source.replace(_ATTRIBUTE, _NEW_ATTRIBUTE + _ATTRIBUTE).replace(_ROW, _NEW_ROW + _ROW)
    path.write_text(source)
    return root


def test_an_option_added_to_the_table_shows_in_the_form_the_store_analysis_and_snippets(tmp_path):
    # given the package with one more row in the option table (and its attribute)
    root = _with_new_option(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(root)}
    # when a form fills it in, a gather is recorded with it and the tables and snippets are made
    done = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path / "events.db")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert Path(seen["package"]).is_relative_to(root)  # the copy ran, not the installed package
    # then every place that lists options lists it, with nothing else written for it
    assert "cnb-field-priority" in seen["form_classes"]
    assert seen["form_body"]["priority"] == "urgent"
    assert seen["wire"] == {"maxDigits": "4", "terminatingDigits": "*", "interDigitTimeout": "7",
                            "priority": "urgent", "prompt": {"sentence": "Please enter your 5 digit code"}}
    assert seen["round_trip"]
    assert "priority" in seen["store_columns"]
    assert "priority" in seen["analysis_columns"]
    assert "priority" in seen["table_columns"]
    assert "priority=urgent" in seen["option_set"]
    for language, code in seen["snippets"].items():
        assert "urgent" in code and ("priority" in code or "Priority" in code), language


@pytest.mark.parametrize("field", OPTION_FIELDS, ids=lambda field: field.wire)
def test_every_option_of_the_table_has_its_widget_column_and_snippet(field: OptionField):
    form = GatherForm()
    assert field.wire in GATHER_OPTION_COLUMNS
    assert f"cnb-field-{field.wire.replace('.', '-')}" in form.widgets[field.python]._dom_classes
    assert (field.wire in analysis.OPTION_COLUMNS) == field.grouped
    curl = snippets.render(nest_wire({field.wire: _example(field)}), "c-1", "curl")
    assert f'"{field.key}"' in curl


def _example(field: OptionField) -> object:
    if field.example is not None:
        return field.example
    if field.choices:
        return field.choices[0]
    return {"boolean": True, "string": "x"}[field.dtype]


def test_the_form_the_labels_and_the_analysis_columns_show_options_in_the_tables_shown_order():
    form = GatherForm()
    assert list(form.widgets) == [field.python for field in SHOWN_FIELDS]
    assert form.fields == [getattr(form, field.python) for field in SHOWN_FIELDS]
    assert tuple(f.wire for f in SHOWN_FIELDS if f.wire != "tag") == analysis.OPTION_COLUMNS
    label = analysis.describe_options({"terminatingDigits": "#", "interDigitTimeout": 3, "maxDigits": 2})
    assert label == "maxDigits=2 interDigitTimeout=3 terminatingDigits=#"


def test_nest_wire_undoes_flat_wire():
    body = {"maxDigits": "5", "prompt": {"sentence": "Hi", "loopEnabled": True}, "tag": "t"}
    flat = {"maxDigits": "5", "prompt.sentence": "Hi", "prompt.loopEnabled": True, "tag": "t"}
    assert flat_wire(body) == flat
    assert nest_wire(flat_wire(body)) == body


def test_an_option_with_an_unknown_widget_kind_is_refused_when_the_table_is_made():
    with pytest.raises(ValueError, match="widget must be one of"):
        OptionField("x", "x", str, "string", "slider", row=0)
