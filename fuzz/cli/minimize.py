"""``unmapfuzz minimize FILE``: shrink a failing program to a reproducer that keeps its signature."""
from __future__ import annotations

import shlex
import sys
import time

from unmapfuzz.atomic import atomic_write
from unmapfuzz.impls import ImplError
from unmapfuzz.programs import ProgramError, load
from unmapfuzz.triage.explain import explain, reproducer_text
from unmapfuzz.triage.minimize import Minimizer
from unmapfuzz.verdict.check import check
from unmapfuzz.verdict.signature import Signature, signatures

from .impl_args import add_impl_arguments, selected_impls


def register(sub) -> None:
    p = sub.add_parser(
        "minimize", help="shrink a failing program, keeping one signature",
        description="Shrink FILE to a small program that still shows SIG (default: the first signature "
                    "of its verdict) and stays valid under its profile, and print it as a commented "
                    "reproducer with expect lines.  Exit 0 on success, 2 on bad input or when FILE "
                    "shows no (or not that) signature.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", metavar="OUT", help="write the reproducer here (atomically) instead of stdout")
    p.add_argument("--signature", metavar="SIG", help="IMPL/KIND/PLATFORM/MODE/LEVEL to keep")
    p.add_argument("--profile", choices=("realistic", "adversarial"),
                   help="judge validity under this profile (default: the program's own); "
                        "the reproducer records it")
    add_impl_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    def fail(message: str) -> int:
        print(f"unmapfuzz: {message}", file=sys.stderr)
        return 2

    try:
        impls = selected_impls(args)
    except ImplError as exc:
        return fail(str(exc))
    try:
        program = load(args.file)
    except ProgramError as exc:
        return fail(str(exc))
    profile = args.profile or program.profile
    verdict = check(program, impls, profile)
    if verdict.invalid:
        return fail(f"{args.file}: invalid program: {verdict.invalid}")
    found = signatures(verdict)
    if args.signature:
        try:
            signature = Signature.parse(args.signature)
        except ValueError as exc:
            return fail(f"--signature: {exc}")
        if signature not in found:
            shown = ", ".join(map(str, found)) or "none: every implementation is clean"
            return fail(f"{args.file}: does not show {signature} (it shows: {shown})")
    elif not found:
        return fail(f"{args.file}: nothing to minimise: every implementation is clean")
    else:
        signature = found[0]

    started = time.perf_counter()
    minimizer = Minimizer(signature, impls, profile)
    small = minimizer.run(program)
    elapsed = time.perf_counter() - started
    small_verdict = minimizer.verdict(small)
    replay = shlex.quote(args.output) if args.output else "FILE"
    extra = [f"--impl {shlex.quote(spec)}" for spec in args.impl]
    if args.impls:
        extra.append(f"--impls {shlex.quote(args.impls)}")
    text = reproducer_text(small, signature, explain(small_verdict, signature),
                           verdict=small_verdict, file=" ".join([replay, *extra]))
    if args.output:
        try:
            atomic_write(args.output, text)
        except OSError as exc:
            return fail(f"{args.output}: cannot write: {exc.strerror or exc}")
    else:
        sys.stdout.write(text)
    print(f"{len(program.ops)} ops -> {len(small.ops)} ops, signature {signature} "
          f"({minimizer.checks} checks, {elapsed:.2f}s)", file=sys.stderr)
    return 0
