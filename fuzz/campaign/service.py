"""The fuzz targets a fuzzing service runs: ClusterFuzzLite in CI, OSS-Fuzz/ClusterFuzz at scale.

A campaign's own atheris target records every finding and never raises, so a
campaign never stops.  A service works the other way round: it learns about a
finding only when the target crashes, and it files every distinct crash as a
bug.  So a service target raises on a finding that is *new* and stays silent
on the documented divergences of ``corpus/known.txt``, or the service would
drown in bugs the kernel fixed in 2014.  :func:`new_signatures` is the one
place that decides what is new; the raised :class:`NewFinding` carries the
program as ``.ops`` text, so the service's crash report is a reproducer.

A service passes a target nothing but libFuzzer flags: no environment, no
options of ours.  Each target is therefore one fixed configuration, named by
its file (``fuzzers/NAME.py``):

- ``unmap_stage2_fuzzer``: stage-2 teardown on every platform, realistic programs;
- ``unmap_hyp_fuzzer``: the hyp (``kvm == NULL``) walks on every platform, realistic;
- ``unmap_adversarial_fuzzer``: both modes on every platform, programs that
  break the walkers' documented preconditions on purpose.

A crash input decodes to its program only under the configuration of the
target that produced it (:func:`unmapfuzz.generation.seeds.program_from_input`),
which is why ``unmapfuzz crash`` asks for the target, or reads it from a
ClusterFuzz testcase name (``clusterfuzz-testcase-minimized-NAME-...``).

Each target ships with a seed corpus built from ``corpus/`` (the text corpus
as exact-form inputs, :func:`unmapfuzz.generation.seeds.write_seeds`) and a
libFuzzer dictionary (:func:`dictionary`) of the addresses and sizes where
``unmap_range()`` bugs live, as the little-endian 64-bit words the exact form
reads.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from unmapfuzz.atomic import atomic_write
from unmapfuzz.generation.seeds import write_seeds
from unmapfuzz.impls.model.platforms import KVM_PHYS_SIZE, PLATFORMS
from unmapfuzz.programs import GUEST_PA_LIMIT, Expect, Program, geometries
from unmapfuzz.programs import format as format_program
from unmapfuzz.verdict.check import Verdict
from unmapfuzz.verdict.known import load_known
from unmapfuzz.verdict.known import new_among as known_new_among
from unmapfuzz.verdict.known import new_signatures as known_new_signatures
from unmapfuzz.verdict.signature import Signature, signatures

__all__ = ["ServiceTarget", "TARGETS", "KNOWN_ENV", "NewFinding", "target", "target_for_file",
           "new_signatures", "new_among", "finding_text", "dictionary", "write_target_files"]

# Where a target reads a replacement known list (tests; a service never sets it).
KNOWN_ENV = "UNMAPFUZZ_KNOWN"


@dataclass(frozen=True, slots=True)
class ServiceTarget:
    """One fuzz target: a fixed configuration of the atheris input decoder."""

    name: str
    platform: str
    mode: str
    profile: str
    about: str
    max_ops: int = 12

    def pairs(self) -> list[tuple[str, str]]:
        return geometries(self.platform, self.mode)


TARGETS: dict[str, ServiceTarget] = {t.name: t for t in (
    ServiceTarget("unmap_stage2_fuzzer", "all", "stage2", "realistic",
                  "stage-2 teardown (kvm_free_stage2_pgd, unmap_stage2_range) on every platform"),
    ServiceTarget("unmap_hyp_fuzzer", "all", "hyp", "realistic",
                  "hyp teardown (free_hyp_pgds, kvm == NULL) on every platform"),
    ServiceTarget("unmap_adversarial_fuzzer", "all", "all", "adversarial",
                  "both modes, ranges that break the walkers' documented preconditions"),
)}


class UnknownTarget(LookupError):
    """No service target by that name; ``str()`` lists the ones there are."""


def target(name: str) -> ServiceTarget:
    """The target called ``name`` (``unmap_stage2_fuzzer``; the ``.py`` suffix is ignored)."""
    name = name.removesuffix(".py")
    if name not in TARGETS:
        raise UnknownTarget(f"no fuzz target {name!r} (there are: {', '.join(TARGETS)})")
    return TARGETS[name]


def target_for_file(path: str | os.PathLike[str]) -> ServiceTarget | None:
    """The target whose name the file's name contains, as in ClusterFuzz's
    ``clusterfuzz-testcase-minimized-unmap_hyp_fuzzer-5712...``; None when no
    name, or more than one, is in it."""
    base = Path(path).name
    found = [t for name, t in TARGETS.items() if re.search(rf"(^|[^A-Za-z0-9_]){name}($|[^A-Za-z0-9_])", base)]
    return found[0] if len(found) == 1 else None


# -- what is new ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _patterns(known: str | None, profile: str) -> tuple[str, ...]:
    return tuple(load_known(known, profile=profile))


def new_signatures(verdict: Verdict, profile: str, known: str | os.PathLike[str] | None = None) -> list[Signature]:
    """The signatures of ``verdict`` that are news: the baseline does not explain them on
    this program and none of the known list's patterns for ``profile`` matches them
    (``known``: a replacement list; see :func:`unmapfuzz.verdict.known.new_signatures`).

    This is the one judgement a service target makes before it raises; when
    "new" comes to mean something else, it changes here.
    """
    return known_new_signatures(verdict, list(_patterns(None if known is None else str(known), profile)))


def new_among(found, profile: str, known: str | os.PathLike[str] | None = None) -> list[Signature]:
    """:func:`new_signatures` for a harness's judgement (``(signature, explained)`` pairs)."""
    return known_new_among(found, list(_patterns(None if known is None else str(known), profile)))


class NewFinding(AssertionError):
    """A program showed a finding that is not a documented divergence.

    The message is the program as an ``.ops`` reproducer (what a fuzzing
    service shows as the crash), headed by its new signatures.
    """


def finding_text(verdict: Verdict, shown: list[Signature], target_name: str,
                 new: list[Signature] | None = None) -> str:
    """The verdict's program as ``.ops`` text: a header naming each signature in
    ``shown`` (marked ``(new)`` when in ``new``; default: all of them) and what went
    wrong in kernel terms, then the ops and one ``expect`` line per implementation."""
    from unmapfuzz.triage.explain import explain     # the explanation only when there is a finding
    new = shown if new is None else new
    header = [f"found by fuzz target {target_name}"]
    for sig in shown:
        header.append(f"signature: {sig}" + (" (new)" if sig in new else " (known)"))
        try:
            header.append(explain(verdict, sig))
        except ValueError:
            pass
    header.append(f"replay: unmapfuzz check FILE; from the crash input: unmapfuzz crash --target {target_name} CRASH")
    prog = verdict.program
    expects = tuple(Expect(name, r.kinds) for name, r in verdict.results.items())
    return format_program(Program(prog.platform, prog.mode, prog.ops, prog.profile, expects), header=header)


# -- the dictionary and the seed corpus ---------------------------------------------------------

EXACT_PREFIX = b"\xffEX"        # head 255, then the exact form's tag (see generation/generator.py)


def _word(value: int) -> bytes:
    return (value % (1 << 64)).to_bytes(8, "little")


def dictionary_words(t: ServiceTarget) -> dict[str, bytes]:
    """Name -> bytes of every dictionary entry of target ``t``, deduplicated by value.

    The addresses and sizes that matter: each level's entry size and the block
    sizes, the end of each mode's space, the root's end and its second page
    (the order-1 root whose second page starts at refcount 0), the 512 GB
    alias of a masked ``pgd_index()``, the top of the 64-bit space (a range
    that ends there has ``end == 0``), and the guest PA limit.
    """
    words: dict[bytes, str] = {EXACT_PREFIX: "exact_program"}
    platforms = sorted({p for p, _ in t.pairs()})
    modes = sorted({m for _, m in t.pairs()})

    def add(name: str, value: int) -> None:
        words.setdefault(_word(value), name)

    for name in platforms:
        p = PLATFORMS[name]
        tag = name.replace("-", "_")
        for shift in p.real_shifts():
            level = p.level_of_shift(shift)
            add(f"{tag}_{level}_entry", 1 << shift)
            add(f"{tag}_{level}_entry_less_a_page", (1 << shift) - p.page_size)
        add(f"{tag}_page", p.page_size)
        add(f"{tag}_top_page", -p.page_size)
        add(f"{tag}_top_pmd", -(1 << p.pmd_shift))
        add(f"{tag}_table_span", p.ptrs_per_table << p.pgdir_shift)
        alias = "pgd_index_alias" if p.pgd_index_masked else "host_pgd_end"
        add(f"{tag}_{alias}", p.ptrs_per_pgd << p.pgdir_shift)
        for mode in modes:
            add(f"{tag}_{mode}_space", p.space(mode))
            add(f"{tag}_{mode}_last_page", p.space(mode) - p.page_size)
        add(f"{tag}_s2_root_end", p.s2_root_entries << p.pgdir_shift)
    add("kvm_phys_size", KVM_PHYS_SIZE)
    add("guest_pa_limit", GUEST_PA_LIMIT)
    add("top_of_space", 0)
    return {name: value for value, name in words.items()}


def dictionary(t: ServiceTarget) -> str:
    """The libFuzzer dictionary (``-dict=``) of target ``t``: one ``name="\\xNN..."`` a line."""
    lines = [f"# libFuzzer dictionary of {t.name}: {t.about}.",
             "# Little-endian 64-bit addresses and sizes, as the exact program form reads them.",
             "# Generated by `unmapfuzz targets --write DIR`; do not edit."]
    for name, value in dictionary_words(t).items():
        escaped = "".join("\\x%02x" % b for b in value)
        lines.append(f'{name}="{escaped}"')
    return "\n".join(lines) + "\n"


def write_target_files(t: ServiceTarget, corpus: list[Path], out: Path) -> dict[str, Path]:
    """Write ``out/NAME_seed_corpus.zip`` (the ``.ops`` programs under ``corpus`` that fit
    the target, as inputs) and ``out/NAME.dict``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    seeds = out / f"{t.name}_seed_corpus.zip"
    part = out / f".{t.name}_seed_corpus.{os.getpid()}.zip"
    write_seeds(corpus, part, t.platform, t.mode)
    os.replace(part, seeds)
    words = out / f"{t.name}.dict"
    atomic_write(words, dictionary(t))
    return {"seed_corpus": seeds, "dict": words}
