"""Inventory: every Python function, what the sandbox does on it, and whom it talks to."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox.fleet._api import AwsOptions, FleetError, paginate
from sandbox.fleet.functions import attachment, learning_status
from sandbox.fleet.layers import layer_name_of, read_profile_layer

__all__ = ["COLUMNS", "collect", "format_table"]

COLUMNS = (
    ("function", "FUNCTION"),
    ("runtime", "RUNTIME"),
    ("layer", "LAYER"),
    ("mode", "MODE"),
    ("profile", "PROFILE"),
    ("learning", "LEARNING"),
    ("last_finding", "LAST FINDING"),
    ("talks_to", "TALKS TO"),
)


def _row(
    opts: AwsOptions,
    config: dict[str, Any],
    *,
    cache_dir: Path | None,
    findings: bool,
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
        "last_finding": None,
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
    if findings:
        from sandbox.fleet.cwfindings import read_findings

        try:
            latest: dict[str, Any] | None = None
            for record in read_findings(opts, config["FunctionName"], since_ms=since_ms):
                if latest is None or str(record.get("time", "")) >= str(latest.get("time", "")):
                    latest = record
            if latest is not None:
                row["last_finding"] = {
                    k: latest.get(k)
                    for k in ("time", "category", "action", "target", "decision", "site")
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
        Also read each function's latest finding from CloudWatch Logs (one scan each).
    since_ms:
        Look for findings from this time (epoch ms).
    min_invocations, quiet:
        The learning-done criteria (see :func:`sandbox.fleet.functions.learning_status`).
    """
    client = opts.client("lambda")
    wanted = set(names)
    rows = []
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
                since_ms=since_ms,
                min_invocations=min_invocations,
                quiet=quiet,
            )
        )
    rows.sort(key=lambda r: str(r["function"]))
    return rows


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
    if key == "last_finding":
        finding = row.get("last_finding")
        if not finding:
            return "-"
        if "error" in finding:
            return "error"
        return (
            f"{finding.get('time')} {finding.get('category')} {finding.get('target')} "
            f"({finding.get('decision')})"
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
