"""Timeouts and silent no-ops read from ingress-nginx manifests (tests/data/ingress/).

What the controller does with each value follows ingress-nginx: annotations are
parsed as whole seconds (``strconv.Atoi``) and any parse failure falls back to
the ConfigMap value, itself defaulting to 60/60/5 s.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wscap.ingress import IngressIssue, load_manifests

DATA = Path(__file__).parent / "data" / "ingress"
ANN = "nginx.ingress.kubernetes.io/"


def load(*names: str):
    timeouts, issues = load_manifests([str(DATA / n) for n in names])
    return {t.name: t for t in timeouts}, issues


def codes(issues: list[IngressIssue]) -> list[str]:
    return sorted(i.code for i in issues)


def test_unitless_annotations_are_taken():
    t, issues = load("chat-3600.yaml")
    assert set(t) == {
        "ingress-read:prod/chat",
        "ingress-send:prod/chat",
        "ingress-connect:prod/chat",
    }
    assert t["ingress-read:prod/chat"].seconds == 3600
    assert t["ingress-send:prod/chat"].seconds == 3600
    assert t["ingress-connect:prod/chat"].seconds == 5
    assert issues == []
    read = t["ingress-read:prod/chat"]
    assert (read.kind, read.expiry, read.origin) == ("idle", "fin-both", "ingress")
    assert "Ingress prod/chat" in read.setting and f"{ANN}proxy-read-timeout" in read.setting
    assert "every 3600 s" in read.advice
    assert read.setting.startswith("proxy-read-timeout (")
    assert read.source.startswith("https://kubernetes.github.io/ingress-nginx/")
    assert t["ingress-connect:prod/chat"].kind == "connect"


def test_value_with_unit_is_ignored_and_the_default_applies():
    t, issues = load("chat-unit.yaml")
    assert t["ingress-read:prod/chat-unit"].seconds == 60
    assert t["ingress-send:prod/chat-unit"].seconds == 60
    assert t["ingress-connect:prod/chat-unit"].seconds == 10
    assert codes(issues) == ["ingress-timeout-has-unit", "ingress-timeout-has-unit"]
    read = next(i for i in issues if i.evidence["key"] == f"{ANN}proxy-read-timeout")
    assert read.severity == "warning"
    assert read.evidence["value"] == "3600s"
    assert read.evidence["effective_seconds"] == 60
    assert "Ingress prod/chat-unit" in read.summary
    assert '"3600s"' in read.summary and "60 s" in read.summary
    assert f'{ANN}proxy-read-timeout: "3600"' in read.advice
    send = next(i for i in issues if i.evidence["key"] == f"{ANN}proxy-send-timeout")
    assert f'{ANN}proxy-send-timeout: "3600"' in send.advice  # "1h" -> 3600
    assert "ignored" in t["ingress-read:prod/chat-unit"].setting


@pytest.mark.parametrize(
    "files",
    [
        ("chat-unit.yaml", "controller-configmap.yaml"),
        ("controller-configmap.yaml", "chat-unit.yaml"),
    ],
)
def test_ignored_annotation_falls_back_to_the_configmap(files):
    t, issues = load(*files)
    assert t["ingress-read:prod/chat-unit"].seconds == 120
    # The ConfigMap's own send value "120s" is ignored too: controller default.
    assert t["ingress-send:prod/chat-unit"].seconds == 60
    assert t["ingress-connect:prod/chat-unit"].seconds == 10
    assert codes(issues) == ["ingress-timeout-has-unit"] * 3
    read = next(i for i in issues if i.evidence["key"] == f"{ANN}proxy-read-timeout")
    assert read.evidence["effective_seconds"] == 120
    assert "ConfigMap ingress-nginx/ingress-nginx-controller" in read.summary
    cm = next(i for i in issues if i.evidence["key"] == "proxy-send-timeout")
    assert cm.evidence["resource"] == "ConfigMap ingress-nginx/ingress-nginx-controller"
    assert "ConfigMap ingress-nginx/ingress-nginx-controller" in cm.summary


def test_configmap_alone_gives_controller_wide_timeouts():
    t, issues = load("controller-configmap.yaml")
    ref = "ingress-nginx/ingress-nginx-controller"
    assert {k: v.seconds for k, v in t.items()} == {
        f"controller-read:{ref}": 120,
        f"controller-send:{ref}": 60,
        f"controller-connect:{ref}": 10,
    }
    assert codes(issues) == ["ingress-timeout-has-unit"]
    assert all(x.origin == "ingress" for x in t.values())


def test_websocket_services_snippet_and_invalid_value():
    t, issues = load("websocket-services.yaml")
    assert codes(issues) == [
        "ingress-configuration-snippet-disabled",
        "ingress-timeout-invalid",
        "ingress-websocket-services-ignored",
    ]
    by_code = {i.code: i for i in issues}
    ws = by_code["ingress-websocket-services-ignored"]
    assert ws.severity == "info"
    assert "Ingress streaming/ws-legacy" in ws.summary
    assert f"{ANN}websocket-services" in ws.summary
    snippet = by_code["ingress-configuration-snippet-disabled"]
    assert snippet.severity == "warning"
    assert "allow-snippet-annotations" in snippet.summary
    assert snippet.evidence["snippet_timeouts_s"] == {"read": 3600.0, "send": 3600.0}
    invalid = by_code["ingress-timeout-invalid"]
    assert invalid.evidence["value"] == "fast"
    # The snippet's proxy_read_timeout 3600s does not count: defaults apply.
    assert t["ingress-read:streaming/ws-legacy"].seconds == 60
    assert t["ingress-send:streaming/ws-legacy"].seconds == 60
    assert t["ingress-connect:streaming/ws-legacy"].seconds == 5


def test_allowed_snippet_setting_timeouts_is_a_duplicate_directive():
    t, issues = load("websocket-services.yaml", "snippets-allowed-configmap.yaml")
    assert "ingress-configuration-snippet-disabled" not in codes(issues)
    assert "ingress-snippet-timeout-duplicate" in codes(issues)
    assert t["ingress-read:streaming/ws-legacy"].seconds == 60


def test_snippets_allowed_without_risk_level_are_still_refused(tmp_path):
    cm = tmp_path / "cm.yaml"
    cm.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ingress-nginx-controller, "
        'namespace: ingress-nginx}\ndata: {allow-snippet-annotations: "true"}\n'
    )
    _, issues = load_manifests([str(DATA / "websocket-services.yaml"), str(cm)])
    snippet = next(i for i in issues if i.code == "ingress-configuration-snippet-disabled")
    assert "annotations-risk-level" in snippet.summary
    assert snippet.evidence["allow_snippet_annotations"] is True


def test_list_with_old_and_new_api_versions():
    t, issues = load("list.yaml")
    assert issues == []
    assert {k: v.seconds for k, v in t.items()} == {
        "ingress-read:default/legacy-socket": 600,
        "ingress-send:default/legacy-socket": 60,
        "ingress-connect:default/legacy-socket": 5,
        "ingress-read:ops/dashboard": 60,
        "ingress-send:ops/dashboard": 60,
        "ingress-connect:ops/dashboard": 5,
    }
    assert "controller default" in t["ingress-read:ops/dashboard"].setting


def test_multi_document_configmap_after_the_ingress():
    t, issues = load("multi-doc.yaml")
    assert issues == []
    assert t["ingress-read:web/feed"].seconds == 90
    assert "ConfigMap ingress-nginx/nginx-configuration" in t["ingress-read:web/feed"].setting
    assert t["ingress-send:web/feed"].seconds == 300
    assert len(t) == 3


def test_unquoted_number_is_flagged():
    t, issues = load("unquoted.yaml")
    assert codes(issues) == ["ingress-annotation-not-string"]
    assert t["ingress-read:default/numbers"].seconds == 3600


def test_issues_are_well_formed():
    _, issues = load(
        "chat-unit.yaml",
        "websocket-services.yaml",
        "unquoted.yaml",
        "controller-configmap.yaml",
    )
    assert issues
    for i in issues:
        assert re.fullmatch(r"ingress(-[a-z]+)+", i.code)
        assert i.severity in ("warning", "info")
        assert i.summary.endswith(".") and "\n" not in i.summary
        assert i.advice.strip()
        assert i.evidence["resource"] in i.summary
        json.dumps(i.evidence)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("", "no Kubernetes objects"),
        ("# only a comment\n---\n", "no Kubernetes objects"),
        ("kind: Ingress\n", "not a Kubernetes object"),
        ("- a\n- b\n", "not a Kubernetes object"),
        ("apiVersion: v1\nkind: List\nitems: {a: 1}\n", "items that are not a list"),
        ("apiVersion: v1\nkind: List\nitems: [3]\n", "not a Kubernetes object"),
        ("!!python/object/apply:os.system ['true']\n", "invalid YAML"),
        ("a: [1\n", "invalid YAML"),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path, content, problem):
    path = tmp_path / "m.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError) as e:
        load_manifests([str(path)])
    msg = str(e.value)
    assert msg.startswith(f"{path}: ")
    assert problem in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("invalid.yaml", "invalid YAML"),
        ("not-kubernetes.yaml", "document 1 is not a Kubernetes object"),
    ],
)
def test_bad_sample_files(name, problem):
    with pytest.raises(ValueError, match=re.escape(problem)):
        load(name)


def test_invalid_yaml_names_the_line():
    with pytest.raises(ValueError, match=r"invalid\.yaml: invalid YAML: .*\(line 6, column 1\)"):
        load("invalid.yaml")


def test_directory_and_binary_file(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        load_manifests([str(tmp_path)])
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="not a text"):
        load_manifests([str(binary)])


def test_no_paths_gives_nothing():
    assert load_manifests([]) == ([], [])
