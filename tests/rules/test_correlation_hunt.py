"""`socmon hunt` evaluates the shipped correlation rules over a raw sshd log (no ES)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from socmon.rules.cli import hunt

SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "sigma"


def test_hunt_sshd_log_brute_force_and_spraying(tmp_path: Path) -> None:
    lines = [
        f"Nov 24 10:00:{i * 3:02d} portal-web-01 sshd[{1000 + i}]: Failed password for root "
        f"from 203.0.113.7 port {50000 + i} ssh2"
        for i in range(12)
    ]
    lines += [
        f"Nov 24 10:01:{i * 5:02d} portal-web-01 sshd[{2000 + i}]: Failed password for invalid "
        f"user {u} from 198.51.100.9 port {40000 + i} ssh2"
        for i, u in enumerate(["admin", "oracle", "test", "guest", "ubuntu", "pi"])
    ]
    lines.append(
        "Nov 24 10:02:00 portal-web-01 sshd[3000]: Accepted password for bob from 10.0.0.5"
    )
    log = tmp_path / "auth.log"
    log.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(hunt, ["--rules", str(SHIPPED), "--json", str(log)])
    assert res.exit_code == 0, res.output
    found = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    got = {(d["title"], d["group_by"]["source.ip"], len(d["events"])) for d in found}
    assert got == {
        ("SSH brute force", "203.0.113.7", 10),
        ("SSH password spraying", "198.51.100.9", 5),
    }
