"""The offline render: the JSON contract, secret masking, determinism, isolation, errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest

from reactor_infra.errors import OperationError, PlatformMissingError, UserError
from reactor_infra.graph import SECRET
from reactor_infra.kit import Component
from reactor_infra.platforms import Deployment, Platform
from reactor_infra.render import render, render_stack_file
from reactor_infra.token import Modifier, parse
from renders import rendered_json

ROOT = Path(__file__).parent.parent
LEAK = "hunter2-very-secret-value"


class _Box(Component, platform="test"):
    def __init__(self, name: str, password: pulumi.Input[str], opts=None):
        super().__init__(name, "database", opts)
        import pulumi_random as random

        self.pw = random.RandomPassword(f"{name}-pw", length=24, opts=pulumi.ResourceOptions(parent=self))
        import pulumi_aws as aws

        self.param = aws.ssm.Parameter(
            f"{name}-param", type="SecureString", value=pulumi.Output.secret(password),
            description="a plain input", opts=pulumi.ResourceOptions(parent=self, protect=True))
        self.register_outputs({})


class TinyPlatform(Platform):
    """A test-only platform: one component with a secret input and a random password."""

    name = "aws"
    package = "test"
    sizes = frozenset({2, 3, 4, 5, 6, 10})
    modifiers = frozenset(Modifier)

    def __init__(self, fail: bool = False):
        self.fail = fail

    def deploy(self, plan) -> Deployment:
        box = _Box("box", LEAK)
        if self.fail:
            raise TypeError("Missing required property 'instance_class'")
        return Deployment(public_url="https://example.test", reactor_toml="[project]\n",
                          endpoints={"password": pulumi.Output.secret(LEAK), "box": box.param.arn})


def test_json_matches_the_render_contract():
    doc = json.loads(render("E5+ha@aws", platform=TinyPlatform()).to_json())
    assert doc["topology"] == "E5+ha@aws"
    assert set(doc) >= {"topology", "resources", "outputs"}
    keys = {"urn", "type", "name", "parent", "component", "inputs", "dependencies", "protect", "secret_inputs"}
    for r in doc["resources"]:
        assert keys <= set(r)
        assert r["urn"].startswith("urn:pulumi:e5-ha-aws::reactor-infra::")
        assert isinstance(r["dependencies"], list) and isinstance(r["inputs"], dict)
    (param,) = [r for r in doc["resources"] if r["type"] == "aws:ssm/parameter:Parameter"]
    assert param["component"] == "database"  # the tier of its reactor-infra component
    assert param["protect"] is True
    assert param["parent"].endswith("reactor-infra:test:_Box::box")
    assert param["urn"].endswith("reactor-infra:test:_Box$aws:ssm/parameter:Parameter::box-param")
    assert doc["outputs"]["token"] == "E5+ha@aws"


def test_secret_inputs_and_outputs_print_as_secret_in_every_view():
    graph = render("O2@aws", platform=TinyPlatform())
    for view in (graph.to_json(), graph.tree(), graph.mermaid()):
        assert LEAK not in view
    doc = json.loads(graph.to_json())
    (param,) = [r for r in doc["resources"] if r["type"] == "aws:ssm/parameter:Parameter"]
    assert param["inputs"]["value"] == SECRET and param["secret_inputs"] == ["value"]
    assert doc["outputs"]["endpoints"] == SECRET  # a map holding a secret is secret whole
    # the random password's mock value exists in memory, never in a view
    (pw,) = graph.find("random:index/randomPassword:RandomPassword")
    fake = graph.outputs_of(pw.urn)["result"]
    assert len(fake) > 10 and fake not in graph.to_json()


def test_masking_can_fail_negative_control():
    """If a secret were passed plainly, it would show: the check above is not vacuous."""
    class Leaky(TinyPlatform):
        def deploy(self, plan):
            import pulumi_aws as aws

            aws.ssm.Parameter("plain", type="String", value=LEAK, description=LEAK)
            return Deployment(public_url="x", reactor_toml="")

    doc = json.loads(render("O2@aws", platform=Leaky()).to_json())
    (param,) = doc["resources"]
    assert param["inputs"]["description"] == LEAK  # a plain input shows as it is
    # a schema secret (ssm Parameter.value) is masked even when the program forgot Output.secret
    assert param["inputs"]["value"] == SECRET and param["secret_inputs"] == ["value"]


def test_two_renders_are_byte_identical_and_do_not_leak_state():
    a = render("O2@aws").to_json()
    b = render("E2@aws").to_json()
    assert render("O2@aws").to_json() == a
    assert a != b


DIGESTS = """
import hashlib, json, sys
sys.path.insert(0, "tests")
from renders import default_settings
from reactor_infra.render import render
from reactor_infra.settings import load_settings
def one(t):
    settings = default_settings(t)
    return render(t, load_settings(settings) if settings else None).to_json()
print(json.dumps({t: hashlib.sha256(one(t).encode()).hexdigest() for t in sys.argv[1:]}))
"""


def _representatives() -> list[str]:
    """One built token per platform and size, the one with the most modifiers (then edition C,
    whose renders carry the most): every rung's code path, without rendering the whole matrix
    three more times as it grows to 378 tokens."""
    from test_conformance import TOKENS

    best: dict[tuple[str, int], str] = {}
    for token in TOKENS:
        t = parse(token)
        key, rank = (t.platform.value, t.size), (len(t.modifiers), t.edition.value == "C")
        current = best.get(key)
        if current is None or rank > (len(parse(current).modifiers), parse(current).edition.value == "C"):
            best[key] = token
    return sorted(best.values())


def test_every_rung_renders_identically_across_processes_and_hash_seeds():
    """Two processes render one token per platform and size (in opposite orders, different hash
    seeds); the bytes match each other and this process's renders. Within one process every
    built token is rendered twice by the snapshot and conformance tests."""
    TOKENS = _representatives()

    def start(seed: str, tokens: list[str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", DIGESTS, *tokens], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONHASHSEED": seed})

    runs = [start("1", TOKENS), start("2", TOKENS[::-1])]  # both at once: one per core
    first, second = (json.loads(run.communicate(timeout=900)[0]) for run in runs)
    assert all(run.returncode == 0 for run in runs)
    assert first == second
    here = {t: hashlib.sha256(rendered_json(t).encode()).hexdigest() for t in TOKENS}
    assert first == here


def test_a_failing_program_is_an_operation_error_not_a_hang():
    with pytest.raises(OperationError, match="instance_class"):
        render("O2@aws", platform=TinyPlatform(fail=True))
    assert render("O2@aws", platform=TinyPlatform()).count_of("aws:ssm/parameter:Parameter") == 1


def test_bad_input_is_said_before_pulumi_starts():
    with pytest.raises(UserError):
        render("E7@mars")
    with pytest.raises(UserError, match="domain: edition C serves each tenant"):
        render("C5+ha@aws")


def test_a_missing_platform_names_the_package_to_install(monkeypatch):
    from reactor_infra import platforms

    monkeypatch.setattr(platforms, "entry_points", lambda group: [])
    with pytest.raises(PlatformMissingError, match="pip install 'reactor-infra-gcp'"):
        render("O2@gcp")


def test_has_resource_and_count_of_match_partially():
    graph = render("O2@aws")
    assert graph.has_resource("aws:ec2/instance:Instance", metadataOptions={"httpTokens": "required"})
    assert not graph.has_resource("aws:ec2/instance:Instance", metadataOptions={"httpTokens": "optional"})
    assert graph.count_of("aws:ec2/vpc:Vpc") == 1 and graph.count_of("aws:rds/instance:Instance") == 0


def test_views_group_by_tier():
    graph = render("O2@aws")
    tree = graph.tree()
    assert tree.splitlines()[0].startswith("O2@aws (stack o2-aws): ")
    for tier in ("network", "node", "vault"):
        assert f"\n{tier}\n" in tree
    mermaid = graph.mermaid()
    assert mermaid.startswith("flowchart TB\n") and "subgraph node" in mermaid


@pytest.mark.parametrize("stack", sorted(p.name for p in (ROOT / "stacks").glob("Pulumi.*.yaml")))
def test_every_example_stack_renders_as_pulumi_up_would_run_it(stack):
    """`pulumi up -s <stack>` runs program.main() with the stack file's config."""
    graph = render_stack_file(ROOT / "stacks" / stack)
    assert graph.stack == stack.removeprefix("Pulumi.").removesuffix(".yaml")
    assert graph.outputs["token"] == graph.topology and graph.resources


def test_stack_config_with_an_unknown_key_is_refused(tmp_path):
    stack = tmp_path / "Pulumi.bad.yaml"
    stack.write_text("config:\n  reactor-infra:token: O2@aws\n  reactor-infra:regoin: x\n")
    with pytest.raises(UserError, match="unknown key 'regoin'"):
        render_stack_file(stack)


def test_the_core_alone_says_what_to_install_without_a_traceback():
    """Installed without any platform (and so without the Pulumi SDK)."""
    code = (
        "import sys\n"
        "sys.modules['pulumi'] = None  # as if not installed\n"
        "import reactor_infra.platforms as p\n"
        "p.entry_points = lambda group: []\n"
        "from reactor_infra.cli import app\n"
        "app(['render', 'O2@aws'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "pip install 'reactor-infra-aws'" in result.stderr


class _BadInput(TinyPlatform):
    """A platform bug the SDK only notices inside Pulumi's registration task."""

    def deploy(self, plan):
        import pulumi_aws as aws

        vpc = aws.ec2.Vpc("net", cidr_block="10.0.0.0/16")
        aws.ec2.Subnet("net-a", vpc_id=vpc.id, cidr_block=vpc.id.apply(lambda _: 1 / 0))
        return Deployment(public_url="x", reactor_toml="")


def test_a_failure_names_the_resource_and_the_program_line():
    with pytest.raises(OperationError) as info:
        render("O2@aws", platform=_BadInput())
    (line,) = info.value.lines()
    assert "in aws:ec2/subnet:Subnet 'net-a': ZeroDivisionError" in line
    assert f"{Path(__file__).name}:" in line  # the lambda's line, not a Pulumi SDK frame


def test_a_failing_render_prints_nothing_but_its_error():
    """Abandoned tasks of the failed program must not print asyncio tracebacks at exit."""
    code = (
        "import gc, sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_render import _BadInput\n"
        "from reactor_infra.render import render\n"
        "try:\n    render('O2@aws', platform=_BadInput())\n"
        "except Exception as e:\n    print(type(e).__name__)\n"
        "gc.collect()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.stdout.strip() == "OperationError"
    assert result.stderr == ""


def test_render_takes_a_stack_file_and_a_token_wins_over_its_own():
    path = ROOT / "stacks" / "Pulumi.o2-aws.yaml"
    graph = render(stack_file=path)
    assert (graph.stack, graph.topology) == ("o2-aws", "O2@aws")
    assert render("E2@aws", stack_file=path).outputs["token"] == "E2@aws"


def test_duplicate_resource_names_fail_as_the_engine_would():
    class Twice(TinyPlatform):
        def deploy(self, plan):
            import pulumi_aws as aws

            aws.ec2.Vpc("same", cidr_block="10.0.0.0/16")
            aws.ec2.Vpc("same", cidr_block="10.1.0.0/16")
            return Deployment(public_url="x", reactor_toml="")

    with pytest.raises(OperationError, match="share the URN"):
        render("O2@aws", platform=Twice())


def test_an_operator_secret_missing_outside_an_offline_render_is_refused_in_one_line():
    """Offline renders record operator secrets as [secret] stand-ins, only while their program
    runs: after one, a real run in the same process still refuses a missing secret."""
    from reactor_infra.errors import SettingsError
    from reactor_infra.kit import OFFLINE, operator_secret

    from renders import rendered

    rendered("C6@fly")  # operator secrets inside: the database password, the DNS token
    assert OFFLINE.get() is False
    with pytest.raises(SettingsError) as err:
        operator_secret("reactor-infra-fly", "databaseAdminPassword", "the admin role's password")
    message = str(err.value)
    assert "reactor-infra-fly:databaseAdminPassword" in message and "pulumi config set --secret" in message
    assert "\n" not in message.strip()
