"""The documented divergences: which signatures are known bugs of the kernel code modelled.

The list ships with the package (``unmapfuzz/corpus/known.txt``, the
checkout's ``corpus/known.txt``) and ``--known FILE`` replaces it.  One
fnmatch pattern a line over ``IMPL/KIND/PLATFORM/MODE/LEVEL``, ``#`` comments;
``adversarial: PATTERN`` applies only to adversarial campaigns (behaviour
outside the walkers' documented preconditions, which is news if it ever shows
in a realistic program).  A pattern names the code that has the bug: its
IMPL is a built-in implementation or ``map``, never a wildcard, so no pattern
can match a user's ``--impl``.  A missing or unreadable list is an error, never an
empty one: an empty list would silently turn every known bucket into a new one.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from unmapfuzz.impls import BUILTIN

from .check import MAP_PATH

__all__ = ["KnownListError", "Known", "default_known_path", "read_known", "load_known", "is_known",
           "new_signatures", "new_among", "known_for", "why_known"]

SCOPES = ("realistic", "adversarial")
OWNERS = (*BUILTIN, MAP_PATH)
"""What a pattern may name as its IMPL: a built-in implementation or the map path."""


class KnownListError(ValueError):
    """The known list cannot be read or has a bad line; ``str()`` says ``FILE[:LINE]: why``."""


def default_known_path() -> Path:
    """The known list that ships with the package."""
    return Path(str(resources.files("unmapfuzz.corpus").joinpath("known.txt")))


@dataclass(frozen=True, slots=True)
class Known:
    """One pattern, where it was written, and the profile it is scoped to (None: every profile)."""

    pattern: str
    file: str
    line: int
    scope: str | None = None

    def matches(self, signature: str) -> bool:
        return fnmatch.fnmatchcase(signature, self.pattern)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {'' if self.scope is None else self.scope + ': '}{self.pattern}"


def read_known(path: str | Path | None = None) -> list[Known]:
    """Every pattern of the list at ``path`` (default: the packaged one), all scopes."""
    path = Path(path) if path is not None else default_known_path()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise KnownListError(f"{path}: cannot read the known-divergence list: {reason}") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        scope = None
        if ":" in line:
            scope, _, line = line.partition(":")
            scope, line = scope.strip(), line.strip()
            if scope not in SCOPES:
                raise KnownListError(f"{path}:{n}: unknown scope {scope!r} (expected adversarial: or realistic:)")
        parts = line.split("/")
        if len(parts) != 5 or not all(parts):
            raise KnownListError(f"{path}:{n}: {line!r} is not a pattern over IMPL/KIND/PLATFORM/MODE/LEVEL "
                                 "(five parts, each a name or a wildcard)")
        if parts[0] not in OWNERS:
            raise KnownListError(f"{path}:{n}: {line!r} must name the code that has the bug, one of "
                                 f"{', '.join(OWNERS)} (a wildcard would also match your own --impl)")
        out.append(Known(line, str(path), n, scope))
    return out


def load_known(path: str | Path | None = None, profile: str | None = "realistic") -> list[str]:
    """The patterns that apply to ``profile`` (unscoped ones and those scoped to it)."""
    return [k.pattern for k in read_known(path) if k.scope is None or k.scope == profile]


def is_known(signature: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(signature, p) for p in patterns)


def new_signatures(verdict, patterns: list[str]) -> list:
    """The signatures of ``verdict`` that are news: not explained by the baseline on this
    program (see :func:`unmapfuzz.verdict.signature.judged`) and matched by no pattern."""
    from .signature import judged
    return new_among(judged(verdict).items(), patterns)


def known_for(profile: str | None, path: str | Path | None = None) -> list[Known]:
    """The patterns of the list at ``path`` (default: the packaged one) that apply to ``profile``."""
    return [k for k in read_known(path) if k.scope is None or k.scope == profile]


def why_known(signature, explained: bool, known: list[Known], baseline: str | None) -> str | None:
    """Why a signature is not news: the baseline shows it too on its program, or the first
    pattern that names it (``known.txt:LINE``); None when it is new."""
    if explained:
        return f"the baseline {baseline} shows it too"
    text = str(signature)
    for k in known:
        if k.matches(text):
            return f"{Path(k.file).name}:{k.line}"
    return None


def new_among(found, patterns: list[str]) -> list:
    """The news among ``found``, ``(signature, explained by the baseline)`` pairs."""
    return [sig for sig, explained in found or () if not explained and not is_known(str(sig), patterns)]
