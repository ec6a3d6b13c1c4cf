"""Imports point one way: `reproduce` -> `baselines` -> `t2t`, and inside each, folder by folder.

`t2t` (the method library) never imports `baselines` or `reproduce`, and `baselines` never imports
`reproduce`. A lower layer learns about an upper one only through a registry the upper one fills:
the objectives declare and register themselves into `t2t.training.objective` from their own
modules, the training-free methods register their pooling modes into `t2t.embedding.pooling` from
`baselines.training_free`, and `reproduce.paper.methods` imports them all.

The rules are declared per folder (`LAYERS`, `WITHOUT_MODEL_STACK`) and checked on every module
found on disk, so a new module is covered without being listed:

- every import (module level or in a function) goes to the importer's own layer or an earlier one,
  and every folder on disk has a layer;
- no module-level import cycle, inside a folder or across the folders of one layer;
- the folders that read the store and write the outputs import without torch and the rest of the
  model stack (a fresh interpreter where those packages look uninstalled);
- every module of a package, imported in a fresh interpreter, leaves no forbidden top-level package
  in `sys.modules`; building and keying a `StageSpec` imports neither spaCy nor peft;
- no source file names a forbidden package in an import statement, or as a whole string literal
  (an `importlib` path, the hidden form of the same dependency).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
FORBIDDEN = {"t2t": {"baselines", "reproduce"}, "baselines": {"reproduce"}}
# Scripts run by path in another environment (llm2vec 0.2.3 with transformers 4.44): not importable here.
OTHER_ENVIRONMENT = {"baselines.parity.with_llm2vec", "baselines.parity.encode_speed"}

IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1])
skip = set(sys.argv[2:])
names = [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".") if m.name not in skip]
for name in names:
    importlib.import_module(name)
print(json.dumps({"modules": names, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""

BUILD_A_STAGE_SPEC = """
import json, sys
from t2t.core.config import ConfigError
from t2t.training.spec import ModelSpec, StageSpec
stages = (StageSpec(objective="data-driven", steps=1), StageSpec(objective="model-derived", steps=1))
ModelSpec(backbone="tiny-llama", stages=stages).stage_key(1)
loaded = sorted(sys.modules)
StageSpec(objective="mntp", steps=1)  # not declared by t2t: found through the plugins
try:
    StageSpec(objective="no-such-objective", steps=1)
    message = ""
except ConfigError as error:
    message = str(error)
print(json.dumps({"loaded": loaded, "after": sorted(sys.modules), "unknown": message}))
"""


def run_python(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_importing_every_module_of_a_package_loads_no_upper_layer(package):
    result = run_python(IMPORT_EVERY_MODULE, package, *sorted(OTHER_ENVIRONMENT))
    assert len(result["modules"]) > 5, "walk_packages found the package's modules"
    assert not FORBIDDEN[package] & set(result["loaded"])


@pytest.mark.slow
def test_building_a_stage_spec_imports_no_spacy_or_peft():
    """Validating options and hashing stages read the declaration (`ObjectiveInfo`) only. An
    objective t2t does not declare (`mntp`) is found through the `t2t.core.plugins` entry points, which
    import the upper layer's registering module only then; an unknown one names the plugins."""
    result = run_python(BUILD_A_STAGE_SPEC)
    loaded = set(result["loaded"])
    assert (
        not {"spacy", "peft", "t2t.text2token.objectives", "t2t.text2token.targets.data_driven", "baselines"}
        & loaded
    )
    assert {"baselines.registration", "baselines.mntp"} <= set(result["after"])
    assert "unknown objective 'no-such-objective'" in result["unknown"]
    assert "baselines.registration" in result["unknown"]


def forbidden_references(path: Path, forbidden: set[str]) -> list[str]:
    """`file:line: what` for each import of, or whole-string module path into, a forbidden package."""
    found = []
    module_path = re.compile(rf"^({'|'.join(sorted(forbidden))})(\.\w+)*(:\w+)?$")
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and module_path.match(node.value):
            names = [node.value]
        else:
            continue
        found += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
            for name in names
            if name.split(".")[0].split(":")[0] in forbidden
        ]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_source_file_names_an_upper_layer(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    assert [hit for path in files for hit in forbidden_references(path, FORBIDDEN[package])] == []


# The layers, lowest first. A unit is a folder of a top package (`t2t/core`), or a top package's own
# module (`reproduce/__main__.py`); `baselines` is one unit. A module imports (at module level or in
# a function) only modules of its own unit, of another unit of its own layer, or of an earlier layer.
# Both rules of the package order follow: `t2t` never imports `baselines` or `reproduce`, and
# `baselines` never imports `reproduce`.
LAYERS = (
    ("t2t.__init__",),
    ("t2t.core",),  # config, paths, atomic files, fingerprints, plugins: no model
    ("t2t.models",),  # backbone records and loading
    ("t2t.embedding",),  # pooling, encoder, embedding cache
    ("t2t.evaluation",),  # tasks, offline data, per-item scores
    # Text2Token's objectives are training objectives (training.objective declares their options),
    # so text2token and training import each other; the statistics resample evaluation's item scores.
    ("t2t.stats", "t2t.training", "t2t.text2token"),
    ("t2t.runs",),  # a run: train, evaluate, store; export and publish it
    ("t2t.__main__",),
    ("baselines",),
    ("reproduce.__init__",),
    ("reproduce.paper",),  # what is asked: output specs, presets, methods, reported numbers
    ("reproduce.cells",),  # manifests, stored scores, resamples
    ("reproduce.plan",),  # which runs fill which cells and what they cost
    ("reproduce.judge",),  # degenerate cells, verdicts
    ("reproduce.report",),  # tables, claims, figures, index
    ("reproduce.run",),  # execute a plan
    ("reproduce.perf", "reproduce.__main__"),  # nothing imports these
)
# Imports against the layers, each with where the imported name belongs (none today: weights_fingerprint
# moved to t2t.models.backbones, read_json to t2t.core.atomic). Any other one fails,
# and so does an entry here once its import is gone.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}
# Units every module of which imports without the model stack: `python -m reproduce tables` reads
# the store and writes tables, claims and figures on a machine without torch.
WITHOUT_MODEL_STACK = ("reproduce.cells", "reproduce.judge", "reproduce.report", "t2t.stats")
MODEL_STACK = ("torch", "transformers", "mteb", "spacy", "peft")
OWN = ("t2t", "baselines", "reproduce")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    """`t2t.core.config` -> `t2t.core`; `t2t` -> `t2t.__init__`; every `baselines.*` -> `baselines`."""
    parts = module.split(".")
    return (
        "baselines" if parts[0] == "baselines" else f"{parts[0]}.{parts[1] if len(parts) > 1 else '__init__'}"
    )


def own_modules() -> dict[str, Path]:
    """Every module of the three packages on disk (the scripts of another environment left out)."""
    paths = (path for package in OWN for path in sorted((ROOT / package).rglob("*.py")))
    return {module_name(path): path for path in paths if module_name(path) not in OTHER_ENVIRONMENT}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except those under `if TYPE_CHECKING:` (imported for annotations only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _runtime_nodes(node)


def imports_of(
    module: str, path: Path, known: dict[str, Path], top_level: bool = False
) -> Iterator[tuple[str, int]]:
    """(imported own module, line) for each import in `module`: all of them, or module level only."""
    nodes = ast.parse(path.read_text()).body if top_level else _runtime_nodes(ast.parse(path.read_text()))
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = module.split(".")[: len(module.split(".")) - node.level + (path.name == "__init__.py")]
            source = ".".join([*base, node.module] if node.level else [node.module or ""])
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        yield from ((target, node.lineno) for target in targets if target.split(".")[0] in OWN)


def layer_violations() -> dict[tuple[str, str], str]:
    """(importer, imported) -> why, for each import of a later layer's module."""
    layer = {unit: index for index, units in enumerate(LAYERS) for unit in units}
    known = own_modules()
    found = {}
    for module, path in known.items():
        for target, line in imports_of(module, path, known):
            here, there = unit_of(module), unit_of(target)
            if layer[there] > layer[here]:
                found[(module, target)] = (
                    f"{module} (line {line}) imports {target}: {here} is in layer {layer[here]}, "
                    f"{there} in layer {layer[there]}; a unit imports only its own or earlier layers"
                )
    return found


def test_every_folder_has_a_layer():
    """A new folder (or top-level module) is placed in `LAYERS` before any of its imports is trusted."""
    units = {unit_of(module) for module in own_modules()}
    declared = {unit for units in LAYERS for unit in units}
    assert units - declared == set(), "add these to LAYERS in tests/test_architecture.py"
    assert declared - units == set(), "these LAYERS entries name nothing on disk"


def test_every_import_follows_the_layers():
    """Every module found on disk, every import (module level or in a function; string module paths
    and `if TYPE_CHECKING:` imports are not dependencies at run time), against `LAYERS`."""
    found = layer_violations()
    assert [why for edge, why in sorted(found.items()) if edge not in KNOWN_EXCEPTIONS] == []
    assert [edge for edge in KNOWN_EXCEPTIONS if edge not in found] == [], (
        "gone: delete from KNOWN_EXCEPTIONS"
    )


def test_modules_import_each_other_without_cycles():
    """No module imports (at module level) one that imports it back, directly or through others,
    inside a unit or across the units of one layer."""
    known = own_modules()
    graph = {m: {t for t, _ in imports_of(m, path, known, top_level=True)} for m, path in known.items()}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*path, module, target])
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


IMPORT_WITHOUT_THE_MODEL_STACK = """
import importlib, importlib.abc, json, sys
blocked, own, modules = set(sys.argv[1].split(",")), set(sys.argv[2].split(",")), sys.argv[3:]
found = []

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] not in blocked:
            return None
        frame = sys._getframe(1)  # the own module whose import statement asked for it
        while frame and frame.f_globals.get("__name__", "").split(".")[0] not in own:
            frame = frame.f_back
        importer = f"{frame.f_globals['__name__']} (line {frame.f_lineno})" if frame else "?"
        found.append(f"importing {module} imports {name}: from {importer}")
        raise ModuleNotFoundError(name)

sys.meta_path.insert(0, Block())
for module in modules:
    try:
        importlib.import_module(module)
    except ImportError:
        pass
print(json.dumps(found))
"""


@pytest.mark.slow
def test_folders_without_the_model_stack_import_without_it():
    """Each module of a `WITHOUT_MODEL_STACK` unit, imported in a fresh process where torch,
    transformers, mteb, spaCy and peft look uninstalled, asks for none of them (the message names
    the module imported, the package asked for and the module and line that asked)."""
    modules = sorted(m for m in own_modules() if unit_of(m) in WITHOUT_MODEL_STACK)
    assert {unit_of(m) for m in modules} == set(WITHOUT_MODEL_STACK)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            IMPORT_WITHOUT_THE_MODEL_STACK,
            ",".join(MODEL_STACK),
            ",".join(OWN),
            *modules,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rule = f"rule: {', '.join(WITHOUT_MODEL_STACK)} import without {', '.join(MODEL_STACK)}"
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [], rule


def _requirement_names(requirements: list[str]) -> set[str]:
    return {
        re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].strip().lower().replace("_", "-") for req in requirements
    }


def test_every_directly_imported_package_is_declared():
    """A third-party package the suite imports itself (not only through another package) is a
    declared dependency in `pyproject.toml` (or a declared extra), so a fresh install never
    depends on what some other package happens to pull in."""
    import importlib.metadata

    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared |= _requirement_names(extra)
    distributions = importlib.metadata.packages_distributions()
    own = {"t2t", "baselines", "reproduce"}
    missing = set()
    for package in sorted(own):
        for path in sorted((ROOT / package).rglob("*.py")):
            if ".".join(path.relative_to(ROOT).with_suffix("").parts) in OTHER_ENVIRONMENT:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in own or top == "__future__":
                        continue
                    dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                    if not dists & declared:
                        missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"
