"""The package's layers: what may import what, read from the source (no module is run).

The layers, bottom up, each a folder of ``unmapfuzz``; a module may import
from its own layer and the layers below it, never from one above::

    impls.model < impls < programs < reference < verdict < generation < triage
                < campaign < bench < cli
"""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"fuzz": "unmapfuzz", "impls": "unmapfuzz.impls", "corpus": "unmapfuzz.corpus"}
LAYERS = ["unmapfuzz.impls.model", "unmapfuzz.impls", "unmapfuzz.programs", "unmapfuzz.reference",
          "unmapfuzz.verdict", "unmapfuzz.generation", "unmapfuzz.triage", "unmapfuzz.campaign",
          "unmapfuzz.bench", "unmapfuzz.cli"]
# Modules at the package root that every layer may use (no unmapfuzz imports of their own).
SHARED = {"unmapfuzz", "unmapfuzz.atomic"}


def modules():
    """(module name, path, is a package) for every source file of the package."""
    out = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            out.append((".".join([package, *parts]), path, path.name == "__init__.py"))
    return out


def imports(name, path, is_package):
    """(line, imported module, names) of every import in the file, relative ones made absolute."""
    base = name if is_package else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                b = base
                for _ in range(node.level - 1):
                    b = b.rsplit(".", 1)[0]
                target = b + ("." + node.module if node.module else "")
            found.append((node.lineno, target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, []) for a in node.names)
    return found


def layer_of(module):
    matches = [i for i, layer in enumerate(LAYERS) if module == layer or module.startswith(layer + ".")]
    return max(matches) if matches else None


MODULES = modules()


def test_every_unmapfuzz_import_resolves():
    """Every import of an unmapfuzz module names one that exists, including imports inside functions."""
    import importlib
    missing = []
    for name, path, is_package in MODULES:
        for line, target, names in imports(name, path, is_package):
            if not target.startswith("unmapfuzz"):
                continue
            try:
                module = importlib.import_module(target)
            except ImportError as exc:
                missing.append(f"{path}:{line}: {target} ({exc})")
                continue
            for attr in names:
                if not hasattr(module, attr):
                    try:
                        importlib.import_module(f"{target}.{attr}")
                    except ImportError:
                        missing.append(f"{path}:{line}: {target}.{attr}")
    assert missing == []


def test_layers_only_import_downward():
    """No module imports from a layer above its own, so the layers have no cycles."""
    upward = []
    for name, path, is_package in MODULES:
        own = layer_of(name)
        if own is None:
            continue
        for line, target, _ in imports(name, path, is_package):
            if target.startswith("unmapfuzz") and target not in SHARED:
                theirs = layer_of(target)
                if theirs is not None and theirs > own:
                    upward.append(f"{path}:{line}: {name} imports {target}")
    assert upward == []


def test_no_module_imports_a_private_name_of_another():
    """Underscore names stay inside their module: no `from x import _y` between modules."""
    private = []
    for name, path, is_package in MODULES:
        for line, target, names in imports(name, path, is_package):
            if target.startswith("unmapfuzz") and target != name:
                private += [f"{path}:{line}: {target}.{n}" for n in names if n.startswith("_")]
    assert private == []


def test_only_the_cli_knows_argparse():
    """argparse is imported by unmapfuzz.cli alone."""
    users = [name for name, path, is_package in MODULES
             if any(target == "argparse" for _, target, _ in imports(name, path, is_package))]
    assert users and all(u.startswith("unmapfuzz.cli.") for u in users), users


def test_the_model_imports_nothing_from_the_fuzzing_side():
    """impls/ is the pure model: it imports the standard library and itself, nothing else of ours."""
    impure = []
    for name, path, is_package in MODULES:
        if not name.startswith("unmapfuzz.impls"):
            continue
        for line, target, _ in imports(name, path, is_package):
            if target.startswith("unmapfuzz") and not target.startswith("unmapfuzz.impls"):
                impure.append(f"{path}:{line}: {target}")
            if target.split(".")[0] in ("structlog", "hypothesis", "atheris", "logging"):
                impure.append(f"{path}:{line}: {target}")
    assert impure == []


@pytest.mark.parametrize("package", ["unmapfuzz", "unmapfuzz.campaign"])
def test_importing_a_package_does_not_import_the_implementations(package):
    """The atheris target must be the first to import unmapfuzz.impls, inside instrument_imports."""
    code = f"import sys, {package}; print([m for m in sys.modules if m.startswith('unmapfuzz.impls')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]"


def test_atheris_instruments_the_walkers_and_nothing_else():
    """The instrumentation lists name every built-in implementation's module, and every other module of
    unmapfuzz.impls (the registry and the model) as left out."""
    from unmapfuzz.campaign.instrument import NOT_INSTRUMENTED, WALKERS
    from unmapfuzz.impls import BUILTIN
    impls_modules = {name for name, _, _ in MODULES if name.startswith("unmapfuzz.impls")}
    assert set(WALKERS) == {fn.__module__ for fn in BUILTIN.values()}
    assert impls_modules == set(WALKERS) | (set(NOT_INSTRUMENTED) - {"unmapfuzz"})


def test_the_atheris_target_instruments_only_the_walkers():
    """Started as a campaign starts it, the target instruments exactly the implementations' modules."""
    code = ("import sys; sys.argv = ['x', '-runs=1']\n"
            "import unmapfuzz.campaign.atheris_target\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    instrumented = {line.split()[-1] for line in (out.stdout + out.stderr).splitlines()
                    if line.startswith("INFO: Instrumenting ")}
    from unmapfuzz.campaign.instrument import WALKERS
    assert instrumented == set(WALKERS), out.stdout + out.stderr
