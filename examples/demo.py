"""`make demo`: learn → profile → enforce → attacks blocked, on the bundled examples, locally.

Each step runs the functions through the real awslambdaric and the layer's wrapper script
(``sandbox.local.run_function``), against loopback stand-ins for their services (pricing, an
internal admin service, and AWS as a moto server). No AWS account, no network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repo, when run as a script from a checkout
sys.path.insert(0, str(HERE))

from services import function_env, loopback_services  # noqa: E402

from sandbox.local import run_function  # noqa: E402
from sandbox.profile import Profile  # noqa: E402
from sandbox.profile.build import build_profile  # noqa: E402
from sandbox.profile.diff import diff_profiles, show_profile  # noqa: E402

FUNCTIONS = {
    "orders": ("app.handler", HERE / "orders", "a realistic order API (S3, DynamoDB, HTTP, /tmp)"),
    "vulnerable": ("app.handler", HERE / "vulnerable", "a deliberately vulnerable function"),
}
REPO_PROFILES = HERE.parent / "profiles"
BOLD, DIM, RED, GREEN, RESET = "\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[0m"


def _c(code: str, text: str) -> str:
    return f"{code}{text}{RESET}" if sys.stdout.isatty() else text


def _events(folder: Path, ports: dict[str, int]) -> list[tuple[str, bytes]]:
    """Event files, with {PRICING_PORT}/{ADMIN_PORT}/{HOSTNAME} filled in for this run."""
    values = {
        "{PRICING_PORT}": str(ports["pricing"]),
        "{ADMIN_PORT}": str(ports["admin"]),
        "{HOSTNAME}": socket.gethostname(),  # answered by /etc/hosts: no DNS query ever leaves
    }
    out = []
    for path in sorted(folder.glob("*.json")):
        text = path.read_text()
        for key, value in values.items():
            text = text.replace(key, value)
        out.append((path.stem, text.encode()))
    return out


def _findings(log: list[str]) -> list[dict[str, Any]]:
    found = []
    for line in log:
        start = line.find('{"type":"sandbox.finding"')
        if start >= 0:
            found.append(json.loads(line[start:]))
    return found


def step(title: str) -> None:
    print(f"\n{_c(BOLD, '== ' + title)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=Path("build/demo"), help="working folder")
    args = parser.parse_args(argv)
    work: Path = args.work
    (work / "profiles").mkdir(parents=True, exist_ok=True)
    summary: list[tuple[str, str, str, str]] = []
    started = time.perf_counter()

    print(_c(BOLD, "lambda-sandbox demo: learn what a function does, then hold it to that."))
    with loopback_services() as ports:
        env = function_env(ports)
        print(
            _c(
                DIM,
                f"loopback services: pricing :{ports['pricing']}, internal admin "
                f":{ports['admin']}, AWS (moto) :{ports['moto']}",
            )
        )
        compiled: dict[str, Path] = {}
        for name, (handler, code_dir, what) in FUNCTIONS.items():
            benign = _events(code_dir / "events" / "benign", ports)
            step(f"1. LEARN  {name}: {what} — {len(benign)} benign events, mode=learn")
            log = work / f"{name}-learn.log"
            log.unlink(missing_ok=True)
            result = run_function(
                handler,
                [e for _, e in benign],
                code_dir=code_dir,
                mode="learn",
                log_file=log,
                env=env,
                function_name=name,
            )
            failed = [n for (n, _), r in zip(benign, result.results, strict=True) if not r.ok]
            print(f"   {len(benign) - len(failed)}/{len(benign)} invocations ok, one warm runtime")
            if failed:
                print(_c(RED, f"   learning failed ({', '.join(failed)}); see {log}"))
                return 1

            step(f"2. PROFILE {name}: build from the log, generalise, review")
            profile, report = build_profile(name, [str(log)], warn=lambda message: None)
            path = work / "profiles" / f"{name}.json"
            profile.save(path)
            counts = report.summary().splitlines()
            print(_c(DIM, "   " + (counts[2] if len(counts) > 2 else counts[-1])))
            shown = [
                line
                for line in show_profile(profile).splitlines()
                if line.rstrip().endswith("x]")  # the rule lines: "... (phase)  [Nx]"
            ]
            for line in shown[:10]:
                print("   " + line)
            if len(shown) > 10:
                print(_c(DIM, f"   … {len(shown) - 10} more in {path}"))
            reviewed = REPO_PROFILES / f"{name}.json"
            if reviewed.exists():
                changes = diff_profiles(
                    Profile.load(reviewed), profile, old_name=str(reviewed), new_name=str(path)
                )
                changed = [line for line in changes if line.lstrip("! ").startswith(("+ ", "- "))]
                where = reviewed.relative_to(HERE.parent)
                print(f"   review: {len(changed)} rule change(s) against the reviewed {where}")
                for line in changed[:4]:
                    print("   " + line)
            compiled[name] = work / "profiles" / f"{name}.compiled.json"
            compiled[name].write_text(json.dumps(Profile.load(path).compile(base_dir=path.parent)))

            step(f"3. ENFORCE {name}: replay the benign events, mode=enforce")
            result = run_function(
                handler,
                [e for _, e in benign],
                code_dir=code_dir,
                mode="enforce",
                profile=compiled[name],
                log_file=work / f"{name}-enforce.log",
                env=env,
                function_name=name,
            )
            for (event_name, _), res in zip(benign, result.results, strict=True):
                if not res.ok:
                    print(_c(RED, f"   {event_name}: FAILED {res.error_type}: {res.error_message}"))
                summary.append((name, event_name, "benign", "passed" if res.ok else "FAILED"))
            start = next(
                (
                    json.loads(line[line.find("{") :])
                    for line in result.log
                    if '"sandbox.start"' in line
                ),
                {},
            )
            layers = ", ".join(f"{k} {v}" for k, v in start.get("layers", {}).items())
            passed = sum(r.ok for r in result.results)
            print(f"   {passed}/{len(benign)} benign invocations passed; layers: {layers}")

        step("4. ATTACK vulnerable: the attack events, mode=enforce")
        handler, code_dir, _ = FUNCTIONS["vulnerable"]
        for event_name, event in _events(code_dir / "events" / "attack", ports):
            result = run_function(
                handler,
                [event],
                code_dir=code_dir,
                mode="enforce",
                profile=compiled["vulnerable"],
                env=env,
                function_name="vulnerable",
            )
            res = result.results[0]
            findings = _findings(result.log)
            blocked = (not res.ok) and any(f["decision"] == "blocked" for f in findings)
            mark = _c(GREEN, "BLOCKED") if blocked else _c(RED, "NOT BLOCKED")
            print(f"   {event_name:<28} {mark}  ({res.error_type or 'no error'})")
            # The first finding is the attack; later ones are its aftermath (e.g. the runtime's
            # traceback formatter trying to read the handler's source, which is also denied).
            for f in findings[:1]:
                who = f.get("who") or {}
                target = f["target"] + (" " + json.dumps(f["argv"]) if "argv" in f else "")
                print(f"      how:   {f['category']} {f['action']} {target}  [{f['reason']}]")
                print(
                    f"      where: {f['site']}  phase={f['phase']}  request={str(f['request_id'])[:8]}"
                )
                print(
                    f"      who:   {who.get('source_ip', '?')} {who.get('user_agent', '')} {who.get('method', '')} {who.get('path', '')}"
                )
            summary.append(
                ("vulnerable", event_name, "attack", "blocked" if blocked else "NOT BLOCKED")
            )

    step("SUMMARY")
    print(f"   {'function':<11} {'event':<28} {'kind':<7} result")
    for fn, ev, kind, outcome in summary:
        colour = GREEN if outcome in ("passed", "blocked") else RED
        print(f"   {fn:<11} {ev:<28} {kind:<7} {_c(colour, outcome)}")
    failures = [s for s in summary if s[3] not in ("passed", "blocked")]
    print(
        f"\n   {len(summary) - len(failures)}/{len(summary)} as expected in {time.perf_counter() - started:.1f} s;"
        f" profiles and logs in {work}/"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
