"""The implementations of ``unmap_range`` under test, and the model they run on.

An implementation is a function ``unmap_range(k, kvm, pgdp, start, size)``
written against the kernel helpers of :class:`unmapfuzz.impls.model.Kernel`
(``k``), exactly as the C is written against the kernel's.  :data:`BUILTIN`
names ours, one module each (``old``, ``v2``, ``v3``, ``v3_pgdnone``);
:func:`load_impl` loads a user's from ``path/to/file.py`` or
``package.module:function``, and :func:`resolve_impls` builds the set a
command runs.  The model itself is :mod:`unmapfuzz.impls.model`.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Callable

from . import old, v2, v3, v3_pgdnone

UnmapRange = Callable[..., None]

BUILTIN: dict[str, UnmapRange] = {
    "old": old.unmap_range,
    "v2": v2.unmap_range,
    "v3": v3.unmap_range,
    "v3-pgdnone": v3_pgdnone.unmap_range,
}


RESERVED = ("map", "worker")
"""Names no implementation may take: in findings, ``map`` is the shared map path's and
``worker`` a campaign worker's death that no implementation could be blamed for."""


class ImplError(ValueError):
    """An ``--impl`` that cannot be loaded; the message says why."""


def load_impl(spec: str) -> tuple[str, UnmapRange]:
    """Load ``NAME=SPEC``, ``SPEC`` being ``file.py[:func]`` or ``module:func``.

    The name defaults to the file's stem (or ``module:func``).  The function
    defaults to ``unmap_range``.
    """
    name = None
    if "=" in spec:
        name, spec = spec.split("=", 1)
    target, _, func = spec.partition(":")
    if target.endswith(".py") or "/" in target:
        path = Path(target)
        if not path.is_file():
            raise ImplError(f"--impl {spec}: no such file {path}")
        modname = f"unmapfuzz_user_{path.stem}_{abs(hash(str(path.resolve())))}"
        module_spec = importlib.util.spec_from_file_location(modname, path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise ImplError(f"--impl {spec}: importing {path} failed: {type(exc).__name__}: {exc}") from exc
        default_name = path.stem
    else:
        if not func:
            raise ImplError(f"--impl {spec}: expected path/to/file.py or module:function")
        try:
            module = importlib.import_module(target)
        except Exception as exc:
            raise ImplError(f"--impl {spec}: cannot import {target}: {type(exc).__name__}: {exc}") from exc
        default_name = spec
    func = func or "unmap_range"
    fn = getattr(module, func, None)
    if not callable(fn):
        raise ImplError(f"--impl {spec}: {getattr(module, '__file__', target)} defines no function {func}()")
    return name or default_name, fn


def resolve_impls(specs=(), only: str | None = None, origins: dict | None = None) -> dict[str, UnmapRange]:
    """The built-in implementations plus each ``--impl`` spec, optionally cut to ``--impls``.

    ``origins``, when given, is filled with where each implementation came from:
    a built-in by its name, a user's by its spec without the ``NAME=`` part.  Raises :class:`ImplError`
    with a message for the user.
    """
    impls = dict(BUILTIN)
    if origins is not None:
        origins.update({name: name for name in BUILTIN})
    for spec in specs:
        name, fn = load_impl(spec)
        if name in impls or name in RESERVED:
            raise ImplError(f"--impl {spec}: the name {name!r} is taken; use NAME={spec}")
        impls[name] = fn
        if origins is not None:
            origins[name] = spec.split("=", 1)[1] if "=" in spec else spec
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        unknown = [n for n in names if n not in impls]
        if unknown:
            raise ImplError(f"--impls: unknown implementation(s) {', '.join(unknown)} "
                            f"(known: {', '.join(impls)})")
        impls = {n: impls[n] for n in names}
    return impls


_COPIES: set[UnmapRange] = set()      # the unmap_range of every copy builtin_copies() made


def builtin_copies(tag: str) -> dict[str, UnmapRange]:
    """A separate copy of each built-in implementation, by name: its module executed again
    from its own file, as ``unmapfuzz.impls.NAME@TAG``, so that every function of it is a
    new object with code objects of its own, and the same source line for line.

    The atheris target of a campaign over several geometries instruments one copy per
    (platform, mode): libFuzzer's coverage, which only counts the edges of the code it
    runs, then tells a walker's edge on one geometry from the same edge on another.  A
    copy is a built-in (:func:`is_builtin`): it is never guarded nor instrumented by path,
    and judged exactly as the original.  The module objects are kept in ``sys.modules``."""
    copies = {}
    for name, original in BUILTIN.items():
        source = sys.modules[original.__module__]
        module_name = f"{source.__name__}@{tag}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, source.__file__)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[module_name] = module
        fn = module.unmap_range
        _COPIES.add(fn)
        copies[name] = fn
    return copies


def is_builtin(fn: UnmapRange) -> bool:
    """Whether ``fn`` is one of ours, or a copy of one (and so never needs instrumenting by path)."""
    return fn in BUILTIN.values() or fn in _COPIES


__all__ = ["BUILTIN", "UnmapRange", "ImplError", "load_impl", "resolve_impls", "is_builtin", "builtin_copies"]
