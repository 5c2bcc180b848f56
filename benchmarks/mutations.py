"""Break one property at a time and check that a test (not a snapshot) fails.

    uv run python benchmarks/mutations.py            # every mutation
    uv run python benchmarks/mutations.py aws-world  # by name

Each mutation patches one source file (exact text -> replacement), runs the test files named
(snapshot tests deselected, so a test that states the property must catch it), and restores
the file. A mutation that every test survives is a hole in the suite: the script exits 1.
A new platform adds its mutations here (a world-open rule, a leaked secret, a wrong bind).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutation:
    name: str
    why: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    also: tuple[tuple[str, str], ...] = ()  # more (old, new) edits in the same file


MUTATIONS = (
    Mutation("swap-vault-nats-ports", "the app -> OpenBao and app -> NATS links swap ports in the Plan",
             "reactor_infra/links.py",
             'add(S.REACTOR_SERVER, S.OPENBAO, VAULT_API, "secrets (OpenBao API)")',
             'add(S.REACTOR_SERVER, S.OPENBAO, NATS_CLIENT, "secrets (OpenBao API)")',
             ("tests/test_plan.py", "tests/test_conformance.py")),
    Mutation("aws-world-open-tier-rule", "an aws tier-to-tier rule opened to 0.0.0.0/0",
             "platforms/aws/reactor_infra_aws/firewall.py",
             'return {"referenced_security_group_id": self.groups[link.source].id}',
             'return {"cidr_ipv4": ANYWHERE_V4}',
             ("tests/test_conformance.py", "tests/test_platform_aws.py")),
    Mutation("container-binds-loopback", "reactor-server binds 127.0.0.1 inside its container",
             "reactor_infra/catalogue.py",
             'env={"REACTOR_SERVER__BIND": f"{ANY}:{REACTOR}"}',
             'env={"REACTOR_SERVER__BIND": f"{LOOPBACK}:{REACTOR}"}',
             ("tests/test_catalogue.py", "tests/test_compose.py", "tests/test_platform_local.py")),
    Mutation("gateway-through-pooler", "gateway-server's DATABASE_URL goes through the pooler",
             "reactor_infra/catalogue.py",
             '@{ep.database_host}:{ep.database_port}"',
             '@{ep.pooler_host or ep.database_host}:{ep.pooler_port or ep.database_port}"',
             ("tests/test_catalogue.py", "tests/test_compose.py")),
    Mutation("local-secret-in-render", "a local container's environment loses its secret marking",
             "platforms/local/reactor_infra_local/service.py",
             "return pulumi.Output.secret(pulumi.Output.all(*[secrets[n] for n in names]).apply(lines))",
             "return pulumi.Output.unsecret(pulumi.Output.all(*[secrets[n] for n in names]).apply(lines))",
             ("tests/test_conformance.py", "tests/test_platform_local.py"),
             also=(('additional_secret_outputs=["envs"],', ""),)),
    Mutation("local-egress-for-all", "every local container joins the ordinary bridge",
             "platforms/local/reactor_infra_local/platform.py",
             "if ports or service in plan.egress_services:",
             "if True:",
             ("tests/test_conformance.py",)),
    Mutation("openbao-data-root-owned", "OpenBao keeps raft where its image has no directory",
             "reactor_infra/catalogue.py",
             'OPENBAO_DATA = "/openbao/file"',
             'OPENBAO_DATA = "/openbao/data"',
             ("tests/test_catalogue.py", "tests/test_compose.py")),
    Mutation("openbao-check-needs-unsealed", "OpenBao's container check fails while uninitialised (first boot stalls)",
             "reactor_infra/catalogue.py",
             'check=Probe(_sh(f"{health}?uninitcode=200&sealedcode=200&standbyok=true"),',
             'check=Probe(_sh(health),',
             ("tests/test_catalogue.py", "tests/test_compose.py")),
    Mutation("metadata-guard-open", "the metadata guard lets every container reach the instance role",
             "templates/metadata-guard.sh.j2",
             'iptables -w -A "$chain" -j REJECT --reject-with icmp-port-unreachable',
             'iptables -w -A "$chain" -j RETURN',
             ("tests/test_metadata_guard.py",)),
    Mutation("node-keeps-old-config", "a changed config never reaches the AWS node",
             "platforms/aws/reactor_infra_aws/node.py",
             "user_data_replace_on_change=True,",
             "user_data_replace_on_change=False,",
             ("tests/test_platform_aws.py",)),
    Mutation("names-from-the-token", "physical names come from the token, not the stack",
             "reactor_infra/naming.py",
             "return dns_safe(plan.name_prefix)",
             "return dns_safe(plan.topology.slug)",
             ("tests/test_stack_files.py",)),
)


def run(m: Mutation) -> tuple[bool, float, str]:
    """(killed, seconds, the first failing test)."""
    path = ROOT / m.path
    original = path.read_text()
    mutated = original
    for old, new in ((m.old, m.new), *m.also):
        if mutated.count(old) != 1:
            raise SystemExit(f"{m.name}: {old!r} is not in {m.path} exactly once; update the mutation")
        mutated = mutated.replace(old, new)
    path.write_text(mutated)
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-n", "2",
                               "-k", "not snapshot", *m.tests], cwd=ROOT, capture_output=True, text=True)
    finally:
        path.write_text(original)
    failed = next((ln for ln in done.stdout.splitlines() if ln.startswith("FAILED")), "")
    return done.returncode != 0, time.perf_counter() - start, failed


def main(names: list[str]) -> int:
    chosen = [m for m in MUTATIONS if not names or any(n in m.name for n in names)]
    survived = 0
    for m in chosen:
        killed, seconds, failed = run(m)
        survived += not killed
        verdict = "caught" if killed else "SURVIVED"
        print(f"{verdict:8} {m.name:<26} {seconds:5.1f}s  {m.why}")
        if failed:
            print(f"         by {failed[:150]}")
    print(f"{len(chosen) - survived}/{len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
