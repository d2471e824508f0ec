"""The shipped timeout profiles, ``--timeout`` parsing and ``wscap profiles`` text.

Expected values are the vendors' documented defaults (each entry's ``source``);
where a value is tested here, the test names the document it comes from.
"""

from __future__ import annotations

import re

import pytest

from wscap.profiles import (
    EXPIRY_PATTERNS,
    PROFILES,
    Timeout,
    all_timeouts,
    find_timeout,
    format_profiles,
    parse_timeout_option,
    profile,
)

REQUIRED_PROFILES = {
    "nginx",
    "ingress-nginx",
    "haproxy",
    "envoy",
    "aws-alb",
    "aws-elb",
    "aws-nlb",
    "azure-lb",
    "azure-front-door",
    "heroku",
    "cloudflare",
    "gcp-lb",
    "cloud-run",
    "aws-apigw-websocket",
    "kube-proxy-ipvs",
}

ENTRIES = [t for entries in PROFILES.values() for t in entries]


def test_required_profiles_exist():
    assert REQUIRED_PROFILES <= set(PROFILES)


@pytest.mark.parametrize("t", ENTRIES, ids=lambda t: t.name)
def test_entry_is_complete_and_cites_an_https_source(t: Timeout):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", t.name)
    assert t.seconds > 0
    assert t.kind in ("idle", "lifetime")
    assert t.expiry in EXPIRY_PATTERNS
    assert t.origin == "profile"
    for text in (t.product, t.setting, t.resets_on, t.on_expiry, t.advice):
        assert text.strip()
        assert "\n" not in text
    assert t.advice.endswith(".")
    assert re.fullmatch(r"https://[a-z0-9.-]+\.[a-z]{2,}/\S*", t.source), t.source


def test_entry_names_are_unique():
    names = [t.name for t in ENTRIES]
    assert len(names) == len(set(names))
    assert [t.name for t in all_timeouts()] == names


# (profile, entry, seconds, kind, expiry): the documented defaults.
DOCUMENTED = [
    # nginx websocket.html / ngx_http_proxy_module: 60 s; ingress-nginx ConfigMap: 60
    ("nginx", "nginx-read", 60, "idle", "fin-both"),
    ("nginx", "nginx-send", 60, "idle", "fin-both"),
    ("ingress-nginx", "ingress-nginx-read", 60, "idle", "fin-both"),
    ("ingress-nginx", "ingress-nginx-send", 60, "idle", "fin-both"),
    # HAProxy: no default; the manual's example is `timeout tunnel 1h`
    ("haproxy", "haproxy-tunnel", 3600, "idle", "fin-client-rst-server"),
    # Envoy timeouts FAQ: stream_idle_timeout 5 minutes
    ("envoy", "envoy-stream-idle", 300, "idle", "unknown"),
    # ALB / Classic ELB: 60 s idle
    ("aws-alb", "alb-idle", 60, "idle", "unknown"),
    ("aws-elb", "elb-idle", 60, "idle", "unknown"),
    # NLB: 350 s for TCP flows; RST to whoever sends after it
    ("aws-nlb", "nlb-tcp-idle", 350, "idle", "silent-rst-next"),
    # Azure LB: 4 min; silent drop, or bidirectional RST with TCP reset
    ("azure-lb", "azure-lb-idle", 240, "idle", "silent-drop"),
    ("azure-lb-tcp-reset", "azure-lb-idle-rst", 240, "idle", "rst-both"),
    # Azure Front Door WebSocket: 5 min idle, 4 h at most
    ("azure-front-door", "afd-ws-idle", 300, "idle", "unknown"),
    ("azure-front-door", "afd-ws-max", 14400, "lifetime", "unknown"),
    # Heroku: rolling 55-second window
    ("heroku", "heroku-idle", 55, "idle", "unknown"),
    # Cloudflare connection limits: Proxy Read Timeout 120 s
    ("cloudflare", "cloudflare-read", 120, "idle", "unknown"),
    # GCP backend service timeout 30 s (WebSocket: lifetime); Cloud Run 5 min
    ("gcp-lb", "gcp-backend", 30, "lifetime", "unknown"),
    ("cloud-run", "cloud-run-request", 300, "lifetime", "unknown"),
    # API Gateway WebSocket quotas: 10 min idle, 2 h duration
    ("aws-apigw-websocket", "apigw-ws-idle", 600, "idle", "unknown"),
    ("aws-apigw-websocket", "apigw-ws-max", 7200, "lifetime", "unknown"),
    # kube-proxy IPVS: kernel default 900 s kept (--ipvs-tcp-timeout 0)
    ("kube-proxy-ipvs", "ipvs-tcp", 900, "idle", "silent-rst-next"),
]


@pytest.mark.parametrize(("pname", "entry", "seconds", "kind", "expiry"), DOCUMENTED)
def test_documented_defaults(pname, entry, seconds, kind, expiry):
    by_name = {t.name: t for t in profile(pname)}
    t = by_name[entry]
    assert t.seconds == seconds
    assert t.kind == kind
    assert t.expiry == expiry


def test_every_entry_is_checked_above():
    assert {e for _, e, *_ in DOCUMENTED} == {t.name for t in ENTRIES}


def test_haproxy_entry_says_there_is_no_default():
    (t,) = profile("haproxy")
    assert "no default" in t.setting
    assert "example" in t.setting


def test_nginx_read_advice_names_the_annotation_knob():
    t = find_timeout("ingress-nginx-read")
    assert t is not None
    assert 'nginx.ingress.kubernetes.io/proxy-read-timeout (unitless seconds, e.g. "3600")' in (
        t.advice
    )
    assert "every 60 s" in t.advice
    assert "any byte in either direction" in t.resets_on


def test_profile_lookup_is_case_insensitive():
    assert profile(" AWS-ALB ") == profile("aws-alb")


def test_unknown_profile_lists_the_known_ones():
    with pytest.raises(ValueError) as e:
        profile("nginxx")
    msg = str(e.value)
    assert msg.startswith("unknown profile 'nginxx'; known: ")
    assert "aws-nlb" in msg and "kube-proxy-ipvs" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("nginx-read", "nginx-read"),
        ("aws-alb", "alb-idle"),  # profile with one entry
        ("alb", "alb-idle"),  # unique prefix
        ("HEROKU", "heroku-idle"),
        ("nginx", None),  # two entries: ambiguous
        ("azure-front-door", None),
        ("nope", None),
    ],
)
def test_find_timeout(name, expected):
    t = find_timeout(name)
    assert (t.name if t else None) == expected


@pytest.mark.parametrize(
    ("value", "name", "seconds"),
    [
        ("60", "timeout", 60.0),
        ("1.5", "timeout", 1.5),
        (".5", "timeout", 0.5),
        ("90s", "timeout", 90.0),
        ("5m", "timeout", 300.0),
        ("1h", "timeout", 3600.0),
        (" 2H ", "timeout", 7200.0),
        ("nginx-read=60", "nginx-read", 60.0),
        ("alb=350", "alb", 350.0),
        ("x=1.5s", "x", 1.5),
        ("edge-lb = 10m", "edge-lb", 600.0),
        ("ingress-read:prod/chat=3600", "ingress-read:prod/chat", 3600.0),
    ],
)
def test_parse_timeout_option(value, name, seconds):
    t = parse_timeout_option(value)
    assert (t.name, t.seconds, t.origin) == (name, seconds, "option")
    assert t.kind in ("idle", "lifetime")
    assert t.expiry in EXPIRY_PATTERNS


def test_option_with_an_entry_name_keeps_its_behaviour():
    t = parse_timeout_option("nginx-read=3600")
    assert (t.kind, t.expiry, t.seconds) == ("idle", "fin-both", 3600.0)
    assert "every 3600 s" in t.advice and "every 60 s" not in t.advice
    assert t.source.startswith("https://")
    lifetime = parse_timeout_option("gcp-backend=1h")
    assert (lifetime.kind, lifetime.seconds) == ("lifetime", 3600.0)
    alb = parse_timeout_option("alb=350")
    assert alb.product == "AWS Application Load Balancer"


def test_option_with_another_name_is_a_generic_idle_timeout():
    t = parse_timeout_option("45")
    assert (t.kind, t.expiry, t.product) == ("idle", "unknown", "configured timeout")
    assert "45 s" in t.advice


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "abc",
        "-5",
        "0",
        "0s",
        "60x",
        "60 ms",
        "1h30m",
        "2d",
        "1e3",
        "nan",
        "inf",
        "=60",
        "a b=5",
        "nginx-read=",
        "-x=5",
        "60=60=60",
    ],
)
def test_parse_timeout_option_rejects(value):
    with pytest.raises(ValueError) as e:
        parse_timeout_option(value)
    msg = str(e.value)
    assert msg.startswith("--timeout ")
    assert "\n" not in msg


def test_format_profiles_lists_every_profile_entry_and_source():
    text = format_profiles()
    lines = text.splitlines()
    header = ["name", "seconds", "kind", "on", "expiry", "product", "/", "setting"]
    assert lines[0].split() == header
    for pname in PROFILES:
        assert f"[{pname}]" in lines
    for t in ENTRIES:
        row = next(line for line in lines if line.split()[:1] == [t.name])
        assert row.split()[1:4] == [f"{t.seconds:g}", t.kind, t.expiry]
        assert t.setting in row
        assert f"  {t.name}: {t.source}" in lines
    assert text.endswith("\n")


@pytest.mark.parametrize(
    "t",
    ENTRIES + [parse_timeout_option("nginx-read=3600"), parse_timeout_option("edge=5")],
    ids=lambda t: t.name,
)
def test_setting_starts_with_the_knob(t: Timeout):
    # Renderers show ``setting.split(" (")[0]`` as the knob's name.
    knob = t.setting.split(" (")[0]
    assert knob and len(knob) <= 40 and ";" not in knob and "=" not in knob
