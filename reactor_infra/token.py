"""The topology token: `<Edition><Size>[+ha][+mr][+as]@<platform>` (DESIGN §1).

`parse()` collects every problem in a token and raises one `TokenError` that lists
them, each naming the part, the value given and what is allowed. Near misses get a
"did you mean" answer, never a silent fix. `RULES` is the single source of the
validity rules: the parser and `valid_tokens()` (the matrix) both use it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from itertools import product

from .errors import ProblemsError, shorten


class Edition(StrEnum):
    OPEN = "O"
    COMMERCIAL = "C"
    ENTERPRISE = "E"

    @property
    def title(self) -> str:
        return {"O": "open source", "C": "commercial cloud", "E": "enterprise"}[self.value]


class Platform(StrEnum):
    LOCAL = "local"
    FLY = "fly"
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"
    ONPREM = "onprem"

    @property
    def is_cloud(self) -> bool:
        return self in CLOUD_PLATFORMS


class Modifier(StrEnum):
    HA = "ha"
    MR = "mr"
    AS = "as"

    @property
    def title(self) -> str:
        return {"ha": "high availability", "mr": "multi-region", "as": "autoscaling"}[self.value]


CLOUD_PLATFORMS = frozenset({Platform.FLY, Platform.AWS, Platform.AZURE, Platform.GCP})
SIZES = (1, 2, 3, 4, 5, 6, 10)
SIZE_NAMES = {
    1: "local",
    2: "single node",
    3: "external DB",
    4: "shared infra",
    5: "dedicated gateway",
    6: "decomposed",
    10: "elastic",
}
MODIFIER_ORDER = (Modifier.HA, Modifier.MR, Modifier.AS)

PLATFORM_SYNONYMS = {
    "amazon": "aws", "amazon-web-services": "aws", "ec2": "aws", "amazonaws": "aws",
    "google": "gcp", "gcloud": "gcp", "google-cloud": "gcp", "gce": "gcp",
    "microsoft": "azure", "az": "azure", "msazure": "azure", "microsoft-azure": "azure",
    "fly.io": "fly", "flyio": "fly", "fly-io": "fly",
    "bare-metal": "onprem", "baremetal": "onprem", "on-prem": "onprem", "on-premises": "onprem",
    "on-premise": "onprem", "selfhosted": "onprem", "self-hosted": "onprem", "metal": "onprem",
    "localhost": "local", "docker": "local", "laptop": "local",
}


@dataclass(frozen=True, slots=True)
class Topology:
    """A parsed, valid token. Build it with `parse()`; `str()` is the canonical form."""

    edition: Edition
    size: int
    platform: Platform
    ha: bool = False
    mr: bool = False
    autoscale: bool = False  # `+as`; always true at size 10

    @property
    def modifiers(self) -> tuple[Modifier, ...]:
        flags = {Modifier.HA: self.ha, Modifier.MR: self.mr, Modifier.AS: self.autoscale}
        return tuple(m for m in MODIFIER_ORDER if flags[m])

    @property
    def token(self) -> str:
        # size 10 implies +as, so the canonical form leaves it out
        mods = [m for m in self.modifiers if not (m is Modifier.AS and self.size == 10)]
        return f"{self.edition.value}{self.size}{''.join('+' + m for m in mods)}@{self.platform.value}"

    @property
    def slug(self) -> str:
        """The token as a Pulumi stack name / DNS-safe label: `E5+ha@aws` -> `e5-ha-aws`."""
        return self.token.lower().replace("+", "-").replace("@", "-")

    def __str__(self) -> str:
        return self.token


class TokenError(ProblemsError):
    """A token with one or more problems; `lines()` gives one line per problem."""

    def __init__(self, token: str, problems: list[str]):
        self.token = token
        super().__init__(f"invalid token '{shorten(token)}'", problems)


# --- validity rules (DESIGN §1) -------------------------------------------------------
# Each rule looks at a candidate (edition, size, modifiers, platform) and returns a
# problem text, or None. Parsing and the matrix share them.

Rule = Callable[[Edition, int, frozenset[Modifier], Platform], str | None]


def _cloud_names() -> str:
    return ", ".join(p.value for p in Platform if p.is_cloud)


def _size_1_only_local(e, s, m, p):
    if s == 1 and p is not Platform.LOCAL:
        return f"size 1 runs only @local (given @{p.value}); use size 2 or more on {p.value}"


def _local_sizes(e, s, m, p):
    if p is Platform.LOCAL and s == 10:
        return "@local takes sizes 1-6 (given 10): every rung runs on one Docker host, none is elastic"


def _local_no_modifiers(e, s, m, p):
    if p is Platform.LOCAL and m:
        given = "".join("+" + x for x in MODIFIER_ORDER if x in m)
        return f"@local takes no modifiers (given {given}): one Docker host cannot be HA, multi-region or autoscaled"


def _commercial_needs_cloud(e, s, m, p):
    if e is Edition.COMMERCIAL and not p.is_cloud:
        return f"edition C runs only on a cloud platform ({_cloud_names()}), given @{p.value}: Reactor.cloud operates it there"


def _ha_needs_size_3(e, s, m, p):
    if Modifier.HA in m and s < 3:
        return f"+ha needs size 3 or more (given {s}): there must be an external database to make HA"


def _as_rules(e, s, m, p):
    # @local's own rule already rejects every modifier, so it is not repeated here
    if Modifier.AS in m and s < 3:
        return f"+as needs size 3 or more (given {s}): there must be an app tier to scale"
    if Modifier.AS in m and not p.is_cloud and p is not Platform.LOCAL:
        return f"+as needs a cloud platform ({_cloud_names()}), given @{p.value}"


def _mr_rules(e, s, m, p):
    if Modifier.MR in m and s < 5:
        return f"+mr needs size 5 or more (given {s}): regions repeat the edge and app tiers"
    if Modifier.MR in m and not p.is_cloud and p is not Platform.LOCAL:
        return f"+mr needs a cloud platform ({_cloud_names()}), given @{p.value}"


def _onprem_sizes(e, s, m, p):
    if p is Platform.ONPREM and s not in range(2, 7):
        return f"@onprem takes sizes 2-6 (given {s})"


RULES: tuple[Rule, ...] = (
    _size_1_only_local,
    _local_sizes,
    _local_no_modifiers,
    _commercial_needs_cloud,
    _ha_needs_size_3,
    _as_rules,
    _mr_rules,
    _onprem_sizes,
)


def rule_problems(edition: Edition, size: int, mods: frozenset[Modifier], platform: Platform) -> list[str]:
    """Every validity rule the combination breaks (empty when it is valid)."""
    return [msg for rule in RULES if (msg := rule(edition, size, mods, platform))]


# --- parsing ------------------------------------------------------------------------------

_HEAD = re.compile(r"^(?P<edition>[^\d+@]*)(?P<size>\d*)(?P<rest>.*)$", re.DOTALL)


def _did_you_mean(given: str, choices: list[str]) -> str:
    lowered = {c.lower(): c for c in choices}
    if given.lower() in lowered:
        return f"; did you mean '{lowered[given.lower()]}'?"
    close = difflib.get_close_matches(given.lower(), list(lowered), n=1, cutoff=0.6)
    return f"; did you mean '{lowered[close[0]]}'?" if close else ""


def _parse_edition(text: str, problems: list[str]) -> Edition | None:
    allowed = "O (open source), C (commercial cloud), E (enterprise)"
    if not text:
        problems.append(f"edition: missing; allowed: {allowed}")
        return None
    try:
        return Edition(text)
    except ValueError:
        hint = _did_you_mean(text, [e.value for e in Edition])
        problems.append(f"edition: '{shorten(text)}' is not an edition; allowed: {allowed}{hint}")
        return None


def _parse_size(text: str, problems: list[str]) -> int | None:
    allowed = ", ".join(str(s) for s in SIZES)
    if not text:
        problems.append(f"size: missing; allowed: {allowed}")
        return None
    if text.isdigit() and len(text) <= 3 and int(text) in SIZES and str(int(text)) == text:
        return int(text)
    problems.append(f"size: '{shorten(text)}' is not a size; allowed: {allowed}")
    return None


def _parse_modifiers(text: str, problems: list[str]) -> frozenset[Modifier] | None:
    allowed = "+ha, +mr, +as (each at most once, in that order)"
    if not text:
        return frozenset()
    if not text.startswith("+"):
        problems.append(f"modifiers: '{shorten(text)}' is not a modifier list; allowed: {allowed}")
        return None
    seen: list[Modifier] = []
    ok = True
    for raw in text[1:].split("+"):
        try:
            mod = Modifier(raw)
        except ValueError:
            hint = _did_you_mean(raw, [m.value for m in Modifier])
            problems.append(f"modifier: '+{shorten(raw)}' is not a modifier; allowed: {allowed}{hint}")
            ok = False
            continue
        if mod in seen:
            problems.append(f"modifier: '+{mod.value}' is given more than once; each modifier at most once")
            ok = False
            continue
        seen.append(mod)
    if not ok:
        return None
    canonical = [m for m in MODIFIER_ORDER if m in seen]
    if seen != canonical:
        given = "".join("+" + m for m in seen)
        want = "".join("+" + m for m in canonical)
        problems.append(f"modifiers: '{given}' is out of order; write them as ha, mr, as; did you mean '{want}'?")
        return None
    return frozenset(seen)


def _parse_platform(text: str | None, problems: list[str]) -> Platform | None:
    allowed = ", ".join(p.value for p in Platform)
    if text is None:
        problems.append(f"platform: missing '@<platform>'; allowed: {allowed}")
        return None
    try:
        return Platform(text)
    except ValueError:
        synonym = PLATFORM_SYNONYMS.get(text.lower())
        hint = f"; did you mean '{synonym}'?" if synonym else _did_you_mean(text, [p.value for p in Platform])
        problems.append(f"platform: '{shorten(text)}' is not a platform; allowed: {allowed}{hint}")
        return None


def parse(token: str) -> Topology:
    """Parse a token into a Topology, or raise TokenError listing every problem."""
    if not isinstance(token, str):
        raise TokenError(repr(token), ["token: must be text such as 'E5+ha@aws'"])
    problems: list[str] = []
    text = token.strip()
    if not text:
        raise TokenError(token, ["token: empty; write <Edition><Size>[+ha][+mr][+as]@<platform>, e.g. 'E5+ha@aws'"])
    head, at, platform_text = text.partition("@")
    if at and "@" in platform_text:
        problems.append(f"platform: '{shorten(platform_text)}' has more than one '@'; write one platform")
        platform_text = platform_text.split("@", 1)[0]
    match = _HEAD.match(head)
    assert match is not None  # the pattern matches any string
    edition = _parse_edition(match["edition"], problems)
    size = _parse_size(match["size"], problems)
    mods = _parse_modifiers(match["rest"], problems)
    platform = _parse_platform(platform_text if at else None, problems)
    if edition and size and mods is not None and platform:
        problems.extend(rule_problems(edition, size, mods, platform))
    if problems:
        raise TokenError(token, problems)
    assert edition and size and mods is not None and platform
    return Topology(
        edition=edition,
        size=size,
        platform=platform,
        ha=Modifier.HA in mods,
        mr=Modifier.MR in mods,
        autoscale=Modifier.AS in mods or size == 10,
    )


def is_valid(token: str) -> bool:
    try:
        parse(token)
    except TokenError:
        return False
    return True


def valid_topologies(platform: Platform | None = None) -> Iterator[Topology]:
    """Every valid topology (canonical tokens, no duplicates), in a stable order."""
    platforms = [platform] if platform else list(Platform)
    mod_sets = [frozenset(c for c, on in zip(MODIFIER_ORDER, flags) if on)
                for flags in product((False, True), repeat=3)]
    mod_sets.sort(key=lambda ms: (len(ms), [MODIFIER_ORDER.index(m) for m in sorted(ms, key=MODIFIER_ORDER.index)]))
    seen: set[str] = set()
    for p in platforms:
        for e in Edition:
            for s in SIZES:
                for ms in mod_sets:
                    if rule_problems(e, s, ms, p):
                        continue
                    topo = Topology(e, s, p, Modifier.HA in ms, Modifier.MR in ms, Modifier.AS in ms or s == 10)
                    if topo.token not in seen:
                        seen.add(topo.token)
                        yield topo
