"""Timeouts from Kubernetes manifests for ingress-nginx, and the settings that do nothing.

``load_manifests`` reads Ingress objects (``networking.k8s.io/v1``,
``networking.k8s.io/v1beta1``, ``extensions/v1beta1``) and the ingress-nginx
controller ConfigMap from YAML files (several documents per file, ``kind: List``
and ``*List`` wrappers) and returns, per Ingress, the effective
``proxy-read-timeout``, ``proxy-send-timeout`` and ``proxy-connect-timeout``: the
Ingress annotation if the controller accepts it, else the ConfigMap key, else
the controller default (60, 60, 5 seconds).

ingress-nginx takes these values as unitless whole seconds. A value it cannot
parse as such (``"3600s"``, ``"1h"``, ``"long"``) is ignored and the fallback
applies; the returned Timeout carries the value that really applies and an
:class:`IngressIssue` says so. Also flagged: the ``websocket-services``
annotation, which ingress-nginx does not have, and ``configuration-snippet``,
which current controllers refuse unless the ConfigMap allows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .profiles import Timeout

__all__ = ["IngressIssue", "load_manifests", "DEFAULTS", "PREFIX"]

PREFIX = "nginx.ingress.kubernetes.io/"

#: Controller defaults (ingress-nginx ConfigMap reference), in seconds.
DEFAULTS = {"read": 60, "send": 60, "connect": 5}

_SRC_ANNOTATIONS = (
    "https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/"
    "#custom-timeouts"
)
_SRC_CONFIGMAP = (
    "https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/configmap/"
)
# allow-snippet-annotations defaults to false since controller v1.9.0
# (kubernetes/ingress-nginx#10393); since v1.12.0 annotations-risk-level
# defaults to High and the snippet annotations are Critical, so they are also
# refused unless annotations-risk-level is "Critical" (changelog controller-1.12.0).
_SRC_SNIPPETS = (
    "https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/configmap/"
    "#allow-snippet-annotations"
)
_SRC_RISK = (
    "https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations-risk/"
)

_INGRESS_API_VERSIONS = {
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "extensions/v1beta1",
}
_CONTROLLER_KEYS = (
    "proxy-read-timeout",
    "proxy-send-timeout",
    "proxy-connect-timeout",
    "allow-snippet-annotations",
    "annotations-risk-level",
)
_WITH_UNIT = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*[A-Za-z]+\s*$")
_NGINX_DIRECTIVE = re.compile(r"\b(proxy_(read|send|connect)_timeout)\s+([^;\s]+)\s*;")
_NGINX_TIME = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")
_NGINX_UNITS = {
    "ms": 0.001,
    "s": 1,
    "": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "M": 2592000,
    "y": 31536000,
}


@dataclass(frozen=True, slots=True)
class IngressIssue:
    """A manifest setting that does not do what it looks like it does."""

    code: str
    severity: str
    summary: str
    evidence: dict = field(hash=False)
    advice: str


@dataclass
class _Controller:
    """What the ingress-nginx controller ConfigMap(s) said."""

    resource: str = ""
    values: dict[str, int] = field(default_factory=dict)
    allow_snippets: bool | None = None
    risk_level: str | None = None


def load_manifests(paths: list[str]) -> tuple[list[Timeout], list[IngressIssue]]:
    """Read the YAML files *paths* and return the effective timeouts and the issues found.

    One read, send and connect Timeout per Ingress (named ``ingress-read:NS/NAME``,
    ``ingress-send:NS/NAME``, ``ingress-connect:NS/NAME``, origin ``ingress``;
    read and send have kind ``idle``, connect has kind ``connect``: it bounds only
    the proxy's connect to the backend and must not be matched against idle
    gaps). When the files hold a controller ConfigMap but no Ingress, the
    controller-wide values are returned instead (``controller-read:NS/NAME`` ...).
    Objects of other kinds are skipped. Later ConfigMaps override earlier ones.

    Raises:
        ValueError: ``"<path>: <problem>"`` (one line) when a file is missing or
            unreadable, is not valid YAML, holds a document that is not a
            Kubernetes object (a mapping with ``apiVersion`` and ``kind``), or
            holds no Kubernetes object at all.
    """
    ingresses: list[tuple[str, dict[str, Any]]] = []
    controller = _Controller()
    issues: list[IngressIssue] = []
    for path in paths:
        for obj in _read_objects(path):
            kind = obj.get("kind")
            if kind == "Ingress" and obj.get("apiVersion") in _INGRESS_API_VERSIONS:
                ingresses.append((path, obj))
            elif kind == "ConfigMap" and _is_controller_configmap(obj):
                issues += _read_configmap(path, obj, controller)

    timeouts: list[Timeout] = []
    for path, obj in ingresses:
        t, found = _read_ingress(path, obj, controller)
        timeouts += t
        issues += found
    if not ingresses and controller.resource:
        timeouts += _controller_timeouts(controller)
    return timeouts, issues


# --- reading files ----------------------------------------------------------------


def _read_objects(path: str) -> list[dict[str, Any]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a YAML file") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text (UTF-8) file") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: invalid YAML: {_yaml_problem(e)}") from None
    objects: list[dict[str, Any]] = []
    for index, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        if not _is_object(doc):
            raise ValueError(
                f"{path}: document {index} is not a Kubernetes object "
                "(a mapping with apiVersion and kind)"
            )
        objects += _flatten(path, doc)
    if not objects:
        raise ValueError(f"{path}: no Kubernetes objects in the file")
    return objects


def _yaml_problem(e: yaml.YAMLError) -> str:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return problem


def _is_object(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("apiVersion"), str)
        and isinstance(doc.get("kind"), str)
    )


def _flatten(path: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    kind = doc["kind"]
    if kind != "List" and not kind.endswith("List"):
        return [doc]
    items = doc.get("items") or []
    if not isinstance(items, list):
        raise ValueError(f"{path}: {kind} has items that are not a list")
    out: list[dict[str, Any]] = []
    for item in items:
        if not _is_object(item):
            raise ValueError(
                f"{path}: an item of {kind} is not a Kubernetes object "
                "(a mapping with apiVersion and kind)"
            )
        out += _flatten(path, item)
    return out


def _meta(obj: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    meta = obj.get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    name = str(meta.get("name") or "<unnamed>")
    namespace = str(meta.get("namespace") or "default")
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        annotations = {}
    return namespace, name, annotations


# --- values -----------------------------------------------------------------------


def _parse_seconds(value: Any) -> tuple[int | None, str]:
    """How ingress-nginx reads a timeout value: ``(seconds, "")`` or ``(None, why)``.

    The controller parses the string as a whole number (Go ``strconv.Atoi``); a
    value with a unit, a fraction or words fails and the fallback applies.
    """
    if isinstance(value, bool):
        return None, "invalid"
    if isinstance(value, int):
        return (value, "") if value > 0 else (None, "invalid")
    text = str(value).strip()
    if re.fullmatch(r"\+?\d+", text):
        n = int(text)
        return (n, "") if n > 0 else (None, "invalid")
    if _WITH_UNIT.match(text):
        return None, "unit"
    return None, "invalid"


def _nginx_time(text: str) -> float | None:
    """An nginx time value (``3600``, ``3600s``, ``1h``, ``1h 30m``, ``500ms``) in seconds."""
    text = text.strip()
    if not text or not re.fullmatch(r"(\d+(ms|s|m|h|d|w|M|y)?\s*)+", text):
        return None
    return float(sum(int(n) * _NGINX_UNITS[u] for n, u in _NGINX_TIME.findall(text)))


def _is_controller_configmap(obj: dict[str, Any]) -> bool:
    """A ConfigMap that sets one of the ingress-nginx keys this module reads."""
    data = obj.get("data") or {}
    return isinstance(data, dict) and any(k in data for k in _CONTROLLER_KEYS)


def _read_configmap(path: str, obj: dict[str, Any], ctl: _Controller) -> list[IngressIssue]:
    ns, name, _ = _meta(obj)
    resource = f"ConfigMap {ns}/{name}"
    ctl.resource = resource
    data = obj.get("data") or {}
    if not isinstance(data, dict):
        return []
    issues: list[IngressIssue] = []
    for which in ("read", "send", "connect"):
        key = f"proxy-{which}-timeout"
        if key not in data:
            continue
        seconds, why = _parse_seconds(data[key])
        if seconds is not None:
            ctl.values[which] = seconds
            continue
        ctl.values.pop(which, None)
        issues.append(
            _bad_value_issue(
                path,
                resource,
                key,
                data[key],
                why,
                DEFAULTS[which],
                "the controller default",
                f'set {key}: "{_suggest(data[key], DEFAULTS[which])}" in {resource} '
                "(unitless seconds)",
            )
        )
    if "allow-snippet-annotations" in data:
        ctl.allow_snippets = str(data["allow-snippet-annotations"]).strip().lower() == "true"
    if "annotations-risk-level" in data:
        ctl.risk_level = str(data["annotations-risk-level"]).strip()
    return issues


def _suggest(value: Any, fallback: int) -> str:
    """The unitless spelling of *value* if it has an nginx-style unit, else *fallback*."""
    t = _nginx_time(str(value))
    return str(int(t)) if t and t >= 1 else str(fallback)


def _bad_value_issue(
    path: str,
    resource: str,
    key: str,
    value: Any,
    why: str,
    effective: int,
    effective_from: str,
    fix: str,
) -> IngressIssue:
    shown = str(value)
    if why == "unit":
        code = "ingress-timeout-has-unit"
        reason = "ingress-nginx takes unitless seconds"
    else:
        code = "ingress-timeout-invalid"
        reason = "ingress-nginx takes a positive whole number of seconds"
    return IngressIssue(
        code=code,
        severity="warning",
        summary=(
            f'{resource}: {key} is "{shown}", but {reason}, so the controller ignores it '
            f"and {effective} s ({effective_from}) applies."
        ),
        evidence={
            "file": path,
            "resource": resource,
            "key": key,
            "value": shown,
            "effective_seconds": effective,
            "effective_from": effective_from,
        },
        advice=f"Write the value as whole seconds without a unit: {fix}.",
    )


# --- Ingress objects --------------------------------------------------------------


def _read_ingress(
    path: str, obj: dict[str, Any], ctl: _Controller
) -> tuple[list[Timeout], list[IngressIssue]]:
    ns, name, annotations = _meta(obj)
    resource = f"Ingress {ns}/{name}"
    issues: list[IngressIssue] = []

    snippet_key = PREFIX + "configuration-snippet"
    snippet = annotations.get(snippet_key)
    snippet_allowed = ctl.allow_snippets is True and (ctl.risk_level or "").lower() == "critical"
    snippet_timeouts: dict[str, float] = {}
    if snippet is not None:
        for _directive, which, value in _NGINX_DIRECTIVE.findall(str(snippet)):
            t = _nginx_time(value)
            if t is not None and t > 0:
                snippet_timeouts[which] = t
        if not snippet_allowed:
            issues.append(_snippet_issue(path, resource, ctl, snippet_timeouts))
        elif snippet_timeouts:
            issues.append(_snippet_duplicate_issue(path, resource, snippet_timeouts))

    ws_key = PREFIX + "websocket-services"
    if ws_key in annotations:
        issues.append(
            IngressIssue(
                code="ingress-websocket-services-ignored",
                severity="info",
                summary=(
                    f"{resource}: {ws_key} does not exist in ingress-nginx (it is NGINX Inc.'s "
                    "nginx.org/websocket-services), so it does nothing; ingress-nginx proxies "
                    "WebSocket without it."
                ),
                evidence={
                    "file": path,
                    "resource": resource,
                    "annotation": ws_key,
                    "value": str(annotations[ws_key]),
                },
                advice=(
                    f"Remove {ws_key}; for long-lived WebSockets raise "
                    f'{PREFIX}proxy-read-timeout and proxy-send-timeout (e.g. "3600") instead.'
                ),
            )
        )

    timeouts: list[Timeout] = []
    for which in ("read", "send", "connect"):
        key = f"proxy-{which}-timeout"
        ann = PREFIX + key
        fallback, fallback_from = _fallback(which, ctl)
        if ann in annotations:
            raw = annotations[ann]
            if not isinstance(raw, str):
                issues.append(_not_string_issue(path, resource, ann, raw))
            seconds, why = _parse_seconds(raw)
            if seconds is None:
                issues.append(
                    _bad_value_issue(
                        path,
                        resource,
                        ann,
                        raw,
                        why,
                        fallback,
                        fallback_from,
                        f'{ann}: "{_suggest(raw, fallback)}"',
                    )
                )
                value: float = fallback
                setting = (
                    f'{key} ({ann}: "{raw}" on {resource} is ignored, not whole seconds; '
                    f"{fallback} s from {fallback_from})"
                )
            else:
                value = seconds
                setting = f'{key} ({ann}: "{raw}" on {resource})'
        else:
            value = fallback
            setting = f"{key} ({ann} not set on {resource}; {fallback} s from {fallback_from})"
        timeouts.append(_ingress_timeout(which, f"{ns}/{name}", value, setting, ann))
    return timeouts, issues


def _fallback(which: str, ctl: _Controller) -> tuple[int, str]:
    if which in ctl.values:
        return ctl.values[which], f"{ctl.resource} proxy-{which}-timeout"
    return DEFAULTS[which], "the controller default"


def _not_string_issue(path: str, resource: str, ann: str, raw: Any) -> IngressIssue:
    return IngressIssue(
        code="ingress-annotation-not-string",
        severity="info",
        summary=(
            f"{resource}: {ann} is the YAML {type(raw).__name__} {raw!r}, not a string; "
            "the Kubernetes API rejects annotations that are not strings, so this manifest "
            "does not apply as written."
        ),
        evidence={"file": path, "resource": resource, "annotation": ann, "value": repr(raw)},
        advice=f'Quote the value: {ann}: "{raw}".',
    )


def _snippet_issue(
    path: str, resource: str, ctl: _Controller, snippet_timeouts: dict[str, float]
) -> IngressIssue:
    key = PREFIX + "configuration-snippet"
    if ctl.allow_snippets is True:
        why = (
            f"{ctl.resource} allows snippet annotations, but since controller v1.12 "
            "annotations-risk-level defaults to High and configuration-snippet is Critical"
        )
        fix = f'set annotations-risk-level: "Critical" in {ctl.resource}'
    elif ctl.allow_snippets is False:
        why = f"{ctl.resource} sets allow-snippet-annotations to false"
        fix = (
            f'set allow-snippet-annotations: "true" and annotations-risk-level: "Critical" '
            f"in {ctl.resource}"
        )
    else:
        why = (
            "current ingress-nginx controllers refuse snippet annotations by default "
            "(allow-snippet-annotations false since v1.9; annotations-risk-level High since v1.12)"
        )
        fix = (
            'set allow-snippet-annotations: "true" and annotations-risk-level: "Critical" in '
            "the controller ConfigMap"
        )
    timeouts_text = ""
    if snippet_timeouts:
        timeouts_text = f" The timeouts it sets ({_listed(snippet_timeouts)}) do not apply."
    return IngressIssue(
        code="ingress-configuration-snippet-disabled",
        severity="warning",
        summary=(
            f"{resource}: {key} is set, but {why}, so the snippet is not applied (the admission "
            f"webhook rejects the Ingress, or the controller skips it).{timeouts_text}"
        ),
        evidence={
            "file": path,
            "resource": resource,
            "annotation": key,
            "allow_snippet_annotations": ctl.allow_snippets,
            "annotations_risk_level": ctl.risk_level,
            "snippet_timeouts_s": dict(sorted(snippet_timeouts.items())),
            "source": _SRC_SNIPPETS,
            "risk_levels": _SRC_RISK,
        },
        advice=(
            "Use the dedicated annotations instead (for timeouts: "
            f'{PREFIX}proxy-read-timeout / proxy-send-timeout, e.g. "3600"), or {fix} '
            "if you trust everyone who can create Ingresses."
        ),
    )


def _listed(snippet_timeouts: dict[str, float]) -> str:
    return ", ".join(f"proxy_{w}_timeout {s:g}s" for w, s in sorted(snippet_timeouts.items()))


def _snippet_duplicate_issue(
    path: str, resource: str, snippet_timeouts: dict[str, float]
) -> IngressIssue:
    # ingress-nginx writes proxy_{connect,send,read}_timeout into every location
    # itself, and the configuration-snippet lands in the same location: nginx
    # refuses the second one ("directive is duplicate"), so the config test fails.
    key = PREFIX + "configuration-snippet"
    return IngressIssue(
        code="ingress-snippet-timeout-duplicate",
        severity="warning",
        summary=(
            f"{resource}: {key} sets {_listed(snippet_timeouts)}, but ingress-nginx already "
            "writes these directives in the same location, so nginx rejects the configuration "
            '("directive is duplicate") and the timeouts do not apply.'
        ),
        evidence={
            "file": path,
            "resource": resource,
            "annotation": key,
            "snippet_timeouts_s": dict(sorted(snippet_timeouts.items())),
        },
        advice=(
            f"Remove the timeout directives from the snippet and set {PREFIX}proxy-read-timeout "
            'and proxy-send-timeout (unitless seconds, e.g. "3600") instead.'
        ),
    )


def _ingress_timeout(which: str, ref: str, seconds: float, setting: str, ann: str) -> Timeout:
    if which == "connect":
        return Timeout(
            name=f"ingress-connect:{ref}",
            seconds=float(seconds),
            kind="connect",
            product="ingress-nginx",
            setting=setting,
            resets_on="nothing: bounds only nginx's TCP connect to the backend pod",
            on_expiry="the handshake fails: the client gets 504 from nginx (no 101)",
            expiry="unknown",
            advice=(
                f"Raise {ann} (unitless seconds; nginx caps it at about 75 s) "
                "if backends connect slowly."
            ),
            source=_SRC_ANNOTATIONS,
            origin="ingress",
        )
    return Timeout(
        name=f"ingress-{which}:{ref}",
        seconds=float(seconds),
        kind="idle",
        product="ingress-nginx",
        setting=setting,
        resets_on="any byte in either direction once upgraded",
        on_expiry=f"proxy_{which}_timeout fires: nginx closes both connections at once "
        "(FIN to client and backend), no close frame; the client sees 1006",
        expiry="fin-both",
        advice=(
            f'Raise {ann} (unitless seconds, e.g. "3600") or send pings more often than '
            f"every {seconds:g} s."
        ),
        source=_SRC_ANNOTATIONS,
        origin="ingress",
    )


def _controller_timeouts(ctl: _Controller) -> list[Timeout]:
    ref = ctl.resource.removeprefix("ConfigMap ")
    out = []
    for which in ("read", "send", "connect"):
        seconds, source = _fallback(which, ctl)
        key = f"proxy-{which}-timeout"
        t = _ingress_timeout(which, ref, seconds, f"{key} ({seconds} s from {source})", key)
        out.append(
            Timeout(
                name=t.name.replace("ingress-", "controller-", 1),
                seconds=t.seconds,
                kind=t.kind,
                product=t.product,
                setting=t.setting,
                resets_on=t.resets_on,
                on_expiry=t.on_expiry,
                expiry=t.expiry,
                advice=t.advice.replace(f"Raise {key}", f"Raise {key} in {ctl.resource}"),
                source=_SRC_CONFIGMAP,
                origin="ingress",
            )
        )
    return out
