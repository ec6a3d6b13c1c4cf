"""The plugin bootstrap's public name: upper layers (and packages outside this repository) register
under the entry-point group `t2t.plugins`; renaming it would silently drop every such plugin."""

import importlib.metadata
import re
from pathlib import Path

from t2t.core import plugins

ROOT = Path(__file__).resolve().parents[3]


def test_the_entry_point_group_is_t2t_plugins_in_code_and_package_metadata():
    groups = re.findall(r'^\[project\.entry-points\."([^"]+)"\]', (ROOT / "pyproject.toml").read_text(), re.M)
    assert plugins.GROUP == "t2t.plugins"
    assert groups == [plugins.GROUP]
    installed = {entry.value for entry in importlib.metadata.entry_points(group=plugins.GROUP)}
    assert "baselines.registration" in installed, "the installed metadata is stale: pip install -e ."
    assert "baselines.registration" in plugins.load_plugins()
