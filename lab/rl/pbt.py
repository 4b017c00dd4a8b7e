"""Population-based training's decisions (Jaderberg et al. 2017), in numpy, for whatever trains
the members: which members copy which (exploit), the hyperparameters they go on with (explore),
and the record of both (each round's copies, each member's lineage).

The rules are Ray Tune's PopulationBasedTraining's, so that `[pbt]` means the same on lab's
engine and on Ray: the bottom `fraction` of members (at least one, at most half), ranked by the
mean return of the episodes they finished since the last round, each copy a member drawn from
the top `fraction`; each copied value is then resampled with `resample_probability`, else
multiplied by one of `factors` (a value of a list moves to a neighbour). Lab keeps a perturbed
value inside its range, where Tune would let it leave.

Members start from their [members.agent] values where given, else from draws of each setting's
range (log-uniform with `log`) or values, seeded by the run's seed: the fixed twin of a run
(`evolve = false`) starts from the same draws.
"""

from __future__ import annotations

import math

import numpy as np

PBT_SEED = 7_919  # mixed with the run's seed: PBT's draws are its own stream


def first_values(spec) -> dict[str, list[float]]:
    """Each explored setting's value for every member at the start of training."""
    rng = np.random.default_rng([spec.seed, PBT_SEED])
    out = {}
    for name, how in spec.pbt.explore.items():
        draws = [_draw(how, rng) for _ in range(spec.population)]  # drawn even where given: one stream whatever is given
        given = spec.members.get("agent", {}).get(name)
        out[name] = [float(v) for v in given] if given is not None else draws
    return out


def _draw(how, rng: np.random.Generator) -> float:
    if how.values is not None:
        return float(how.values[rng.integers(len(how.values))])
    lo, hi = how.range
    if how.log:
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return float(rng.uniform(lo, hi))


def quantile(members: int, fraction: float) -> int:
    """How many members are in the bottom (and in the top) of a round: Tune's ceil, at most half."""
    return max(1, min(math.ceil(members * fraction), members // 2))


class Evolution:
    """PBT's state over a run: every member's current hyperparameters (`values`), the step of the
    next round, the rounds so far (`rounds`: what each changed) and the generator of its draws.
    `state_dict` and `load_state_dict` carry it through resumable checkpoints (JSON)."""

    def __init__(self, spec):
        self.table, self.members = spec.pbt, spec.population
        self.values = {k: np.array(v, dtype=float) for k, v in first_values(spec).items()}
        self.rng = np.random.default_rng([spec.seed, PBT_SEED, 1])
        self.next_round = self.table.interval
        self.fitness = np.full(self.members, np.nan)  # each member's latest fitness (carried when it finished no episode)
        self.rounds: list[dict] = []

    def due(self, step: int) -> bool:
        return step >= self.next_round

    def round(self, step: int, fitness: np.ndarray) -> dict:
        """One round at `step`, given each member's mean return since the last round (nan where it
        finished no episode): the members to copy and their new values. Returns the round's
        record: {"step", "fitness", "copies": [{"member", "parent", "fitness", "parent_fitness",
        "hyperparameters"}], "hyperparameters"} (the last: every member's after the round)."""
        while self.next_round <= step:
            self.next_round += self.table.interval
        self.fitness = np.where(np.isfinite(fitness), fitness, self.fitness)
        copies = self.select() if self.table.evolve else []
        for c in copies:
            c["hyperparameters"] = {}
            for name, how in self.table.explore.items():
                value = self.explore(how, float(self.values[name][c["parent"]]))
                self.values[name][c["member"]] = value
                c["hyperparameters"][name] = value
        return self.record_round(step, copies)

    def record_round(self, step: int, copies: list[dict]) -> dict:
        """A round made (here, or by Tune's scheduler on Ray): kept in `rounds`, and its record."""
        self.rounds.append({"step": int(step), "copies": copies})
        return self._record(step, copies)

    def first_record(self) -> dict:
        """The record of the start (step 0): every member's first values, no fitness, no copies."""
        return self._record(0, [])

    def _record(self, step: int, copies: list[dict]) -> dict:
        return {"step": int(step), "fitness": [None if not np.isfinite(f) else round(float(f), 4) for f in self.fitness],
                "copies": copies, "hyperparameters": {k: [float(x) for x in v] for k, v in self.values.items()}}

    def select(self) -> list[dict]:
        """The bottom members (ranked by fitness; members with none yet sit out), each with a
        parent drawn from the top. Ties are broken at random."""
        ranked = [m for m in self.rng.permutation(self.members) if np.isfinite(self.fitness[m])]
        ranked.sort(key=lambda m: self.fitness[m])  # stable: the permutation breaks ties
        if len(ranked) < 2:
            return []
        q = quantile(len(ranked), self.table.fraction)
        bottom, top = ranked[:q], ranked[-q:]
        return [{"member": int(m), "parent": int(p), "fitness": round(float(self.fitness[m]), 4),
                 "parent_fitness": round(float(self.fitness[p]), 4)}
                for m, p in zip(bottom, self.rng.choice(top, size=len(bottom)))]

    def explore(self, how, value: float) -> float:
        """A copied value, perturbed or resampled (Tune's rules; kept inside the range)."""
        t = self.table
        if self.rng.random() < t.resample_probability:
            return _draw(how, self.rng)
        if how.values is not None:
            i = int(np.argmin([abs(v - value) for v in how.values]))
            return float(how.values[int(np.clip(i + self.rng.choice([-1, 1]), 0, len(how.values) - 1))])
        return float(np.clip(value * t.factors[self.rng.integers(2)], *how.range))

    def member_record(self, m: int) -> dict:
        """What the run's summary says of member m: its hyperparameters at the end, the member
        whose first weights its final weights descend from, and how many copies led there."""
        chain = lineage(self.rounds, m)
        return {"hyperparameters": {k: float(v[m]) for k, v in self.values.items()},
                "founder": chain[-1][1] if chain else m, "copies": len(chain)}

    def state_dict(self) -> dict:
        return {"values": {k: v.tolist() for k, v in self.values.items()}, "next_round": self.next_round,
                "fitness": [None if not np.isfinite(f) else float(f) for f in self.fitness],
                "rounds": self.rounds, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """ValueError (or KeyError, TypeError) for a state that is not one this run's PBT wrote."""
        values = state["values"]
        if set(values) != set(self.values) or any(len(v) != self.members for v in values.values()):
            raise ValueError(f"pbt: values of {sorted(values)} do not fit [pbt.explore] of {self.members} members")
        for name, v in values.items():
            how = self.table.explore[name]
            lo, hi = how.range if how.range is not None else (min(how.values), max(how.values))
            if not all(isinstance(x, (int, float)) and lo <= x <= hi for x in v):
                raise ValueError(f"pbt: values of {name} are not within {lo:g} .. {hi:g}")
        fitness = state["fitness"]
        if len(fitness) != self.members or not isinstance(state["next_round"], int) or not isinstance(state["rounds"], list):
            raise ValueError("pbt: fitness, next_round or rounds is not what PBT writes")
        for r in state["rounds"]:
            if not (isinstance(r, dict) and isinstance(r.get("step"), int) and isinstance(r.get("copies"), list) and all(
                    isinstance(c, dict) and all(isinstance(c.get(k), int) and 0 <= c[k] < self.members
                                                for k in ("member", "parent")) for c in r["copies"])):
                raise ValueError("pbt: rounds are not the rounds PBT writes (a step, and copies of members)")
        self.values = {k: np.array(v, dtype=float) for k, v in values.items()}
        self.fitness = np.array([np.nan if f is None else float(f) for f in fitness])
        self.next_round, self.rounds = state["next_round"], state["rounds"]
        self.rng.bit_generator.state = state["rng"]


def lineage(rounds: list[dict], m: int) -> list[tuple[int, int]]:
    """Member m's final weights' ancestry, newest first: (step, member copied) for each copy on
    the way back (after a copy at step s from p, the line goes on through p before s)."""
    chain, current = [], m
    for r in reversed(rounds):
        for c in r["copies"]:
            if c["member"] == current:
                chain.append((int(r["step"]), int(c["parent"])))
                current = int(c["parent"])
                break
    return chain


# --- reading a run's rounds back (its events: data, checked field by field) ----------------------
def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def read_round(event: dict, members: int | None = None) -> dict | None:
    """A `pbt` event as a round: {"step", "hyperparameters": {name: [value per member]},
    "copies": [{"member", "parent", ...}], "fitness": [...]}, with whatever does not fit left
    out; None where the event is not one (a folder is data: a doctored line is skipped)."""
    step, hyper = event.get("step"), event.get("hyperparameters")
    if not _number(step) or not isinstance(hyper, dict):
        return None
    values = {str(k): v for k, v in hyper.items() if isinstance(v, list) and v and all(_number(x) for x in v)}
    n = members or max((len(v) for v in values.values()), default=0)
    values = {k: v for k, v in values.items() if len(v) == n}
    copies = [c for c in event.get("copies") or [] if isinstance(c, dict) and all(
        isinstance(c.get(k), int) and not isinstance(c.get(k), bool) and 0 <= c[k] < n for k in ("member", "parent"))]
    fitness = event.get("fitness")
    fitness = [x if _number(x) else None for x in fitness] if isinstance(fitness, list) and len(fitness) == n else [None] * n
    return {"step": int(step), "hyperparameters": values, "copies": copies, "fitness": fitness, "members": n}


def read_rounds(events) -> list[dict]:
    """The rounds of a run's `pbt` events (read_round's), all of the first one's population and
    settings, in step order (a resumed run's repeated rounds: the latest of each step)."""
    by_step: dict[int, dict] = {}
    shape = None
    for e in events:
        if e.get("kind", "pbt") != "pbt":
            continue
        r = read_round(e, shape[0] if shape else None)
        if r is None or r["members"] == 0:
            continue
        if shape is None:
            shape = (r["members"], set(r["hyperparameters"]))
        if set(r["hyperparameters"]) == shape[1]:
            by_step[r["step"]] = r
    return [by_step[s] for s in sorted(by_step)]


def ancestor(rounds: list[dict], m: int, step: int) -> int:
    """The member whose weights member m's final weights came from just after `step`."""
    current = m
    for r in reversed(rounds):
        if r["step"] <= step:
            break
        for c in r["copies"]:
            if c["member"] == current:
                current = c["parent"]
                break
    return current


def schedule(rounds: list[dict], m: int, name: str) -> tuple[list[int], list[float]]:
    """The hyperparameter schedule PBT found for member m's line: `name`'s value after each
    round (the first round, at step 0, holds the first draws), of the member m descends from
    then (`ancestor`). These are the steps where its value may change; it holds between them.
    One walk back over the rounds."""
    steps, values, current = [], [], m
    for r in reversed(rounds):
        if name in r["hyperparameters"]:  # after this round, the line is `current`'s
            steps.append(r["step"])
            values.append(r["hyperparameters"][name][current])
        for c in r["copies"]:
            if c["member"] == current:
                current = c["parent"]
                break
    return steps[::-1], values[::-1]


def family(rounds: list[dict]) -> list[dict]:
    """The family tree as rows, one per member: its founder (the member whose first weights its
    weights descend from), its line back ([(step, member copied)], newest first), its latest
    hyperparameters and fitness."""
    if not rounds:
        return []
    last = rounds[-1]
    rows = []
    for m in range(last["members"]):
        chain = lineage(rounds, m)
        rows.append({"member": m, "founder": chain[-1][1] if chain else m, "line": chain,
                     "hyperparameters": {k: v[m] for k, v in last["hyperparameters"].items()},
                     "fitness": last["fitness"][m]})
    return rows


def line_text(chain: list[tuple[int, int]], shown: int = 4) -> str:
    """'<-3 at 40,960 <-12 at 20,480' of a line back (newest first; '...' past `shown`)."""
    if not chain:
        return "its own"
    text = " ".join(f"<-{p} at {s:,}" for s, p in chain[:shown])
    return text + (f" ... ({len(chain)} copies)" if len(chain) > shown else "")
