"""The playbook: the example loads as written; a bad one stops start-up naming file, field and reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from app import create_app
from graph.playbook import PlaybookError, load_playbook, to_e164
from tests.conftest import ROOT, settings_env

EXAMPLE = ROOT / "playbook.yaml"


def write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "playbook.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text().replace("yes:", "'yes':").replace("no:", "'no':"))


def test_the_example_means_what_it_says():
    pb = load_playbook(EXAMPLE)
    assert pb.business.timezone == "America/Denver"
    assert [q.id for q in pb.questions] == ["service_type", "urgency", "postal_code", "is_owner"]
    owner = pb.question("is_owner")
    assert (owner.yes.fit, owner.no.fit) == (15, 0)  # `yes:`/`no:` are keys, not YAML 1.1 booleans
    assert "right away" in pb.question("urgency").choices[0].synonyms  # a multi-word synonym, read as one phrase
    assert pb.question("postal_code").service_area == ["800", "802", "803"]
    assert (pb.scoring.qualify_at, pb.scoring.hot_at, pb.scoring.grades.A) == (60, 80, 80)
    assert pb.reps[0].phone == "+13035550143"


@pytest.mark.parametrize(("mutate", "field", "reason"), [
    (lambda d: d["scoring"].pop("qualify_at"), "scoring.qualify_at", "Field required"),
    (lambda d: d["questions"][0].update(type="multiple"), "questions.0.type", "Input should be"),
    (lambda d: d["business"].update(timezone="Mars/Olympus"), "business.timezone", "unknown IANA time zone"),
    (lambda d: d["reps"][0].update(phone="12"), "reps.0.phone", "not a"),
    (lambda d: d["scoring"]["grades"].update(B=90), "scoring.grades", "grade bands must descend"),
    (lambda d: d.update(greeting="Hi {nmae}!"), "(top level)", "unknown placeholder(s) ['nmae']"),
    (lambda d: d["questions"][1].update(choices=[{"value": "now"}]), "questions.1", "at least 2 choices"),
    (lambda d: d.update(colour="blue"), "colour", "Extra inputs are not permitted"),
])
def test_bad_playbook_error_names_file_field_and_reason(tmp_path, mutate, field, reason):
    data = example()
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(PlaybookError) as exc:
        load_playbook(path)
    line = next(line for line in str(exc.value).splitlines() if line.startswith(str(path)))
    assert f"{path}: {field}" in line and reason in line, str(exc.value)


def test_unreadable_and_non_yaml_playbooks(tmp_path):
    with pytest.raises(PlaybookError, match="cannot read playbook"):
        load_playbook(tmp_path / "missing.yaml")
    with pytest.raises(PlaybookError, match="not valid YAML"):
        load_playbook(write(tmp_path, "business: [unclosed"))


def test_bad_playbook_stops_web_start_up(settings, tmp_path):
    path = write(tmp_path, {"business": {"name": "X"}})
    with pytest.raises(PlaybookError, match=str(path)):
        create_app(settings.model_copy(update={"playbook": path}))


def test_bad_playbook_stops_worker_start_up_with_a_clear_message(settings, tmp_path):
    data = example()
    data["questions"][2]["outside_area"] = "ignore"
    path = write(tmp_path, data)
    env = settings_env(settings) | {"PLAYBOOK": str(path)}
    done = subprocess.run([sys.executable, "-m", "jobs.worker"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert f"{path}: questions.2.outside_area: Input should be 'disqualify' or 'continue'" in done.stderr


@pytest.mark.parametrize("raw", ["+13035550142", "(303) 555-0142", "303.555.0142", "+1 303-555-0142", " 3035550142 "])
def test_to_e164_reads_a_number_however_it_is_punctuated(raw):
    assert to_e164(raw) == "+13035550142"


@pytest.mark.parametrize("raw", ["+1619555ABCD", "1-800-FLOWERS", "whatsapp:+13035550142", "tel:+13035550142",
                                 "+1303555０１４２", "+1303555٠١٤٢", "+1303555014²", "+13035550142 ext. 7", "12", ""])
def test_to_e164_refuses_letters_and_anything_but_digits_and_punctuation(raw):
    with pytest.raises(ValueError, match="not a"):
        to_e164(raw)
