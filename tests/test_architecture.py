"""Imports point one way: `reproduce` -> `baselines` -> `t2t`.

`t2t` (the method library) never imports `baselines` or `reproduce`, and `baselines` never imports
`reproduce`. A lower layer learns about an upper one only through a registry the upper one fills:
the objectives declare and register themselves into `t2t.training.objective` from their own
modules, the training-free methods register their pooling modes into `t2t.embedding.pooling` from
`baselines.training_free`, and `reproduce.paper.methods` imports them all.

Three checks, each in a fresh interpreter where it imports anything (so one test's imports cannot
hide another's):

- every module of a package, imported, leaves no forbidden top-level package in `sys.modules`;
- building and keying a `StageSpec` imports neither spaCy nor peft (specs read only the objective's
  light declaration, never its implementation);
- no source file names a forbidden package in an import statement, or as a whole string literal
  (an `importlib` path, the hidden form of the same dependency).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
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


def _module_imports(path: Path, package: str) -> set[str]:
    """The `package.*` modules a file imports at module level (not inside functions)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks import nothing at run time
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(f"{package}."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(f"{package}."))
    return found


def test_reproduce_modules_import_each_other_without_cycles():
    """No module in `reproduce/` imports (at module level) one that imports it back, directly or
    through others: the planning half (grid, runner) sits above the building half (manifest,
    builders, claims, index), never the reverse."""
    folder = ROOT / "reproduce"
    graph = {f"reproduce.{p.stem}": _module_imports(p, "reproduce") for p in folder.glob("*.py")}
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in graph.get(module, ()):
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*path, module, target])
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])
    building = {"manifest", "collect", "builders", "tables", "figures", "claims", "index", "rebuild"}
    for name in building:
        imported = {m.split(".")[1] for m in graph[f"reproduce.{name}"]}
        assert not imported & {"grid", "runner", "methods", "presets", "compare", "verify"}, name


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
