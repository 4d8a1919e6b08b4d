"""CPU time and resident memory of chosen processes, from Linux's /proc, so one program is measured
apart from the load generator and the emulators that share the machine."""

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float  # user + system time so far
    rss_bytes: int


def parse_stat(text: str) -> float:
    """User + system CPU seconds from a /proc/<pid>/stat line (the name may hold spaces and parens)."""
    fields = text.rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of the whole line
    return (utime + stime) / CLK_TCK


def parse_rss(status: str) -> int:
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0  # a zombie has no VmRSS


def usage(pid: int) -> Usage:
    """The process's CPU seconds and RSS now; zero for a process that is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        status = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return Usage(0.0, 0)
    return Usage(parse_stat(stat), parse_rss(status))


def total(pids: list[int]) -> Usage:
    found = [usage(pid) for pid in pids]
    return Usage(sum(u.cpu_s for u in found), sum(u.rss_bytes for u in found))


@dataclass(frozen=True, slots=True)
class Machine:
    busy_s: float  # every core summed, stolen time included
    stolen_s: float  # time a virtual machine's host gave to someone else while we were ready to run


def parse_machine(stat: str) -> Machine:
    """The whole machine's CPU seconds since boot, from the `cpu` line of /proc/stat."""
    ticks = [int(v) for v in stat.splitlines()[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return Machine((sum(ticks) - idle) / CLK_TCK, ticks[7] / CLK_TCK)


def machine() -> Machine:
    return parse_machine((PROC / "stat").read_text())


def family(pid: int) -> list[int]:
    """`pid` and every process descended from it (Kamailio's and PostgreSQL's workers), now."""
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = [pid], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found
