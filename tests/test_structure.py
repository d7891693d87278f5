"""The house rules that code review would otherwise have to remember: no import circle among
asr's modules, and a training step that does not load evaluation's HTML report."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "asr"


def import_graph() -> dict[str, set[str]]:
    """Module -> the asr modules it imports anywhere in its text (lazy imports too)."""
    files = {".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
             for p in PACKAGE.rglob("*.py")}  # fmt: skip
    graph = {}
    for name, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("asr"):
                deps.add(node.module)
                names = (f"{node.module}.{a.name}" for a in node.names)
                deps.update(full for full in names if full in files)
        graph[name] = deps - {name, "asr"}  # the package itself re-exports; its modules never need it
    return graph


def test_no_import_circles():
    graph, circles = import_graph(), []

    def visit(module, path, done):
        for dep in graph.get(module, ()):
            if dep in path:
                circles.append(path[path.index(dep) :] + [dep])
            elif dep not in done:
                done.add(dep)
                visit(dep, [*path, dep], done)

    for module in graph:
        visit(module, [module], set())
    assert circles == []


def test_a_training_step_does_not_load_the_report():
    code = "import sys, asr.trainstep; print([m for m in ('asr.report', 'asr.lm.tune') if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_command_line_loads_no_corpus_preparer_until_one_is_named():
    code = ("import sys; from asr.cli import build_parser; build_parser().parse_args(['transcribe', 'x']); "
            "print([m for m in sys.modules if m.startswith('data_prep.')])")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_only_the_recognizer_runs_the_network_for_inference():
    """Calls of ``.model(...)``, ``.front_end``, ``.rnn`` or ``.head`` anywhere else would be a
    second inference path (the model's own layers, training's step and export's tracing aside)."""
    allowed = {"recognizer.py", "model.py", "trainstep.py", "export.py"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            func = node.func if isinstance(node, ast.Call) else None
            if isinstance(func, ast.Attribute) and func.attr in {"model", "front_end", "rnn", "head"}:
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []
