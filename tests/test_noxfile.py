"""The noxfile's installer choices (uv or virtualenv, pip's settings for uv, torch's CPU wheel),
checked without nox: the noxfile is loaded with a stand-in `nox` module."""

import importlib.util
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
# This machine's kind of pip configuration (`pip config list`).
PIP_LISTING = """\
:env:.cert='/etc/ssl/certs/ca-certificates.crt'
:env:.default-timeout='180'
:env:.disable-pip-version-check='1'
:env:.find-links='/opt/wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/ignored/under/the/env/value'
install.timeout='60'
"""


@pytest.fixture(scope="module")
def noxfile():
    fake = types.ModuleType("nox")
    fake.options = types.SimpleNamespace()
    fake.session = lambda *args, **kwargs: args[0] if args and callable(args[0]) else (lambda f: f)
    spec = importlib.util.spec_from_file_location("t2t_noxfile", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    saved_nox, saved_path = sys.modules.get("nox"), list(sys.path)
    sys.modules["nox"] = fake
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved_path
        if saved_nox is None:
            del sys.modules["nox"]
        else:
            sys.modules["nox"] = saved_nox
    return module


def test_uv_with_a_virtualenv_fallback_and_pip_untouched(noxfile):
    assert noxfile.nox.options.default_venv_backend == "uv|virtualenv"
    assert noxfile._installer("virtualenv") == ({}, (), (), "")  # pip reads its own configuration


def test_pip_configuration_is_read_as_pip_applies_it(noxfile):
    pip = noxfile.parse_pip_config(PIP_LISTING)
    assert pip["find-links"] == "/opt/wheels"  # PIP_* over the config files
    assert pip["extra-index-url"] == "file:///opt/pypi/simple file:///opt/pypi-more/simple"
    assert pip["timeout"] == "60" and pip["default-timeout"] == "180"


def test_pip_settings_become_uv_variables(noxfile):
    pip = noxfile.parse_pip_config(PIP_LISTING) | {"no-index": "1", "pre": "true", "require-hashes": "1"}
    env, options, left_out = noxfile.uv_settings(pip, {})
    assert env["UV_INDEX"] == "file:///opt/pypi/simple file:///opt/pypi-more/simple"
    assert env["UV_INDEX_STRATEGY"] == "unsafe-best-match"  # pip's best version across indexes
    assert env["UV_FIND_LINKS"] == "/opt/wheels"
    assert env["UV_CONSTRAINT"] == "/etc/xdg/pip/constraints.txt"
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert env["UV_PRERELEASE"] == "allow" and env["UV_HTTP_TIMEOUT"] in {"60", "180"}
    assert options == ["--no-index"] and left_out == [
        "require-hashes"
    ]  # disable-pip-version-check: pip's own
    assert noxfile.uv_settings({"find-links": "/a\n/b"}, {})[0] == {"UV_FIND_LINKS": "/a,/b"}
    # What is already set for uv (or its alias) wins, and then pip's index order is not changed.
    env, _, _ = noxfile.uv_settings(pip, {"UV_EXTRA_INDEX_URL": "https://mine", "SSL_CERT_FILE": "/mine"})
    assert not {"UV_INDEX", "UV_INDEX_STRATEGY", "SSL_CERT_FILE"} & set(env)


def test_torch_is_the_cpu_wheel_only_where_nothing_else_decides(noxfile):
    def options(pip=None, environ=None, linux=True, cuda=False):
        return noxfile.torch_backend_options(pip or {}, environ or {}, linux=linux, cuda=cuda)

    assert options() == ["--torch-backend", "cpu"]  # PyPI's Linux wheel is CUDA's
    assert options(cuda=True) == [] and options(linux=False) == []
    assert options(pip={"find-links": "/opt/wheels"}) == []  # the configured sources decide, as for pip
    assert options(pip={"constraint": "c.txt"}) == ["--torch-backend", "cpu"]
    assert options(environ={"UV_DEFAULT_INDEX": "https://mirror"}) == []
    assert options(environ={"UV_TORCH_BACKEND": "cu128"}) == []
