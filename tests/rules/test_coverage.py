"""ATT&CK coverage: techniques under their ATT&CK tactics, rule and alert counts, unknown
technique tags listed, and the Navigator layer checked against the layer format 4.5."""

from __future__ import annotations

import re
from typing import Any

from socmon.rules.coverage import RuleRef, coverage, navigator_layer, tactics_of, techniques_of


def _ref(rid: str, *tags: str) -> RuleRef:
    return RuleRef(rid, f"title {rid}", "high", tags, "store")


# Independent source: attack.mitre.org's technique pages (Enterprise, v18) for these ids.
ATTACK_TABLE = {
    "T1110": ("Brute Force", {"credential-access"}),
    "T1059.001": ("PowerShell", {"execution"}),
    "T1078": (
        "Valid Accounts",
        {"defense-evasion", "persistence", "privilege-escalation", "initial-access"},
    ),
    "T1046": ("Network Service Discovery", {"discovery"}),
}


def test_tags_parse() -> None:
    tags = ["attack.t1110", "attack.T1059.001", "attack.credential_access", "attack.g0016", "cve"]
    assert techniques_of(tags) == ["T1110", "T1059.001"]
    assert tactics_of(tags) == ["credential-access"]


def test_coverage_places_techniques_under_their_attack_tactics() -> None:
    rules = [
        _ref("r1", "attack.credential_access", "attack.t1110"),
        _ref("r2", "attack.t1110"),
        _ref("r3", "attack.execution", "attack.t1059.001"),
        _ref("r4", "attack.t1078"),
        _ref("r5", "attack.t1046"),
        _ref("r6", "attack.lateral_movement"),  # tactic only
        _ref("r7", "attack.t9999"),  # not an ATT&CK technique
        _ref("r8", "cve.2021-44228"),  # no ATT&CK tag
    ]
    counts = {"r1": 3, "r2": 2, "r4": 5, "r6": 1, "r7": 9}
    cov = coverage(rules, counts)
    assert cov.rules == 8 and cov.rules_with_attack == 7
    assert cov.unknown_techniques == {"T9999": ["r7"]}
    techs = cov.techniques()
    assert set(techs) == set(ATTACK_TABLE)
    for tid, (name, tactics) in ATTACK_TABLE.items():
        assert techs[tid]["name"] == name
        assert set(techs[tid]["tactics"]) == tactics, tid
    assert [r["rule_id"] for r in techs["T1110"]["rules"]] == ["r1", "r2"]
    assert techs["T1110"]["detections"] == 5 and techs["T1078"]["detections"] == 5
    by_tactic = {t["shortname"]: t for t in cov.tactics}
    # the 14 tactics of the Enterprise matrix, each listed (covered or not)
    assert len(cov.tactics) == 14 and by_tactic["reconnaissance"]["rules"] == 0
    assert by_tactic["credential-access"]["rules"] == 2
    assert by_tactic["credential-access"]["detections"] == 5
    assert by_tactic["persistence"]["rules"] == 1 and by_tactic["persistence"]["detections"] == 5
    lm = by_tactic["lateral-movement"]
    assert lm["techniques"] == [] and [r["rule_id"] for r in lm["rules_without_technique"]] == [
        "r6"
    ]
    assert lm["detections"] == 1


# ---------------------------------------------------------------- Navigator layer format 4.5
# Transcribed from the ATT&CK Navigator's layer format specification, version 4.5
# (attack-navigator, layers/spec/v4.5/layerformat.md): property -> (type, required).
LAYER_PROPS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "versions": (dict, False),
    "name": (str, True),
    "description": (str, False),
    "domain": (str, True),
    "customDataURL": (str, False),
    "filters": (dict, False),
    "sorting": (int, False),
    "layout": (dict, False),
    "hideDisabled": (bool, False),
    "techniques": (list, False),
    "gradient": (dict, False),
    "legendItems": (list, False),
    "showTacticRowBackground": (bool, False),
    "tacticRowBackground": (str, False),
    "selectTechniquesAcrossTactics": (bool, False),
    "selectSubtechniquesWithParent": (bool, False),
    "selectVisibleTechniques": (bool, False),
    "metadata": (list, False),
    "links": (list, False),
}
TECHNIQUE_PROPS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "techniqueID": (str, True),
    "tactic": (str, False),
    "comment": (str, False),
    "enabled": (bool, False),
    "score": ((int, float), False),
    "color": (str, False),
    "metadata": (list, False),
    "links": (list, False),
    "showSubtechniques": (bool, False),
}
DOMAINS = {"enterprise-attack", "mobile-attack", "ics-attack"}
LAYOUT_VALUES = {"side", "flat", "mini"}


def _check_object(obj: dict[str, Any], props: dict[str, Any], where: str) -> None:
    for key, value in obj.items():
        assert key in props, f"{where}: {key} is not a property of the format"
        typ, _ = props[key]
        assert isinstance(value, typ) and not (typ is int and isinstance(value, bool)), (
            f"{where}.{key}"
        )
    for key, (_, required) in props.items():
        assert not required or key in obj, f"{where}: {key} is required"


def validate_layer(layer: dict[str, Any]) -> None:
    _check_object(layer, LAYER_PROPS, "layer")
    assert layer["domain"] in DOMAINS
    v = layer["versions"]
    assert v["layer"] == "4.5" and "navigator" in v
    assert tuple(int(x) for x in v["navigator"].split(".")) >= (4, 9, 0)
    assert layer.get("sorting", 0) in (0, 1, 2, 3)
    assert layer.get("layout", {}).get("layout", "side") in LAYOUT_VALUES
    g = layer["gradient"]
    assert len(g["colors"]) >= 2 and g["maxValue"] > g["minValue"]
    assert all(re.fullmatch(r"#[0-9a-fA-F]{6}", c) for c in g["colors"])
    for i, t in enumerate(layer["techniques"]):
        _check_object(t, TECHNIQUE_PROPS, f"techniques[{i}]")
        assert re.fullmatch(r"T\d{4}(\.\d{3})?", t["techniqueID"])
        for m in t.get("metadata", []):
            assert set(m) == {"name", "value"} and all(isinstance(x, str) for x in m.values())


def test_navigator_layer_follows_the_format() -> None:
    rules = [_ref("r1", "attack.t1110"), _ref("r2", "attack.t1110"), _ref("r3", "attack.t1078")]
    layer = navigator_layer(coverage(rules, {"r1": 4}))
    validate_layer(layer)
    by_id = {t["techniqueID"]: t for t in layer["techniques"]}
    assert set(by_id) == {"T1110", "T1078"}
    assert by_id["T1110"]["score"] == 2 and by_id["T1078"]["score"] == 1
    assert "4 detections" in by_id["T1110"]["comment"]
    assert layer["versions"]["attack"] == "18"


def test_validator_rejects_what_the_format_forbids() -> None:
    """The check above can fail: a layer missing a required property or with a bad type."""
    good = navigator_layer(coverage([_ref("r1", "attack.t1110")], {}))
    for broken in (
        {k: v for k, v in good.items() if k != "domain"},
        {**good, "techniques": [{"score": 1}]},
        {**good, "sorting": "3"},
        {**good, "gradient": {"colors": ["#ffffff", "#000000"], "minValue": 1, "maxValue": 1}},
    ):
        try:
            validate_layer(broken)
        except AssertionError:
            continue
        raise AssertionError(f"accepted {broken}")
