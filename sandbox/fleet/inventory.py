"""Inventory: every Python function, what the sandbox does on it, whom it talks to, its role's
excess over what it was seen doing, and its last findings with their callers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.fleet._api import AwsOptions, FleetError, call, error_code, paginate
from sandbox.fleet.functions import attachment, learning_status
from sandbox.fleet.layers import layer_name_of, read_profile_layer

__all__ = ["COLUMNS", "CSV_COLUMNS", "collect", "format_csv", "format_table", "row_for"]

LAST_FINDINGS = 5  # distinct findings kept per function, latest first

COLUMNS = (
    ("function", "FUNCTION"),
    ("runtime", "RUNTIME"),
    ("layer", "LAYER"),
    ("mode", "MODE"),
    ("profile", "PROFILE"),
    ("learning", "LEARNING"),
    ("iam", "IAM"),
    ("last_finding", "LAST FINDING"),
    ("talks_to", "TALKS TO"),
)


def _iam_check(
    opts: AwsOptions, config: Mapping[str, Any], meta: Mapping[str, Any]
) -> dict[str, Any]:
    """The role against the deployed profile's AWS calls (``iam check`` on the profile layer)."""
    from sandbox.fleet.iam import check_role, role_policies

    role_arn = str(config.get("Role") or "")
    document = {
        "rules": {"aws": [{"action": "call", "target": t} for t in meta.get("aws_calls") or []]}
    }
    try:
        policies = role_policies(opts.client("iam"), role_arn.rsplit("/", 1)[-1], opts)
        result = check_role(
            policies,
            document,
            function_arn=str(config.get("FunctionArn") or ""),
            function_name=str(config.get("FunctionName") or ""),
        )
    except Exception as exc:  # no IAM read access must not hide the rest of the row
        if isinstance(exc, FleetError) or type(exc).__module__.startswith("botocore"):
            return {"error": str(exc), "role": role_arn}
        raise
    return {"role": role_arn, **result.to_dict()}


def _row(
    opts: AwsOptions,
    config: dict[str, Any],
    *,
    cache_dir: Path | None,
    findings: bool,
    iam: bool,
    since_ms: int | None,
    min_invocations: int,
    quiet: dt.timedelta,
) -> dict[str, Any]:
    state = attachment(config)
    row: dict[str, Any] = {
        "function": config["FunctionName"],
        "runtime": config.get("Runtime"),
        "architecture": (config.get("Architectures") or ["x86_64"])[0],
        "attached": state.attached,
        "method": state.method,
        "layer": None,
        "mode": state.mode,
        "profile": None,
        "profile_layer": state.profile_layer,
        "learning": None,
        "learning_detail": None,
        "hosts": None,
        "aws_services": None,
        "profile_error": None,
        "iam": None,
        "last_finding": None,
        "last_findings": None,
        "history": [f"{m}@{v if v is not None else '-'}" for m, v in state.history],
    }
    if state.sandbox_layer:
        name, version = layer_name_of(state.sandbox_layer)
        row["layer"] = f"{name}:{version}"
    if state.profile_layer:
        row["profile"] = f"v{state.profile_version}"
        meta, why = read_profile_layer(opts, state.profile_layer, cache_dir=cache_dir)
        if meta is None:
            row["profile_error"] = why
        else:
            done, reason = learning_status(
                meta.get("learning", {}), min_invocations=min_invocations, quiet=quiet
            )
            row["learning"] = "done" if done else "learning"
            row["learning_detail"] = reason
            row["hosts"] = meta.get("hosts", [])
            row["aws_services"] = meta.get("aws_services", [])
            row["profile_sha256"] = meta.get("profile_sha256")
            if iam:
                row["iam"] = _iam_check(opts, config, meta)
    if findings:
        from sandbox.fleet.cwfindings import aggregate, read_findings

        try:
            groups = aggregate(
                read_findings(opts, config["FunctionName"], since_ms=since_ms)
            ).groups
            groups.sort(key=lambda g: str(g.get("last_seen") or ""), reverse=True)
            row["last_findings"] = [
                {
                    k: g.get(k)
                    for k in (
                        "last_seen",
                        "first_seen",
                        "count",
                        "category",
                        "action",
                        "target",
                        "decision",
                        "sites",
                        "who",
                    )
                }
                for g in groups[:LAST_FINDINGS]
            ]
            if groups:
                latest = groups[0]
                row["last_finding"] = {
                    "time": latest.get("last_seen"),
                    **{k: latest.get(k) for k in ("category", "action", "target", "decision")},
                    "site": (latest.get("sites") or [None])[0],
                    "count": latest.get("count"),
                    "who": latest.get("who"),
                }
        except FleetError as exc:
            row["last_finding"] = {"error": str(exc)}
    return row


def collect(
    opts: AwsOptions,
    names: Sequence[str] = (),
    *,
    cache_dir: Path | None = None,
    findings: bool = False,
    iam: bool = True,
    since_ms: int | None = None,
    min_invocations: int = 100,
    quiet: dt.timedelta = dt.timedelta(hours=24),
) -> list[dict[str, Any]]:
    """One row per Python function in the region (or per named function).

    Parameters
    ----------
    opts:
        Where to look.
    names:
        Only these functions (default: every Python function).
    cache_dir:
        Local cache of published profile zips (to read profiles moto or AWS will not serve).
    findings:
        Also read each function's latest findings, with their callers, from CloudWatch Logs
        (one scan each).
    iam:
        Compare each role with the AWS calls of the deployed profile (IAM reads per function).
    since_ms:
        Look for findings from this time (epoch ms).
    min_invocations, quiet:
        The learning-done criteria (see :func:`sandbox.fleet.functions.learning_status`).
    """
    client = opts.client("lambda")
    wanted = set(names)
    rows = []
    if wanted:
        from sandbox.fleet.cwfindings import require_function

        for name in sorted(wanted):
            require_function(opts, name)  # a name that does not exist is an error, not no row
    for config in paginate(client, "list_functions", "Functions", opts):
        if wanted and config["FunctionName"] not in wanted:
            continue
        if not str(config.get("Runtime") or "").startswith("python3"):
            continue
        rows.append(
            _row(
                opts,
                config,
                cache_dir=cache_dir,
                findings=findings,
                iam=iam,
                since_ms=since_ms,
                min_invocations=min_invocations,
                quiet=quiet,
            )
        )
    rows.sort(key=lambda r: str(r["function"]))
    return rows


def _callers(finding: Mapping[str, Any]) -> str:
    from sandbox.fleet.cwfindings import who_label

    who = finding.get("who") or []
    shown = "; ".join(f"{w.get('count')}x {who_label(w)}" for w in who[:3])
    more = f"; +{len(who) - 3} more" if len(who) > 3 else ""
    return f"by {shown}{more}" if who else "caller unknown"


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "layer":
        return row["layer"] or "-"
    if key == "mode":
        return row["mode"] if row["attached"] else "-"
    if key == "profile":
        return row["profile"] or "-"
    if key == "learning":
        if row["profile"] and row["learning"] is None:
            return "?"
        return row["learning"] or "-"
    if key == "iam":
        check = row.get("iam")
        if not check:
            return "-"
        if "error" in check:
            return "?"
        if check["ok"]:
            return "least"
        parts = []
        if check["over_permissive"]:
            parts.append(f"over ({len(check['over_permissive'])})")
        if check["missing"]:
            parts.append(f"missing ({len(check['missing'])})")
        return ", ".join(parts)
    if key == "last_finding":
        finding = row.get("last_finding")
        if not finding:
            return "-"
        if "error" in finding:
            return "error"
        return (
            f"{finding.get('time')} {finding.get('category')} {finding.get('target')} "
            f"({finding.get('decision')}, {finding.get('count')}x, {_callers(finding)})"
        )
    if key == "talks_to":
        if row["profile"] and row["hosts"] is None:
            return f"? ({row['profile_error']})"
        if row["hosts"] is None:
            return "-"
        parts = [*row["hosts"], *(f"aws:{s}" for s in row["aws_services"])]
        return ", ".join(parts) or "(nothing)"
    return str(row.get(key) or "-")


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Aligned text table (the last column unpadded)."""
    table = [[title for _, title in COLUMNS]]
    table.extend([_cell(row, key) for key, _ in COLUMNS] for row in rows)
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS) - 1)]
    lines = []
    for line in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])] + [line[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


CSV_COLUMNS = (
    "function",
    "runtime",
    "architecture",
    "attached",
    "method",
    "mode",
    "layer",
    "profile",
    "profile_layer",
    "learning",
    "learning_detail",
    "hosts",
    "aws_services",
    "iam",
    "iam_over_permissive",
    "iam_missing",
    "last_finding_time",
    "last_finding",
    "last_finding_count",
    "last_finding_who",
)


def _csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    from sandbox.fleet.cwfindings import who_label

    check = row.get("iam") or {}
    finding = row.get("last_finding") or {}
    return {
        **{k: row.get(k) for k in CSV_COLUMNS if k in row},
        "mode": row.get("mode") if row.get("attached") else None,
        "hosts": ";".join(row.get("hosts") or []),
        "aws_services": ";".join(row.get("aws_services") or []),
        "iam": _cell(dict(row), "iam") if check else None,
        "iam_over_permissive": ";".join(
            f"{p['kind']}: {p['detail']}" for p in check.get("over_permissive") or []
        ),
        "iam_missing": ";".join(check.get("missing") or []),
        "last_finding_time": finding.get("time"),
        "last_finding": " ".join(
            str(finding[k]) for k in ("decision", "category", "action", "target") if finding.get(k)
        )
        or finding.get("error"),
        "last_finding_count": finding.get("count"),
        "last_finding_who": ";".join(
            f"{w.get('count')}x {who_label(w)}" for w in finding.get("who") or []
        ),
    }


def format_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as CSV for a spreadsheet: one line per function, lists joined with ``;``.

    Example
    -------
    >>> format_csv([]).splitlines()[0].split(",")[:3]
    ['function', 'runtime', 'architecture']
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(_csv_row(row))
    return buffer.getvalue()


def row_for(
    opts: AwsOptions,
    function: str,
    *,
    cache_dir: Path | None = None,
    findings: bool = False,
    iam: bool = True,
    since_ms: int | None = None,
    min_invocations: int = 100,
    quiet: dt.timedelta = dt.timedelta(hours=24),
) -> dict[str, Any] | None:
    """The inventory row of one function (``None`` when it is not a Python function).

    Raises
    ------
    FleetError
        The function does not exist or cannot be read.

    Example
    -------
    >>> row_for(opts, "orders")["mode"]  # doctest: +SKIP
    'enforce'
    """
    try:
        config = call(
            opts.client("lambda"), "get_function_configuration", opts, FunctionName=function
        )
    except FleetError:
        raise
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise FleetError(f"{function}: no such function in {opts.region_name()}") from None
        raise FleetError(f"{function}: {error_code(exc) or type(exc).__name__}: {exc}") from exc
    if not str(config.get("Runtime") or "").startswith("python3"):
        return None
    row = _row(
        opts,
        config,
        cache_dir=cache_dir,
        findings=findings,
        iam=iam,
        since_ms=since_ms,
        min_invocations=min_invocations,
        quiet=quiet,
    )
    row["region"] = opts.region_name()
    return row
