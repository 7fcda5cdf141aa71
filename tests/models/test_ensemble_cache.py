"""A trained member on disk is reused after an upgrade that only added config fields (edgewise.models.ensemble.cache)."""
from __future__ import annotations

import json

from edgewise.models.ensemble.cache import config_matches


def test_a_field_added_since_reads_as_its_default():
    defaults = {"epochs": 60, "kernel": 9, "decimate": 1}
    old = {"epochs": 20, "kernel": 9}  # written before "decimate" existed
    assert config_matches(old, {"epochs": 20, "kernel": 9, "decimate": 1}, defaults)
    assert not config_matches(old, {"epochs": 20, "kernel": 9, "decimate": 2}, defaults)  # asks for more than it had
    assert not config_matches(old, {"epochs": 60, "kernel": 9, "decimate": 1}, defaults)
    assert not config_matches({**old, "gone": 1}, {"epochs": 20, "kernel": 9, "decimate": 1}, defaults)
    assert not config_matches(None, {"epochs": 20}, defaults)


def test_ecg_members_of_an_older_config_are_loaded_not_retrained(tmp_path):
    from edgewise.models.ecg.train import TrainConfig, config_dict
    from edgewise.models.ensemble.members import _cached, member_config

    cfg = member_config(TrainConfig(epochs=20, seed=5), 1)
    stored = {k: v for k, v in config_dict(cfg).items() if k != "decimate"}  # as a member of 2026-12-06 stored it
    (tmp_path / "member-1.pt").write_bytes(b"weights")
    (tmp_path / "member-1.json").write_text(json.dumps({"training": {"config": stored}}))
    assert _cached(tmp_path / "member-1.pt", cfg)
    assert not _cached(tmp_path / "member-1.pt", member_config(TrainConfig(epochs=20, seed=5, decimate=2), 1))


def test_member_split_facts_name_no_machine_path(ludb_dir):
    """Members' training facts travel into shipped files (the Hydra's): they name the dataset, not this machine's path."""
    from edgewise.data.ludb import list_records
    from edgewise.models.ensemble.ecg import ecg_train_examples

    n = len(list_records(ludb_dir))
    examples, facts = ecg_train_examples(ludb_dir)
    assert facts["data"] == f"LUDB 1.0.1 ({n} records in {ludb_dir.name}/)" and str(ludb_dir.parent) not in facts["data"]
    assert examples and len(facts["train_records"]) + len(facts["val_records"]) + len(facts["test_records"]) == n
    # a member stored before the fix named the path: the facts re-derived from it (as the distillation does) do not
    old = {**facts, "data": f"LUDB 1.0.1 in {ludb_dir.resolve()}"}
    _, again = ecg_train_examples(ludb_dir, split=old)
    assert again["data"] == facts["data"] and again["train_records"] == facts["train_records"]


def test_students_of_an_older_training_config_are_loaded_not_distilled_again(tmp_path):
    """A distilled student whose phases were stored before a training-config field existed (p_sweep, 2026-12-07)
    is still the cached student when the run asks for that field's default, and stale when it asks for more."""
    from dataclasses import replace

    from edgewise.compress.distill import cached_student
    from edgewise.compress.distill_mosquito import MOSQUITO_DISTILL, _facts
    from edgewise.models.mosquito.train import TrainConfig

    facts = {**_facts(MOSQUITO_DISTILL), "teachers": "members", "members": 5}
    stored = json.loads(json.dumps(facts))
    for phase in ("phase1", "phase2"):
        del stored[phase]["p_sweep"]
    (tmp_path / "hydra.pt").write_bytes(b"weights")
    (tmp_path / "hydra.json").write_text(json.dumps({"training": {"distill": stored}}))
    defaults = _facts(TrainConfig())
    assert cached_student(tmp_path / "hydra.pt", facts, phase_defaults=defaults)
    assert not cached_student(tmp_path / "hydra.pt", facts)  # compared strictly, as before
    more = {**_facts(replace(MOSQUITO_DISTILL, phase2=replace(MOSQUITO_DISTILL.phase2, p_sweep=0.1))),
            "teachers": "members", "members": 5}
    assert not cached_student(tmp_path / "hydra.pt", more, phase_defaults=defaults)
    assert not cached_student(tmp_path / "hydra.pt", {**facts, "temperature": 9.0}, phase_defaults=defaults)
