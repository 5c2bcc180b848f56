"""pulumi-azure-native (about 356 MB installed, 263 lazily loaded submodules) stays out of every
process that does not render an @azure token: the CLI's own import, a render of another cloud's
token, the core commands on an @azure token. Each runs in a fresh interpreter, which reports the
modules it ended with (`sys.modules`) on its last stderr line."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

AZURE = ("pulumi_azure_native", "reactor_infra_azure")  # the SDK, and the plugin that imports it

# argv[1:] as the console script's arguments (reactor_infra.cli.main, as `reactor-infra` runs it);
# none: only `import reactor_infra.cli`
CHECK = f"""
import json, sys
import reactor_infra.cli
code = 0
if sys.argv[1:]:
    sys.argv = ["reactor-infra", *sys.argv[1:]]
    try:
        reactor_infra.cli.main()
    except SystemExit as exit:
        code = exit.code or 0
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {AZURE!r})
print(json.dumps({{"exit": code, "loaded": loaded, "pulumi": "pulumi" in sys.modules}}), file=sys.stderr)
"""


def run(*args: str) -> tuple[dict, subprocess.CompletedProcess[str]]:
    result = subprocess.run([sys.executable, "-c", CHECK, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr.strip(), result.stderr[-2000:]
    return json.loads(result.stderr.strip().splitlines()[-1]), result


def test_the_sdk_this_checks_for_is_the_one_installed():
    """Else the checks below would pass whatever the code imports."""
    if importlib.util.find_spec("pulumi_azure_native") is None:
        pytest.skip("pulumi-azure-native is not installed (uv sync --extra azure)")
    assert importlib.util.find_spec("reactor_infra_azure") is not None


def test_importing_the_cli_imports_no_azure_sdk():
    report, _ = run()
    assert report["loaded"] == []


def test_rendering_another_clouds_token_imports_no_azure_sdk():
    report, result = run("render", "O2@aws")  # JSON by default, as with --json
    assert report["exit"] == 0, result.stderr[-2000:]
    assert report["pulumi"], "the render ran the Pulumi program"
    doc = json.loads(result.stdout)
    assert doc["topology"] == "O2@aws" and doc["resources"]
    assert report["loaded"] == []


@pytest.mark.parametrize("args", [["validate", "E5+ha@azure"], ["explain", "E5+ha@azure"]], ids=["validate", "explain"])
def test_core_commands_on_an_azure_token_import_no_azure_sdk(args):
    report, result = run(*args)
    assert report["exit"] == 0, result.stderr[-2000:]
    assert report["loaded"] == []
