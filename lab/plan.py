"""What a job needs before it starts: the device it runs on, why, and the runs it needs first.

Each job module (`lab.rl.train`, `lab.xai.job`) has `prepare(spec, runs_dir) -> Plan`, called
before any run folder exists, and `run(spec, ctx)`. A job that needs another run (a policy to
explain that nobody trained yet) names its spec in `prerequisites`; the launcher runs it first,
in the same process, and hands the finished runs to the job as `ctx.prerequisites`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Plan:
    device: str
    device_reason: str
    prerequisites: list = field(default_factory=list)  # validated specs to run first, in order
