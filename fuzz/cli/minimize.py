"""``unmapfuzz minimize FILE``: shrink a failing program to a reproducer that keeps its signature."""
from __future__ import annotations

import shlex
import sys
import time

from unmapfuzz.atomic import atomic_write
from unmapfuzz.impls import ImplError
from unmapfuzz.programs import ProgramError, load_lines, unknown_expects
from unmapfuzz.triage.explain import explain, replay_options, reproducer_text
from unmapfuzz.triage.minimize import Minimizer
from unmapfuzz.verdict.isolate import check_isolated
from unmapfuzz.verdict.signature import Signature, judged

from .impl_args import add_baseline_argument, add_impl_arguments, resolve
from .options import add_verbosity_arguments


def register(sub) -> None:
    p = sub.add_parser(
        "minimize", help="shrink a failing program, keeping one signature",
        description="Shrink FILE to a small program that still shows SIG (default: the first signature "
                    "of its verdict) and stays valid under its profile, and print it as a commented "
                    "reproducer with expect lines.  Exit 0 on success, 2 on bad input (FILE:LINE: on "
                    "stderr), when FILE shows no (or not that) signature, or when OUT cannot be written.")
    p.add_argument("file", metavar="FILE", help="the .ops program to shrink")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write the reproducer here, atomically (default: stdout)")
    p.add_argument("--signature", metavar="SIG",
                   help="IMPL/KIND/PLATFORM/MODE/LEVEL to keep (default: the first the baseline does not "
                        "explain, else the first of FILE's verdict); a signature that is news on FILE "
                        "stays news as the program shrinks")
    p.add_argument("--profile", choices=("realistic", "adversarial"),
                   help="judge validity under this profile (default: the program's own); "
                        "the reproducer records it")
    add_impl_arguments(p)
    add_baseline_argument(p)
    add_verbosity_arguments(p, quiet="no statistics line on stderr (the reproducer is still written)",
                            verbose="also list the size of every program the minimiser accepted")
    p.set_defaults(func=run)


def run(args) -> int:
    def fail(message: str) -> int:
        print(f"unmapfuzz: {message}", file=sys.stderr)
        return 2

    specs: dict[str, str] = {}
    try:
        impls, known = resolve(args, specs)
    except ImplError as exc:
        return fail(str(exc))
    try:
        program, lines = load_lines(args.file)
    except ProgramError as exc:
        return fail(str(exc))
    unknown = unknown_expects(program, lines, known)
    if unknown:
        for error in unknown[1:]:
            print(f"unmapfuzz: {error}", file=sys.stderr)
        return fail(str(unknown[0]))
    profile = args.profile or program.profile
    verdict = check_isolated(program, impls, profile, baseline=args.baseline)
    if verdict.invalid:
        return fail(str(lines.invalid(verdict.invalid)))
    shown = judged(verdict)
    found = list(shown)
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
        signature = next((s for s, explained in shown.items() if not explained), found[0])

    started = time.perf_counter()
    minimizer = Minimizer(signature, impls, profile, baseline=args.baseline, unexplained=not shown[signature])
    small = minimizer.run(program)
    elapsed = time.perf_counter() - started
    small_verdict = minimizer.verdict(small)
    replay = shlex.quote(args.output) if args.output else "FILE"
    options = replay_options({name: spec for name, spec in specs.items() if name in impls}, args.baseline)
    if args.impls:
        options.append(f"--impls {shlex.quote(args.impls)}")
    text = reproducer_text(small, signature, explain(small_verdict, signature),
                           verdict=small_verdict, file=replay, options=options)
    if args.output:
        try:
            atomic_write(args.output, text)
        except OSError as exc:
            return fail(f"{args.output}: cannot write: {exc.strerror or exc}")
    else:
        sys.stdout.write(text)
    if args.verbose:
        sizes = " -> ".join(str(len(p.ops)) for p in minimizer.accepted)
        print(f"accepted: {len(program.ops)} ops -> {sizes or 'nothing smaller'}", file=sys.stderr)
    if not args.quiet:
        print(f"{len(program.ops)} ops -> {len(small.ops)} ops, signature {signature} "
              f"({minimizer.checks} checks, {elapsed:.2f}s)", file=sys.stderr)
    return 0
