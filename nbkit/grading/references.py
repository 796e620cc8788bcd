"""Reference delegation: nbkit names an assignment's sandbox does not get.

An exercise asks students to write what nbkit already implements (``nbkit.layers.Linear`` in
``03_linear_layer``, ``nbkit.autodiff.Value`` in ``06_autodiff_ops``, ...). The names hidden from
each assignment are declared in one file, ``solutions/hidden_references.toml``::

    [03_linear_layer]
    hidden = ["nbkit.layers.Linear", "nbkit.losses.MSELoss", "nbkit.optim.SGD"]

An entry is ``<module>.<name>``; the name may be an ``fnmatch`` pattern over the names the module
defines at top level (``"nbkit.autodiff.*"``). Every entry must match something in today's nbkit
(``tests/test_grading_references.py`` checks it), so a name that moves is noticed at once.

:func:`stage` writes a copy of the nbkit package in which every hidden object -- where it is
defined and wherever an nbkit module re-exports it -- is replaced by a stub whose every use
raises :class:`HiddenReference` ("nbkit.layers.Linear is not available while 03_linear_layer is
graded ..."); the sandbox mounts that copy read-only in place of nbkit, so the original source is
not in the sandbox either. The grader recognises that error and says why the test failed.
Only the kernel-side part of :mod:`nbkit.grading` (checks, held-out sets, this stub) is copied.
"""

from __future__ import annotations

import ast
import compileall
import fnmatch
import importlib
import pkgutil
import shutil
import tomllib
from pathlib import Path

CONFIG_NAME = "hidden_references.toml"
KERNEL_SIDE = ("__init__.py", "checks.py", "heldout.py", "references.py")
_STUB_IMPORT = "from nbkit.grading.references import hidden as _nbkit_hidden"


class HiddenReference(ImportError):
    """A submission used an nbkit name hidden while its assignment is graded."""


def message(name: str, assignment: str) -> str:
    return (f"{name} is not available while {assignment} is graded: it is what this exercise "
            "asks you to write, so write your own")


class _Hidden:
    """Stands in for a hidden object: every use raises :class:`HiddenReference`."""

    __slots__ = ("_nbkit_message",)

    def __init__(self, name: str, assignment: str):
        object.__setattr__(self, "_nbkit_message", message(name, assignment))

    def _raise(self, *args, **kwargs):
        raise HiddenReference(self._nbkit_message)

    __call__ = __getitem__ = __iter__ = __len__ = __contains__ = __mro_entries__ = _raise

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._raise()

    def __setattr__(self, attr, value):
        self._raise()

    def __repr__(self):
        return f"<hidden: {self._nbkit_message.split(' is not')[0]}>"


def hidden(name: str, assignment: str) -> _Hidden:
    """The stub bound to a hidden name in a staged nbkit module."""
    return _Hidden(name, assignment)


# --------------------------------------------------------------------------------------------
# the declaration
# --------------------------------------------------------------------------------------------
def load_config(path: Path) -> dict[str, list[str]]:
    """``{assignment: [entry, ...]}`` from ``hidden_references.toml`` (missing file: ``{}``)."""
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = {}
    for assignment, table in data.items():
        entries = table.get("hidden", []) if isinstance(table, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ValueError(f"{path}: [{assignment}] needs hidden = [\"nbkit.module.name\", ...]")
        out[assignment] = entries
    return out


def _defined_names(module) -> set[str]:
    """Top-level names a module binds by def, class or assignment (not by import)."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def _nbkit_modules() -> dict[str, object]:
    import nbkit

    mods = {"nbkit": nbkit}
    for info in pkgutil.walk_packages(nbkit.__path__, "nbkit."):
        if info.name.startswith("nbkit.grading"):
            continue
        mods[info.name] = importlib.import_module(info.name)
    return mods


WHOLE_MODULE = "*"


def resolve(entries: list[str]) -> dict[str, set[str]]:
    """``{module: {name, ...}}`` to hide for ``entries``: each match, where it is defined and
    every nbkit module that binds the same object (``{"*"}``: the whole module, for an entry
    ``"<module>.*"``). Raises ``ValueError`` for an entry that matches nothing."""
    modules = _nbkit_modules()
    out: dict[str, set[str]] = {}
    for entry in entries:
        mod_name, _, pattern = entry.rpartition(".")
        if mod_name not in modules:
            raise ValueError(f"hidden reference {entry!r}: no module {mod_name!r} in nbkit")
        module = modules[mod_name]
        if pattern == WHOLE_MODULE:
            out.setdefault(mod_name, set()).add(WHOLE_MODULE)
        if any(ch in pattern for ch in "*?["):
            names = {n for n in _defined_names(module)
                     if fnmatch.fnmatchcase(n, pattern) and not n.startswith("__")}
        else:
            names = {pattern} if hasattr(module, pattern) else set()
        if not names:
            raise ValueError(f"hidden reference {entry!r}: {mod_name} has no name {pattern!r}")
        for name in names:
            obj = getattr(module, name)
            for other_name, other in modules.items():
                for key, value in vars(other).items():
                    if value is obj and not key.startswith("__") and _hideable(obj):
                        out.setdefault(other_name, set()).add(key)
            out.setdefault(mod_name, set()).add(name)
    return out


def _hideable(obj) -> bool:
    """Objects worth following to their aliases: not numbers, strings, None or modules."""
    return not isinstance(obj, (int, float, str, bytes, bool, type(None), type(ast)))


# --------------------------------------------------------------------------------------------
# staging a copy of nbkit
# --------------------------------------------------------------------------------------------
def _stub(name: str, dotted: str, assignment: str) -> ast.stmt:
    return ast.parse(f"{name} = _nbkit_hidden({dotted!r}, {assignment!r})").body[0]


def _stub_module(source: str, module: str, assignment: str) -> str:
    doc = ast.get_docstring(ast.parse(source)) or ""
    return (f"{doc!r}\n\n{_STUB_IMPORT}\n\n\ndef __getattr__(name):\n"
            "    if name.startswith('__'):\n        raise AttributeError(name)\n"
            f"    return _nbkit_hidden(f'{module}.{{name}}', {assignment!r})\n")


def _rewrite(source: str, module: str, names: set[str], assignment: str) -> str:
    if WHOLE_MODULE in names:
        return _stub_module(source, module, assignment)
    tree = ast.parse(source)
    body, done, derived = [], set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.name in names:
            body.append(_stub(node.name, f"{module}.{node.name}", assignment))
            done.add(node.name)
        elif isinstance(node, ast.ClassDef) and _uses(node.bases + node.keywords
                                                        + node.decorator_list, names | derived):
            body.append(_stub(node.name, f"{module}.{node.name}", assignment))
            derived.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            hit = [t.id for t in targets if isinstance(t, ast.Name) and t.id in names]
            if hit and len(hit) != len(targets):
                raise ValueError(f"{module}: cannot hide {hit} bound together with other names")
            if not hit and node.value is not None and _uses([node.value], names | derived):
                # built at import from a hidden object (a registry of them): hidden as well
                hit = [t.id for t in targets if isinstance(t, ast.Name)]
                if len(hit) != len(targets):
                    raise ValueError(f"{module}: cannot hide the targets of line {node.lineno}")
                derived.update(hit)
            if hit:
                body += [_stub(n, f"{module}.{n}", assignment) for n in hit]
                done.update(hit)
            else:
                body.append(node)
        elif isinstance(node, ast.ImportFrom):
            keep = [a for a in node.names if (a.asname or a.name) not in names]
            gone = [a.asname or a.name for a in node.names if (a.asname or a.name) in names]
            if keep:
                node.names = keep
                body.append(node)
            body += [_stub(n, f"{module}.{n}", assignment) for n in gone]
            done.update(gone)
        else:
            body.append(node)
    missing = names - done
    if missing:
        raise ValueError(f"{module}: cannot find the top-level binding of {sorted(missing)}")
    at = 0
    while at < len(body) and (isinstance(body[at], ast.ImportFrom) and body[at].module ==
                              "__future__" or (isinstance(body[at], ast.Expr) and isinstance(
                                  getattr(body[at], "value", None), ast.Constant))):
        at += 1
    tree.body = body[:at] + ast.parse(_STUB_IMPORT).body + body[at:]
    return ast.unparse(tree) + "\n"


def _uses(nodes, names: set[str]) -> bool:
    """Whether any of the expression ``nodes`` reads one of ``names`` (evaluated at import)."""
    return any(isinstance(n, ast.Name) and n.id in names
               for node in nodes for n in ast.walk(node))


def stage(dest: Path, assignment: str, entries: list[str]) -> Path:
    """Write ``dest/nbkit``: the nbkit package with ``entries`` hidden for ``assignment``
    (byte-compiled; read-only to the sandbox). Returns that folder."""
    import nbkit

    src = Path(nbkit.__file__).resolve().parent
    out = dest / "nbkit"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for f in (out / "grading").iterdir():
        if f.name not in KERNEL_SIDE:
            shutil.rmtree(f) if f.is_dir() else f.unlink()
    for module, names in resolve(entries).items():
        rel = Path(*module.split(".")[1:])
        path = out / rel / "__init__.py" if (out / rel).is_dir() else out / rel.with_suffix(".py")
        path.write_text(_rewrite(path.read_text(encoding="utf-8"), module, names, assignment),
                        encoding="utf-8")
    compileall.compile_dir(str(out), quiet=2)
    for p in [out, *out.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return out
