"""The red-team cases (registered into harness.CASES)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import assets as A
from harness import BASE, HOSTILE, IDS, LAB, PY, FILES, Result, case, run_cmd

ALL_SWEEP_RUNS = ("POPRUN", "LOCRUN1", "LOCRUN2", "MIDRUN")


class Marker:
    """A pickle that writes a marker file when unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def pickle_bytes(ctx, name="pickle") -> bytes:
    return pickle.dumps({"net": Marker(ctx.marks / name)})


def mkfifo(path: Path):
    if path.exists() or path.is_symlink():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    os.mkfifo(path)


def replace_with_link(path: Path, target):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def lab(*args, **kw):
    return lambda ctx: ctx.lab(*[a(ctx) if callable(a) else a for a in args], **kw)


def rid(key):
    return lambda ctx: ctx.id(key)


def rpath(key, *rest):
    return lambda ctx: str(ctx.run(key).joinpath(*rest))


# =============================================================================== code a folder names

EVIL_ENV = 'id = "evilmod:CartPole-v1"'


def spec_env(key, new):
    return lambda ctx: ctx.spec_replace(key, 'id = "CartPole-v1"', f'id = "{new}"')


for cmd in ("eval", "explain", "show"):
    case(f"code-envid-module-{cmd}", "code", lab(cmd, rid("PPO")), setup=spec_env("PPO", "evilmod:CartPole-v1"),
         rc=(0,) if cmd == "show" else (2,))
case("code-envid-module-record", "code", lab("record", rid("PPO"), "--out", lambda c: str(c.dir / "x.gif")),
     setup=spec_env("PPO", "evilmod:CartPole-v1"))
case("code-envid-module-run-folder", "code", lab("run", rpath("PPO")), setup=spec_env("PPO", "evilmod:CartPole-v1"))
case("code-envid-module-resume", "code", lab("resume", rid("SPPO")), setup=spec_env("SPPO", "evilmod:CartPole-v1"))
case("code-envid-class-form-eval", "code", lab("eval", rid("PPO")), setup=spec_env("PPO", "evilmod:Env"))
case("code-envid-package-registers-eval", "code", lab("eval", rid("PPO")), setup=spec_env("PPO", "evilpkg.sub:Evil-v0"))
case("code-envid-path-module-eval", "code", lab("eval", rid("PPO")), setup=spec_env("PPO", "../pp/evilmod:CartPole-v1"))
case("code-envid-os-module-eval", "code", lab("eval", rid("PPO")), setup=spec_env("PPO", "os:system"))
case("code-envid-lab-abstract-class-eval", "code", lab("eval", rid("PPO")),
     setup=spec_env("PPO", "lab.engine.envs.vector:TorchVecEnv"))
case("code-envid-lab-cli-main-eval", "code", lab("eval", rid("PPO")), setup=spec_env("PPO", "lab.cli:main"))


def agent_class(key, ref):
    def setup(ctx):
        p = ctx.run(key) / "spec.toml"
        text = p.read_text()
        p.write_text(f'agent_class = "{ref}"\n' + text)
    return setup


case("code-agent-class-eval", "code", lab("eval", rid("PPO")), setup=agent_class("PPO", "evilmod:Agent"))
case("code-agent-class-gymnasium-engine-eval", "code", lab("eval", rid("DQN")), setup=agent_class("DQN", "evilpkg:Agent"))
case("code-agent-class-resume", "code", lab("resume", rid("SPPO")), setup=agent_class("SPPO", "evilmod:Agent"))


def sweep_toml_evil(ctx):
    """STOPSW's sweep.toml names an experiment file outside the folder whose env names evilmod."""
    exp = ctx.outside / "evil-exp.toml"
    text = (FILES / "mid-taxi.toml").read_text().replace('id = "Taxi-v4"', 'id = "evilmod:Taxi-v4"')
    exp.write_text(text)
    p = ctx.run("STOPSW") / "sweep.toml"
    t = p.read_text()
    import re
    p.write_text(re.sub(r'experiment = ".*"', f'experiment = "{exp}"', t))


case("code-sweep-toml-experiment-resume", "code", lab("sweep", "--resume", rid("STOPSW")), setup=sweep_toml_evil,
     target=("STOPSW",))
case("code-sweep-toml-experiment-show", "code", lab("show", rid("STOPSW")), setup=sweep_toml_evil, rc=(0,),
     target=("STOPSW",))


def best_toml_evil(ctx):
    p = ctx.run("LOCSW") / "best.toml"
    p.write_text(p.read_text().replace('id = "Taxi-v4"', 'id = "evilmod:Taxi-v4"'))


case("code-best-toml-run", "code", lab("run", rpath("LOCSW", "best.toml")), setup=best_toml_evil)


def best_toml_copied(ctx):  # a sweep folder's best.toml copied beside a stranger's summary.json
    d = ctx.outside / "shared"
    d.mkdir()
    (d / "best.toml").write_text((ctx.run("LOCSW") / "best.toml").read_text().replace('id = "Taxi-v4"', 'id = "evilmod:Taxi-v4"'))
    (d / "events.jsonl").write_text("")


case("code-best-toml-beside-events-run", "code", lab("run", lambda c: str(c.outside / "shared" / "best.toml")),
     setup=best_toml_copied, note="a file beside events.jsonl counts as folder data")


def policy_run_outside(ctx):
    evil = ctx.outside / "evilrun"
    shutil.copytree(ctx.run("PPO"), evil)
    t = (evil / "spec.toml").read_text().replace('id = "CartPole-v1"', 'id = "evilmod:CartPole-v1"')
    (evil / "spec.toml").write_text(t)
    ctx.results("WINE", policy_run=str(evil))


case("code-explain-policy-run-outside", "code", lab("explain", rid("WINE")), setup=policy_run_outside)


def data_path_outside(ctx):
    (ctx.outside / "secret.csv").write_text("a,b,target\nSECRET-LEAKED,1,0\n2,3,1\n")
    p = ctx.run("WINE") / "spec.toml"
    t = p.read_text().replace('dataset = "wine"', f'dataset = "csv"\npath = "../../outside/secret.csv"\ntarget = "target"')
    p.write_text(t)


def no_secret(ctx, res):
    if res is not None and b"SECRET-LEAKED" in res.out + res.err:
        return ["read a file outside the folder (data.path) and printed its content"]
    return []


case("code-data-path-outside-run-folder", "code", lab("run", rpath("WINE")), setup=data_path_outside, custom=no_secret,
     note="data.path from a folder's spec.toml names a file outside it")


def from_run_outside(ctx):
    evil = ctx.outside / "evilrun"
    shutil.copytree(ctx.run("PPO"), evil)
    t = (evil / "spec.toml").read_text().replace('id = "CartPole-v1"', 'id = "evilmod:CartPole-v1"')
    (evil / "spec.toml").write_text(t)
    p = ctx.run("WINE") / "spec.toml"
    t = p.read_text()
    import re
    t = re.sub(r"\[data\][^\[]*", "", t)
    t = re.sub(r"\[model\][^\[]*", f'[model]\nfrom_run = "{evil}"\n\n', t)
    p.write_text(t)


case("code-from-run-outside-run-folder", "code", lab("run", rpath("WINE")), setup=from_run_outside)


def shadow_sweep(ctx):
    pass


case("code-local-sweep-children-shadow-modules", "code", lab("sweep", str(FILES / "tiny-local-sweep.toml")),
     rc=(0,), new_ok=True, note="cwd full of numpy.py, torch.py, lab.py ... ; children must start with -P")
case("code-python-m-lab-runs-in-hostile-cwd", "code",
     lambda ctx: run_cmd([PY, "-P", "-m", "lab", "runs", "--runs-dir", str(ctx.runs)], ctx.dir, ctx.env()), rc=(0,))

# =============================================================================== resume

def restore_and_resume(key, undo):
    """After the refused resume: put the file back, and the run must resume (all or nothing)."""
    def custom(ctx, res):
        undo(ctx)
        r = ctx.lab("resume", ctx.id(key))
        if r.rc != 0:
            return [f"after restoring, resume exits {r.rc}: {r.err.decode()[-300:]!r} (the failed resume ruined the run)"]
        return []
    return custom


def save_copy(key, rel):
    def setup(ctx):
        src = ctx.run(key) / rel
        shutil.copy2(src, ctx.dir / "saved.bin")
    return setup


def restore_copy(key, rel):
    def undo(ctx):
        dst = ctx.run(key) / rel
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        elif dst.exists() or dst.is_symlink():
            dst.unlink()
        shutil.copy2(ctx.dir / "saved.bin", dst)
    return undo


def chain(*fns):
    def f(ctx):
        for fn in fns:
            fn(ctx)
    return f


def resume_state_path(ctx, key):
    return ctx.run(key) / "checkpoints" / "resume.json"


def edit_resume_json(key, fn):
    def setup(ctx):
        p = resume_state_path(ctx, key)
        d = json.loads(p.read_text())
        fn(ctx, d)
        p.write_text(json.dumps(d))
    return setup


case("resume-spec-edited-nenvs", "resume", lab("resume", rid("SPPO")),
     setup=chain(save_copy("SPPO", "spec.toml"), lambda c: c.spec_replace("SPPO", "n_envs = 32", "n_envs = 16")),
     target=("SPPO",), custom=restore_and_resume("SPPO", restore_copy("SPPO", "spec.toml")), may_change=("SPPO",))
case("resume-spec-edited-algo-params", "resume", lab("resume", rid("SDQN")), rc=(0, 2), target=("SDQN",), may_change=("SDQN",),
     setup=lambda c: c.spec_replace("SDQN", "batch_size = 64", "batch_size = 128"), note="accepted: a hyperparameter change fits the state")
case("resume-resume-json-garbage", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: resume_state_path(c, "SPPO").write_bytes(os.urandom(5000)))
case("resume-resume-json-path-up", "resume", lab("resume", rid("SPPO")),
     setup=edit_resume_json("SPPO", lambda c, d: d["files"].update(agent="../../outside/victim.pt")))
case("resume-resume-json-path-absolute", "resume", lab("resume", rid("SPPO")),
     setup=edit_resume_json("SPPO", lambda c, d: d["files"].update(agent=str(c.outside / "victim.pt"))))
case("resume-resume-json-path-other-run", "resume", lab("resume", rid("STAXI")),
     setup=edit_resume_json("STAXI", lambda c, d: d["files"].update(agent=f"../{c.id('TAXI')}/checkpoints/" + os.path.basename(
         json.loads((c.run('TAXI') / 'checkpoints/resume.json').read_text())['files']['agent']))))
for label, value in (("negative", -1), ("huge", 10**30), ("float", 1e308), ("string", "12"), ("bool", True)):
    case(f"resume-resume-json-step-{label}", "resume", lab("resume", rid("SPPO")),
         setup=edit_resume_json("SPPO", lambda c, d, v=value: d.update(step=v)))
case("resume-resume-json-deep", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: A.deep_json(resume_state_path(c, "SPPO")))
case("resume-resume-json-fifo", "resume", lab("resume", rid("STAXI")), setup=lambda c: mkfifo(resume_state_path(c, "STAXI")))
case("resume-resume-json-rng-garbage", "resume", lab("resume", rid("SPPO")),
     setup=edit_resume_json("SPPO", lambda c, d: d.update(rng={"python": [3, [1] * 10, None], "numpy": ["X"], "torch": [1, 2]})),
     target=("SPPO",), custom=restore_and_resume("SPPO", lambda c: None) if False else None)
case("resume-resume-json-agent-step-mismatch", "resume", lab("resume", rid("STAXI")),
     setup=edit_resume_json("STAXI", lambda c, d: d["agent"].update(step=5)))


def ckpt(ctx, key):
    d = json.loads(resume_state_path(ctx, key).read_text())
    return ctx.run(key) / d["files"]["agent"]


case("resume-checkpoint-truncated", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: ckpt(c, "SPPO").write_bytes(ckpt(c, "SPPO").read_bytes()[:3000]))
case("resume-checkpoint-pickle", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: ckpt(c, "SPPO").write_bytes(pickle_bytes(c)))


def torch_pickle_zip(ctx, path):
    """A real torch zip checkpoint whose data.pkl holds a marker-writing reduce."""
    import io
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for n in src.namelist():
            blob = src.read(n)
            if n.endswith("data.pkl"):
                blob = pickle.dumps(Marker(ctx.marks / "torch-pickle"), protocol=2)
            z.writestr(n, blob)
    path.write_bytes(out.getvalue())


case("resume-checkpoint-torch-zip-pickle", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: torch_pickle_zip(c, ckpt(c, "SPPO")))


def wrong_shapes(ctx, key, src_key="REINF"):
    import glob
    src = ctx.run(src_key) / "checkpoints" / "best.pt"
    shutil.copy(src, ckpt(ctx, key))


case("resume-checkpoint-wrong-network", "resume", lab("resume", rid("SPPO")), setup=lambda c: wrong_shapes(c, "SPPO"))
case("resume-checkpoints-dir-link-other-run", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: replace_with_link(c.run("SPPO") / "checkpoints", c.run("PPO") / "checkpoints"))
case("resume-checkpoints-dir-link-relative", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: replace_with_link(c.run("SPPO") / "checkpoints", f"../{c.id('PPO')}/checkpoints"))
case("resume-checkpoint-file-link-outside", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: replace_with_link(ckpt(c, "SPPO"), c.outside / "victim.pt"))
case("resume-artifacts-link-outside", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: replace_with_link(c.run("SPPO") / "artifacts", c.outside))
case("resume-events-link-other-run", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: replace_with_link(c.run("SPPO") / "events.jsonl", c.run("PPO") / "events.jsonl"))
case("resume-run-folder-is-link", "resume", lab("resume", "linked-run"),
     setup=lambda c: (c.runs / "linked-run").symlink_to(c.run("SPPO")), target=("SPPO",))


def deep_link(ctx):
    """A link deep in the folder, behind more entries than first_link looks at (100,000)."""
    d = ctx.run("SPPO") / "artifacts" / "a"
    d.mkdir(parents=True)
    for i in range(100_200):
        (d / f"f{i}").touch()
    ckpt_dir = ctx.run("SPPO") / "checkpoints"
    # the resume point's agent file as a link to another run's file
    rel = ckpt(ctx, "SPPO")
    other = ctx.run("PPO") / "checkpoints" / "victim-copy.pt"
    shutil.copy(rel, other)
    replace_with_link(rel, other)
    # make artifacts come first in os.walk order if possible: nothing to do but hope; record the order
    (ctx.dir / "walk-order.txt").write_text(" ".join(os.listdir(ctx.run("SPPO"))))


case("resume-link-behind-100k-entries", "resume", lab("resume", rid("SPPO")), setup=deep_link, rc=(2,),
     target=("SPPO",), note="first_link stops after 100,000 entries")
case("resume-events-fifo", "resume", lab("resume", rid("SPPO")), setup=lambda c: mkfifo(c.run("SPPO") / "events.jsonl"), target=("SPPO",))
case("resume-events-directory", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: ((c.run("SPPO") / "events.jsonl").unlink(), (c.run("SPPO") / "events.jsonl").mkdir()), target=("SPPO",))
case("resume-spec-fifo", "resume", lab("resume", rid("SPPO")), setup=lambda c: mkfifo(c.run("SPPO") / "spec.toml"))
case("resume-spec-deep-arrays", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: (c.run("SPPO") / "spec.toml").write_text("x = " + "[" * 50000 + "]" * 50000 + "\n"))
case("resume-spec-total-below-step", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: c.spec_replace("SPPO", "total_steps = 120000", "total_steps = 4096"))


def npz_pickle(ctx, key):
    import numpy as np
    d = json.loads(resume_state_path(ctx, key).read_text())
    path = ctx.run(key) / d["files"]["buffer"]
    import io
    buf = io.BytesIO()
    np.savez(buf, observations=np.array([Marker(ctx.marks / "npz-pickle")], dtype=object))
    path.write_bytes(buf.getvalue())


def have_numpy():
    try:
        import numpy  # noqa
        return True
    except ImportError:
        return False


case("resume-dqn-buffer-npz-pickle", "resume", lambda c: c.lab("resume", c.id("SDQN")),
     setup=lambda c: subprocess.run([PY, "-c", f"""
import json, os, pickle, numpy as np, io
class M:
    def __reduce__(self): return (os.system, ("touch {c.marks}/npz-pickle",))
d = json.load(open("{resume_state_path(c, 'SDQN')}"))
p = "{c.run('SDQN')}/" + d["files"]["buffer"]
np.savez(p[:-4], observations=np.array([M()], dtype=object))
"""], check=True))


def buffer_bomb(ctx):
    d = json.loads(resume_state_path(ctx, "SDQN").read_text())
    A.link("npz-bomb.npz", A.npz_bomb, ctx.run("SDQN") / d["files"]["buffer"])


case("resume-dqn-buffer-npz-bomb", "resume", lab("resume", rid("SDQN")), setup=buffer_bomb)


def sb3_bomb(ctx):
    d = json.loads(resume_state_path(ctx, "SDQN").read_text())
    src = ctx.run("SDQN") / d["files"]["model"]
    A.link("sb3-bomb.zip", A.sb3_zip_bomb_from(BASE / IDS['SDQN'] / d["files"]["model"]),
           src)


case("resume-dqn-model-zip-bomb", "resume", lab("resume", rid("SDQN")), setup=sb3_bomb)


def taxi_npz_bomb(ctx):
    d = json.loads(resume_state_path(ctx, "STAXI").read_text())
    A.link("npz-bomb.npz", A.npz_bomb, ctx.run("STAXI") / d["files"]["agent"])


case("resume-qlearning-npz-bomb", "resume", lab("resume", rid("STAXI")), setup=taxi_npz_bomb)


def torch_bomb(ctx, key="SPPO"):
    path = ckpt(ctx, key)
    base = BASE / ctx.id(key) / path.relative_to(ctx.run(key))
    A.link(f"torch-bomb-{key}.pt", A.torch_bomb_from(base), path)


case("resume-checkpoint-torch-bomb", "resume", lab("resume", rid("SPPO")), setup=torch_bomb)
case("resume-completed-run", "resume", lab("resume", rid("PPO")))
case("resume-attribution-run", "resume", lab("resume", rid("WINE")))


def running_with_sleep(key):
    def setup(ctx):
        p = ctx.spawn(["sleep", "300"])
        from_stat = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        ctx.summary(key, state="running", pid=p.pid, pid_start=from_stat, host=socket.gethostname())
        ctx.sleeper = p
    return setup


def sleeper_alive(ctx, res):
    return [] if ctx.sleeper.poll() is None else ["the stranger process (sleep) was signalled"]


case("resume-running-forged-pid", "resume", lab("resume", rid("SPPO")), setup=running_with_sleep("SPPO"),
     custom=sleeper_alive, target=("SPPO",))
case("resume-segments-garbage", "resume", lab("resume", rid("SPPO")),
     setup=lambda c: c.summary("SPPO", segments=[{"started": "x"}]))
case("resume-events-huge-line", "resume", lab("resume", rid("STAXI")), rc=(0, 2), may_change=("STAXI",), target=("STAXI",),
     setup=lambda c: A.link("huge-line-events.jsonl", A.huge_line_events, c.run("STAXI") / "events.jsonl"))


def two_resumes(ctx):
    env = ctx.env()
    argv = [LAB, "resume", ctx.id("SPPO"), "--runs-dir", str(ctx.runs)]
    p1 = subprocess.Popen(argv, cwd=ctx.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.3)
    r2 = run_cmd(argv, ctx.dir, env, 90)
    out1, err1 = p1.communicate(timeout=120)
    problems = []
    rcs = sorted([p1.returncode, r2.rc])
    if rcs != [0, 2]:
        problems.append(f"two resumes at once: exit codes {p1.returncode} and {r2.rc} (expected one 0, one 2)")
    for err in (err1, r2.err):
        if b"Traceback" in err:
            problems.append("traceback: " + err.decode()[-300:])
    loser = r2.err if r2.rc == 2 else err1
    if loser.count(b"\n") != 1:
        problems.append(f"refusal not one line: {loser[-300:]!r}")
    state = json.loads((ctx.run("SPPO") / "summary.json").read_text())["state"]
    if state != "completed":
        problems.append(f"run ended {state}")
    return problems


case("resume-two-at-once", "concurrency", two_resumes, target=("SPPO",), may_change=("SPPO",))


def resume_race_show(ctx):
    env = ctx.env()
    p1 = subprocess.Popen([LAB, "resume", ctx.id("SPPO"), "--runs-dir", str(ctx.runs)], cwd=ctx.dir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    problems = []
    while p1.poll() is None:
        r = run_cmd([LAB, "show", ctx.id("SPPO"), "--runs-dir", str(ctx.runs)], ctx.dir, env, 60)
        if r.rc != 0 or b"Traceback" in r.out + r.err:
            problems.append(f"lab show during resume: exit {r.rc} {r.err.decode()[-300:]!r}")
            break
        r = run_cmd([LAB, "runs", "--runs-dir", str(ctx.runs)], ctx.dir, env, 60)
        if r.rc != 0 or b"Traceback" in r.out + r.err or b"corrupt" in r.out:
            problems.append(f"lab runs during resume: exit {r.rc} corrupt={b'corrupt' in r.out} {r.err.decode()[-300:]!r}")
            break
    out, err = p1.communicate(timeout=120)
    if p1.returncode != 0:
        problems.append(f"resume exit {p1.returncode}: {err.decode()[-300:]!r}")
    return problems


case("resume-race-show-and-runs", "concurrency", resume_race_show, target=("SPPO",), may_change=("SPPO",))


def resume_then_kill_then_resume(ctx):
    """A resume killed outright (SIGKILL) mid-way leaves a crashed run that resumes again."""
    env = ctx.env()
    p1 = subprocess.Popen([LAB, "resume", ctx.id("SDQN"), "--runs-dir", str(ctx.runs)], cwd=ctx.dir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(5)
    os.killpg(p1.pid, signal.SIGKILL)
    p1.communicate()
    r = run_cmd([LAB, "resume", ctx.id("SDQN"), "--runs-dir", str(ctx.runs)], ctx.dir, env, 90)
    if r.rc != 0:
        return [f"resume after a killed resume: exit {r.rc} {r.err.decode()[-300:]!r}"]
    return []


case("resume-killed-then-resumed", "resume", resume_then_kill_then_resume, target=("SDQN",), may_change=("SDQN",))

# =============================================================================== sweep folders

def sweep_json(key, fn):
    def setup(ctx):
        p = ctx.run(key) / "sweep.json"
        d = json.loads(p.read_text())
        out = fn(ctx, d)
        p.write_text(json.dumps(d if out is None else out))
    return setup


SW_EDITS = {
    "id-dotdot": lambda c, d: d.update(id="../evil"),
    "id-absolute": lambda c, d: d.update(id=str(c.outside / "evil")),
    "name-slash": lambda c, d: d.update(name="a/../../b"),
    "run-id-up": lambda c, d: d["trials"][0]["jobs"][0].update(run="../../outside/x"),
    "run-id-absolute": lambda c, d: d["trials"][0]["jobs"][0].update(run=str(c.outside / "x")),
    "value-text": lambda c, d: d["trials"][0].update(value="abc"),
    "value-nan": None,  # written by hand below
    "total-trials-huge": lambda c, d: d.update(total_trials=10**12),
    "trials-not-list": lambda c, d: d.update(trials={"a": 1}),
    "seeds-text": lambda c, d: d.update(seeds=["x"]),
    "escape-error": lambda c, d: d.update(error=HOSTILE, state="failed"),
    "escape-params": lambda c, d: d["trials"][0].update(params={HOSTILE: 1, "agent.learning_rate": 0.3}),
    "param-deep-value": lambda c, d: d["trials"][0]["params"].update({"agent.learning_rate": json.loads("[" * 900 + "]" * 900)}),
    "param-huge-string": lambda c, d: d["trials"][0]["params"].update({"agent.learning_rate": "x" * 30_000_000}),
    "started-negative": lambda c, d: d.update(started=-5),
    "pid-huge": lambda c, d: d.update(state="running", pid=2**31, pid_start="1"),
}


def sweep_value_nan(ctx):
    p = ctx.run("LOCSW") / "sweep.json"
    t = p.read_text()
    p.write_text(t.replace('"value": -200.0', '"value": NaN', 1))


for label, edit in SW_EDITS.items():
    setup = sweep_value_nan if edit is None else sweep_json("LOCSW", edit)
    case(f"sweep-json-{label}-runs", "sweep", lab("runs"), setup=setup, rc=(0,), target=("LOCSW",))
    case(f"sweep-json-{label}-show", "sweep", lab("show", rid("LOCSW")), setup=setup, rc=(0, 2), target=("LOCSW",))
    if label in ("id-dotdot", "run-id-up", "value-text", "total-trials-huge", "escape-params", "param-deep-value"):
        case(f"sweep-json-{label}-resume", "sweep", lab("sweep", "--resume", rid("LOCSW")), setup=setup, target=("LOCSW",))


def worst_jobs(ctx):
    """3,000 trials x 1,000 seeds of minimal jobs: ~64 MB, within every count sweep.json allows."""
    p = ctx.run("LOCSW") / "sweep.json"
    d = json.loads(p.read_text())
    seeds = list(range(1000))
    job = '{"seed":0,"run":"a"}'
    trial = '{"number":%d,"params":{},"jobs":[' + ",".join([job] * 1000) + ']}'
    head = json.dumps({k: v for k, v in d.items() if k not in ("trials", "seeds", "total_trials")})[:-1]
    with open(p, "w") as f:
        f.write(head + ',"seeds":' + json.dumps(seeds) + ',"total_trials":3000,"trials":[')
        f.write(",".join(trial % i for i in range(3000)))
        f.write("]}")


case("sweep-json-64mb-of-jobs-runs", "sweep", lab("runs"), setup=worst_jobs, rc=(0,), target=("LOCSW",))
case("sweep-json-64mb-of-jobs-show", "sweep", lab("show", rid("LOCSW")), setup=worst_jobs, rc=(0,), target=("LOCSW",))
case("sweep-json-64mb-tiny-objects-runs", "sweep", lab("runs"), rc=(0,), target=("LOCSW",),
     setup=lambda c: A.link("sweep-worst.json", A.sweep_json_worst, c.run("LOCSW") / "sweep.json"))
case("sweep-json-deep-runs", "sweep", lab("runs"), rc=(0,), target=("LOCSW",),
     setup=lambda c: A.deep_json(c.run("LOCSW") / "sweep.json"))
case("sweep-json-fifo-runs", "sweep", lab("runs"), rc=(0,), target=("LOCSW",),
     setup=lambda c: mkfifo(c.run("LOCSW") / "sweep.json"))
case("sweep-json-devzero-link-runs", "sweep", lab("runs"), rc=(0,), target=("LOCSW",),
     setup=lambda c: replace_with_link(c.run("LOCSW") / "sweep.json", "/dev/zero"))

STUDY = {
    "empty": lambda c, p: p.write_bytes(b""),
    "random": lambda c, p: p.write_bytes(os.urandom(100_000)),
    "sqlite-header-garbage": lambda c, p: p.write_bytes(b"SQLite format 3\x00" + os.urandom(100_000)),
    "foreign-sqlite": lambda c, p: (p.unlink(), subprocess.run(["python3", "-c", f"import sqlite3; d=sqlite3.connect('{p}'); d.execute('create table t(x)'); d.commit()"], check=True)),
    "fifo": lambda c, p: mkfifo(p),
    "link-other-run-events": lambda c, p: replace_with_link(p, c.run("PPO") / "events.jsonl"),
    "directory": lambda c, p: (p.unlink(), p.mkdir()),
    "other-study-name": lambda c, p: subprocess.run(["python3", "-c", f"import sqlite3; d=sqlite3.connect('{p}'); d.execute(\"update studies set study_name='other'\"); d.commit()"], check=True),
    "trials-table-view": lambda c, p: subprocess.run(["python3", "-c", f"import sqlite3; d=sqlite3.connect('{p}'); d.execute('alter table trials rename to t2'); d.execute('create view trials as with recursive r(n) as (select 1 union all select n+1 from r) select n as number, 1 as study_id from r'); d.commit()"], check=True),
}
for label, fn in STUDY.items():
    setup = (lambda f: lambda c: f(c, c.run("STOPSW") / "study.db"))(fn)
    case(f"sweep-study-{label}-runs", "sweep", lab("runs"), setup=setup, rc=(0,), target=("STOPSW",))
    case(f"sweep-study-{label}-resume", "sweep", lab("sweep", "--resume", rid("STOPSW")), setup=setup, target=("STOPSW",))
case("sweep-study-trials-view-show", "sweep", lab("show", rid("STOPSW")), rc=(0,), target=("STOPSW",),
     setup=lambda c: STUDY["trials-table-view"](c, c.run("STOPSW") / "study.db"))


def huge_study(ctx):
    def build(path):
        import sqlite3
        shutil.copy(ctx.run("STOPSW") / "study.db", path)
        d = sqlite3.connect(path)
        d.execute("create table junk(x blob)")
        for _ in range(15):
            d.execute("insert into junk select randomblob(1000000) from (with recursive r(n) as (select 1 union all select n+1 from r where n < 100) select n from r)")
        d.commit()
        d.close()
    A.link("huge-study.db", build, ctx.run("STOPSW") / "study.db")


case("sweep-study-1.5gb-runs", "sweep", lab("runs"), setup=huge_study, rc=(0,), target=("STOPSW",))
case("sweep-study-1.5gb-show", "sweep", lab("show", rid("STOPSW")), setup=huge_study, rc=(0,), target=("STOPSW",))
case("sweep-logs-link-outside-resume", "sweep", lab("sweep", "--resume", rid("STOPSW")), target=("STOPSW",),
     setup=lambda c: replace_with_link(c.run("STOPSW") / "logs", c.outside))
case("sweep-toml-garbage-show", "sweep", lab("show", rid("STOPSW")), rc=(0,), target=("STOPSW",),
     setup=lambda c: (c.run("STOPSW") / "sweep.toml").write_bytes(os.urandom(3000)))
case("sweep-toml-fifo-show", "sweep", lab("show", rid("STOPSW")), rc=(0, 2), target=("STOPSW",),
     setup=lambda c: mkfifo(c.run("STOPSW") / "sweep.toml"))
case("sweep-toml-deep-resume", "sweep", lab("sweep", "--resume", rid("STOPSW")), target=("STOPSW",),
     setup=lambda c: (c.run("STOPSW") / "sweep.toml").write_text('name = "x"\nkind = "sweep"\n[sweep]\nexperiment = "cartpole-ppo"\n[sweep.params]\n' + ".".join(["a"] * 20000) + " = [1]\n"))


def sweep_best_missing_experiment_outside(ctx):
    (ctx.run("LOCSW") / "best.toml").unlink()
    sweep_toml_outside = ctx.outside / "exp.toml"
    sweep_toml_outside.write_text((FILES / "tiny-taxi.toml").read_text().replace('id = "Taxi-v4"', 'id = "evilmod:Taxi-v4"'))
    p = ctx.run("LOCSW") / "sweep.toml"
    import re
    p.write_text(re.sub(r'experiment = ".*"', f'experiment = "{sweep_toml_outside}"', p.read_text()))


case("sweep-show-writes-best-from-outside-experiment", "sweep", lab("show", rid("LOCSW")), rc=(0,), target=("LOCSW",),
     setup=sweep_best_missing_experiment_outside, may_change=("LOCSW/best.toml",))


def sweep_run_id_steal(ctx):
    """LOCSW's trial 1 'crashed', its job naming POPRUN (another sweep's run): a resume must not touch POPRUN."""
    p = ctx.run("LOCSW") / "sweep.json"
    d = json.loads(p.read_text())
    d["trials"][1]["state"] = "crashed"
    d["trials"][1]["jobs"][0].update(run=ctx.id("POPRUN"), state="crashed", value=None)
    d["trials"][1]["value"] = None
    d["trials"][1]["std"] = None
    p.write_text(json.dumps(d))


case("sweep-resume-job-names-other-sweeps-run", "sweep", lab("sweep", "--resume", rid("LOCSW")), rc=(0, 1, 2),
     setup=sweep_run_id_steal, target=("LOCSW",), may_change=("LOCSW",), new_ok=True)


def two_sweep_resumes(ctx):
    env = ctx.env()
    argv = [LAB, "sweep", "--resume", ctx.id("STOPSW"), "--runs-dir", str(ctx.runs)]
    p1 = subprocess.Popen(argv, cwd=ctx.dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(3)
    r2 = run_cmd(argv, ctx.dir, env, 90)
    os.killpg(p1.pid, signal.SIGINT)
    out1, err1 = p1.communicate(timeout=120)
    problems = []
    if r2.rc != 2 or r2.err.count(b"\n") != 1 or b"Traceback" in r2.err:
        problems.append(f"second sweep --resume: exit {r2.rc} {r2.err.decode()[-300:]!r}")
    if p1.returncode not in (130, 0, 1):
        problems.append(f"first sweep --resume exit {p1.returncode}: {err1.decode()[-300:]!r}")
    r3 = run_cmd([LAB, "runs", "--runs-dir", str(ctx.runs)], ctx.dir, env, 60)
    if b"corrupt" in r3.out:
        problems.append("a folder is corrupt after the two resumes: " + r3.out.decode()[-400:])
    return problems


case("sweep-two-resumes-at-once", "concurrency", two_sweep_resumes, target=("STOPSW", "MIDRUN"),
     may_change=("STOPSW", "MIDRUN"), new_ok=True)

# =============================================================================== sizes

def exp_file(ctx, name, text):
    p = ctx.dir / name
    p.write_text(text)
    return str(p)


case("size-population-x-envs-torch-ppo", "size", lab("run", "cartpole-ppo-torch", "--set", "population=65536", "--set", "env.n_envs=256"))
case("size-population-dqn-buffer", "size", lab("run", "cartpole-dqn-torch", "--set", "population=4096", "--set", "agent.buffer_size=10000000"))
case("size-sb3-ppo-n-steps", "size", lab("run", "cartpole-ppo", "--set", "agent.n_steps=100000000", "--set", "agent.batch_size=64"))
case("size-sb3-dqn-buffer", "size", lab("run", "cartpole-dqn", "--set", "agent.buffer_size=1000000000"))
case("size-sb3-net-arch-huge", "size", lab("run", "cartpole-ppo", "--set", "agent.net_arch=[65536, 65536]", "--set", "agent.total_steps=512"))
case("size-torch-net-arch-huge", "size", lab("run", "cartpole-ppo-torch", "--set", "agent.net_arch=[65536, 65536]"))
case("size-reinforce-net-arch-huge", "size", lab("run", "cartpole-reinforce", "--set", "agent.net_arch=[100000, 100000]"))
case("size-sac-net-arch-huge", "size", lab("run", "pendulum-sac", "--set", "agent.net_arch=[50000, 50000]"))
def huge_frozenlake(ctx):
    """A FrozenLake map of 1500 x 1500 cells: gymnasium builds a 4.5 GB transition table from it."""
    n = 1500
    desc = ["S" + "F" * (n - 1)] + ["F" * n] * (n - 2) + ["F" * (n - 1) + "G"]
    text = (Path(__file__).resolve().parents[2] / "experiments" / "frozenlake-qlearning.toml").read_text()
    (ctx.dir / "fl.toml").write_text(text.replace("kwargs = { is_slippery = true }",
                                                  "kwargs = { is_slippery = true, desc = " + json.dumps(desc) + " }"))


case("size-qlearning-table-huge-env", "size", lambda c: c.lab("run", str(c.dir / "fl.toml")), setup=huge_frozenlake)
case("size-gym-n-envs-huge", "size", lab("run", "cartpole-ppo", "--set", "env.n_envs=1000000"))
case("size-attribution-mlp-huge", "size", lab("run", "wine-linear-attributions", "--set", 'model.arch="mlp"',
                                              "--set", "model.hidden=[100000, 100000]"))
case("size-attribution-samples-background", "size", lab("run", "digits-attributions", "--set", "explain.samples=10000",
                                                         "--set", "explain.background=100000"), rc=(2,))


def sweep_file(ctx, params: str, extra: str = "", method="grid", seeds="[0]", experiment=None):
    exp = experiment or str(FILES / "tiny-taxi.toml")
    text = (f'name = "bomb"\nkind = "sweep"\n[sweep]\nexperiment = "{exp}"\nseeds = {seeds}\nmethod = "{method}"\n'
            f'metric = "final_eval_return_mean"\n{extra}\n[sweep.params]\n{params}\n')
    return exp_file(ctx, "bomb-sweep.toml", text)


case("size-grid-product-enormous", "size", lambda c: c.lab("sweep", sweep_file(c, "\n".join(
    f'"agent.learning_rate" = [{", ".join(str(0.1 + i / 1000) for i in range(50))}]' if i == 0 else
    f'"agent.gamma" = [{", ".join(str(0.5 + j / 1000) for j in range(50))}]' for i in range(2)) + "\n" + "\n".join(
    f'"env.kwargs.k{i}" = [{", ".join(str(j) for j in range(40))}]' for i in range(40)))))
case("size-grid-2000-choices-1000-seeds", "size", lambda c: c.lab("sweep", sweep_file(c, '"agent.learning_rate" = [' + ", ".join(
    str(0.01 + i / 100000) for i in range(2000)) + "]", seeds=str(list(range(1000))))))
case("size-random-trials-huge", "size", lambda c: c.lab("sweep", sweep_file(c, '"agent.learning_rate" = { low = 0.1, high = 0.9 }',
                                                                             "trials = 1000000000000", method="random")))
case("size-sweep-seeds-million", "size", lambda c: c.lab("sweep", sweep_file(c, '"agent.learning_rate" = [0.5]',
                                                                              seeds="[" + ", ".join(map(str, range(1_000_000))) + "]")))
case("size-population-backend-members", "size", lambda c: c.lab("sweep", sweep_file(c, '"agent.learning_rate" = [' + ", ".join(
    str(0.001 + i / 1e6) for i in range(2000)) + "]", 'backend = "population"', seeds=str(list(range(30))),
    experiment=str(FILES / "tiny-ppo-torch.toml"))))
case("size-population-backend-envs-memory", "size", lambda c: c.lab("sweep", sweep_file(c, '"agent.learning_rate" = [' + ", ".join(
    str(0.001 + i / 1e6) for i in range(1000)) + "]\n" + '"env.n_envs" = [4096]', 'backend = "population"', seeds=str(list(range(60))),
    experiment=str(FILES / "tiny-ppo-torch.toml"))))
case("size-sweep-params-dotted-deep", "size", lambda c: c.lab("sweep", sweep_file(c, ".".join(["a"] * 5000) + " = [1]")))

YAML = {
    "billion-laughs": "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                      "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
                      "CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  junk: *i\n",
    "merge-bomb": "a: &a {a0: 1, a1: 1, a2: 1, a3: 1, a4: 1, a5: 1, a6: 1, a7: 1, a8: 1, a9: 1}\n" + "".join(
        f"l{i}: &l{i} {{<<: [{', '.join(f'*l{i-1}' if i else '*a' for _ in range(1))}], k{i}: [{', '.join(['*l%d' % (i - 1) if i else '*a'] * 9)}]}}\n"
        for i in range(9)) + "CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  policy_kwargs: *l8\n",
    "deep-nesting": "CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  junk: " + "[" * 100000 + "]" * 100000 + "\n",
    "deep-block-nesting": "CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  junk:\n" + "".join(
        " " * (4 + i) + f"k{i}:\n" for i in range(3000)) + " " * 3004 + "x: 1\n",
    "python-tag": "CartPole-v1:\n  n_timesteps: !!python/object/apply:os.system ['touch MARKS/yaml-python-tag']\n  policy: MlpPolicy\n",
    "python-name-tag": "CartPole-v1:\n  n_timesteps: 1000\n  policy: !!python/name:os.system\n",
    "policy-kwargs-code": "CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  policy_kwargs: \"dict(net_arch=__import__('os').system('touch MARKS/yaml-eval'))\"\n",
    "env-wrapper-code": "CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  env_wrapper: evilmod.Wrapper\n",
    "callback-code": "CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  callback: evilmod.Callback\n",
    "huge-number": "CartPole-v1:\n  n_timesteps: 1e999\n  policy: MlpPolicy\n",
    "nan-lr": "CartPole-v1:\n  n_timesteps: 1000\n  policy: MlpPolicy\n  learning_rate: .nan\n",
    "escape-env-id": "\"CartPole-v1\\e]0;PWNED\\a\":\n  n_timesteps: 1000\n  policy: MlpPolicy\n",
    "invalid-utf8": None,
    "self-alias": "a: &a [*a]\nCartPole-v1: *a\n",
}
for label, text in YAML.items():
    def setup(ctx, label=label, text=text):
        p = ctx.dir / "ppo.yml"
        if text is None:
            p.write_bytes(b"CartPole-v1:\n  n_timesteps: \xff\xfe\xfa\n")
        else:
            p.write_text(text)
    env_id = "CartPole-v1\x1b]0;PWNED\x07" if label == "escape-env-id" else "CartPole-v1"
    case(f"yaml-{label}", "size", lambda c, e=env_id: c.lab("import", "rl-zoo", str(c.dir / "ppo.yml"), e), setup=setup,
         rc=(2,) if label not in ("policy-kwargs-code",) else (0, 2))
case("yaml-50mb", "size", lambda c: c.lab("import", "rl-zoo", str(c.dir / "ppo.yml"), "CartPole-v1"),
     setup=lambda c: A.link("big.yml", A.big_yaml, c.dir / "ppo.yml"))
case("yaml-fifo", "size", lambda c: c.lab("import", "rl-zoo", str(c.dir / "ppo.yml"), "CartPole-v1"),
     setup=lambda c: os.mkfifo(c.dir / "ppo.yml"))
case("yaml-devzero", "size", lambda c: c.lab("import", "rl-zoo", "/dev/zero", "CartPole-v1", "--algo", "ppo"))
case("yaml-out-into-run-folder", "size", lambda c: c.lab("import", "rl-zoo", "ppo.yml", "CartPole-v1", "--out",
                                                          str(c.run("PPO") / "spec.toml")),
     rc=(0, 2), may_change=("PPO/spec.toml",), note="--out over another run's spec.toml")

TOML = {
    "deep-arrays": "x = " + "[" * 100000 + "]" * 100000 + "\n",
    "deep-inline-tables": "x = " + "{a = " * 5000 + "1" + "}" * 5000 + "\n",
    "deep-dotted-keys": ".".join(["a"] * 50000) + " = 1\n",
    "deep-table-headers-300k": "[" + ".".join(["a"] * 300000) + "]\n",
    "deep-table-headers": "[" + ".".join(["a"] * 100000) + "]\n",
    "env-kwargs-deep": 'name = "x"\nkind = "rl"\n[env]\nid = "CartPole-v1"\nkwargs = ' + "{a = " * 800 + "1" + "}" * 800 + "\n[agent]\nalgo = \"ppo\"\n",
    "nan-everywhere": 'name = "x"\nkind = "rl"\nseed = nan\nthreads = nan\n[env]\nid = "CartPole-v1"\nn_envs = nan\n[agent]\nalgo = "ppo"\ntotal_steps = nan\nlearning_rate = nan\n',
    "inf-everywhere": 'name = "x"\nkind = "rl"\nseed = inf\n[env]\nid = "CartPole-v1"\nn_envs = inf\n[agent]\nalgo = "ppo"\ntotal_steps = inf\nlearning_rate = inf\ngamma = -inf\n',
    "huge-ints": 'name = "x"\nkind = "rl"\nseed = 9223372036854775807\n[env]\nid = "CartPole-v1"\nn_envs = 9223372036854775807\n[agent]\nalgo = "ppo"\ntotal_steps = 9223372036854775807\n',
    "negative-everything": 'name = "x"\nkind = "rl"\nseed = -1\nthreads = -1\n[env]\nid = "CartPole-v1"\nn_envs = -1\nmax_episode_steps = -1\n[agent]\nalgo = "ppo"\ntotal_steps = -1\nn_steps = -1\nbatch_size = -1\n[eval]\nevery = -1\nepisodes = -1\n',
    "escape-name": 'name = "x\\u001b]0;PWNED\\u0007"\nkind = "rl"\n[env]\nid = "CartPole-v1\\u001b[2J"\n[agent]\nalgo = "ppo"\n',
    "max-episode-steps-huge": 'name = "x"\nkind = "rl"\n[env]\nid = "CartPole-v1"\nmax_episode_steps = 1000000000000\n[agent]\nalgo = "ppo"\ntotal_steps = 64\nn_steps = 64\n[eval]\nfinal_episodes = 1\nepisodes = 1\nevery = 64\n',
    "eval-episodes-huge": 'name = "x"\nkind = "rl"\n[env]\nid = "CartPole-v1"\n[agent]\nalgo = "ppo"\ntotal_steps = 64\nn_steps = 64\n[eval]\nfinal_episodes = 1000000000000\n',
    "data-path-devzero": 'name = "x"\nkind = "attribution"\n[data]\ndataset = "csv"\npath = "/dev/zero"\ntarget = "t"\n[model]\narch = "logistic"\n',
    "data-path-fifo": 'name = "x"\nkind = "attribution"\n[data]\ndataset = "csv"\npath = "FIFO"\ntarget = "t"\n[model]\narch = "logistic"\n',
}
for label, text in TOML.items():
    def setup(ctx, text=text, label=label):
        (ctx.dir / "exp.toml").write_text(text.replace('"FIFO"', f'"{ctx.dir / "fifo.csv"}"'))
        if label == "data-path-fifo":
            os.mkfifo(ctx.dir / "fifo.csv")
    case(f"toml-{label}", "size", lambda c: c.lab("run", str(c.dir / "exp.toml")), setup=setup)
case("toml-200mb-array", "size", lambda c: c.lab("run", str(c.dir / "exp.toml")),
     setup=lambda c: A.link("big.toml", A.big_toml, c.dir / "exp.toml"))
case("toml-sweep-deep", "size", lambda c: c.lab("sweep", str(c.dir / "s.toml")),
     setup=lambda c: (c.dir / "s.toml").write_text('name = "s"\nkind = "sweep"\n[sweep]\nexperiment = "cartpole-ppo"\n[sweep.params]\nx = ' + "[" * 100000 + "]" * 100000 + "\n"))
case("toml-list-params-deep", "size", lambda c: c.lab("list", "--params", str(c.dir / "exp.toml")),
     setup=lambda c: (c.dir / "exp.toml").write_text('name = "x"\nkind = "rl"\n[env]\nid = "CartPole-v1"\nkwargs = ' + "{a = " * 900 + "1" + "}" * 900 + '\n[agent]\nalgo = "ppo"\n'))

# =============================================================================== readers

SUMMARY = {
    "started-nan": '"started": NaN', "started-inf": '"started": Infinity', "started-1e999": '"started": 1e999',
    "started-negative": '"started": -5', "started-text": '"started": "abc"', "started-huge-int": '"started": ' + "9" * 4000,
    "started-5000-digits": '"started": ' + "9" * 5000, "steps-negative": '"progress": {"step": -1, "total": 10}',
    "fraction-nan-text": '"progress": {"step": 1, "total": 10, "fraction": "nan"}',
    "total-zero": '"progress": {"step": 5, "total": 0, "fraction": 0.5}',
    "pid-huge": '"state": "running", "pid": 99999999999999999999, "pid_start": "1", "host": "' + socket.gethostname() + '"',
    "pid-negative": '"state": "running", "pid": -1, "pid_start": "1", "host": "' + socket.gethostname() + '"',
    "state-unknown": '"state": "pwned"', "kind-unknown": '"kind": "weird"',
    "members-garbage": '"results": {"population": 2, "best_member": "x", "members": [1, "a", {"member": [1], "seed": {"a": 1}, "final_eval_return_mean": "x", "agent.\\u001b]0;PWNED\\u0007": "\\u001b[2J"}]}',
    "segments-garbage": '"segments": [1, "x", {"from_step": "a"}]',
    "results-extra-huge-int": '"results": {"custom": ' + "7" * 4000 + '}',
    "confusion-huge": '"results": {"confusion_matrix": [[' + "9" * 4000 + ']]}',
    "escape-everything": '"state": "failed", "experiment": "e\\u001b]0;PWNED\\u0007", "error": "boom\\u001b[2J\\u009b31m\\u202e", "env": "\\u001b]0;x\\u0007", "device": "\\u001b[31m"',
    "prerequisites-many": '"prerequisites": [' + ",".join(['"\\u001b]0;PWNED\\u0007"'] * 100000) + ']',
    "duplicate-keys": '"state": "completed", "state": "failed", "state": "running"',
    "sweep-field-path": '"sweep": "../../outside"',
    "policy-up": '"results": {"policy": "../../outside/victim.pt"}',
    "policy-absolute": '"results": {"policy": "/etc/passwd"}',
    "policy-devzero": '"results": {"policy": "/dev/zero"}',
    "best-member-out-of-range": '"results": {"best_member": 99999}',
    "seed-huge": '"seed": 99999999999999999999999',
    "threads-zero": '"threads": 0',
    "versions-garbage": '"versions": {"lab": 5}',
}


def summary_edit(key, fragment):
    def setup(ctx):
        p = ctx.run(key) / "summary.json"
        d = json.loads(p.read_text())
        # drop the keys the fragment sets, then splice the fragment in as raw JSON text
        frag = json.loads("{" + fragment + "}", object_pairs_hook=lambda pairs: dict(pairs)) if "NaN" not in fragment and "Infinity" not in fragment and "1e999" not in fragment and "9" * 4000 not in fragment and "7" * 4000 not in fragment else {}
        import re
        for k in re.findall(r'"(\w+)":', fragment):
            if k in d and k not in ("step", "total", "fraction", "member", "seed", "final_eval_return_mean", "from_step"):
                d.pop(k, None)
        body = json.dumps(d)
        p.write_text(body[:-1] + ", " + fragment + "}")
    return setup


for label, fragment in SUMMARY.items():
    key = "STAXI" if label.startswith(("pid", "segments")) else "PPO"
    setup = summary_edit(key, fragment)
    case(f"summary-{label}-runs", "readers", lab("runs"), setup=setup, rc=(0,), target=(key,))
    case(f"summary-{label}-show", "readers", lab("show", rid(key)), setup=setup, rc=(0,), target=(key,))
    if label in ("policy-up", "policy-absolute", "policy-devzero", "best-member-out-of-range", "kind-unknown", "started-nan", "members-garbage"):
        case(f"summary-{label}-eval", "readers", lab("eval", rid(key), "--episodes", "2"), setup=setup, rc=(0, 2), target=(key,))
    if label in ("kind-unknown", "members-garbage", "policy-up"):
        case(f"summary-{label}-explain", "readers", lab("explain", rid(key), "--samples", "2"), setup=setup, rc=(2,), target=(key,), new_ok=True)
    if label.startswith(("pid", "segments", "state-unknown")):
        case(f"summary-{label}-stop", "readers", lab("stop", rid(key)), setup=setup, rc=(2,), target=(key,))
        case(f"summary-{label}-resume", "readers", lab("resume", rid(key)), setup=setup, rc=(0, 2) if label.startswith("pid") else (2,),
             target=(key,), may_change=(key,) if label.startswith("pid") else ())
    if label in ("escape-everything", "started-nan", "members-garbage"):
        case(f"summary-{label}-export", "readers", lab("export", rid(key), "--tensorboard", lambda c: str(c.dir / "tb")),
             setup=setup, rc=(0, 2), target=(key,))

SUMMARY_FILES = {
    "bom": lambda c, p: p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes()),
    "invalid-utf8": lambda c, p: p.write_bytes(p.read_bytes().replace(b'"cartpole-ppo-torch"', b'"\xff\xfe"', 1)),
    "deep": lambda c, p: A.deep_json(p),
    "fifo": lambda c, p: mkfifo(p),
    "devzero-link": lambda c, p: replace_with_link(p, "/dev/zero"),
    "directory": lambda c, p: (p.unlink(), p.mkdir()),
    "empty": lambda c, p: p.write_bytes(b""),
    "error-200mb": lambda c, p: A.link("summary-error-200mb.json", A.summary_error_200mb, p),
    "120mb-of-empty-objects": lambda c, p: A.link("summary-dicts.json", A.summary_dicts, p),
    "200mb-of-zeros": lambda c, p: A.link("summary-zeros.json", A.summary_zeros, p),
    "link-to-other-summary": lambda c, p: replace_with_link(p, c.run("DQN") / "summary.json"),
    "unreadable": lambda c, p: p.chmod(0),
}
for label, fn in SUMMARY_FILES.items():
    setup = (lambda f: lambda c: f(c, c.run("PPO") / "summary.json"))(fn)
    case(f"summary-file-{label}-runs", "readers", lab("runs"), setup=setup, rc=(0,), target=("PPO",))
    case(f"summary-file-{label}-show", "readers", lab("show", rid("PPO")), setup=setup, rc=(0, 2), target=("PPO",))


def name_with_escape(ctx):
    src = ctx.run("PPO")
    dst = ctx.runs / ("20261206-000000-evil\x1b]0;PWNED\x07\x1b[2J-\nfake-line-x")
    shutil.copytree(src, dst)


case("folder-name-escapes-runs", "readers", lab("runs"), setup=name_with_escape, rc=(0,))
case("folder-name-escapes-show", "readers", lab("show", "20261206-000000-evil"), setup=name_with_escape, rc=(0,))
case("folder-name-escapes-eval", "readers", lab("eval", "20261206-000000-evil", "--episodes", "2"), setup=name_with_escape, rc=(0,))


def many_corrupt(ctx):
    for i in range(3000):
        d = ctx.runs / f"20261206-1{i:05d}-junk-{i:04x}"
        d.mkdir()
        (d / "summary.json").write_text('{"state": NaN}' if i % 2 else "garbage")


case("folder-3000-corrupt-runs", "readers", lab("runs"), setup=many_corrupt, rc=(0,), max_output=4 << 20)

EVENTS = {
    "huge-line": lambda c, p: A.link("huge-line-events.jsonl", A.huge_line_events, p),
    "tiny-lines-400mb": lambda c, p: A.link("tiny-lines-events.jsonl", A.tiny_lines_events, p),
    "eval-lines-300mb": lambda c, p: A.link("many-evals.jsonl", A.many_evals_events, p),
    "episodes-4m": lambda c, p: A.link("episodes-events.jsonl", A.episodes_events, p),
    "binary": lambda c, p: p.write_bytes(os.urandom(10 << 20)),
    "deep-line": lambda c, p: p.write_bytes(b'{"kind":"eval","x":' + b"[" * 100000 + b"]" * 100000 + b"}\n" + p.read_bytes()),
    "fifo": lambda c, p: mkfifo(p),
    "devzero-link": lambda c, p: replace_with_link(p, "/dev/zero"),
    "directory": lambda c, p: (p.unlink(), p.mkdir()),
    "nan-inf-values": lambda c, p: p.write_bytes(p.read_bytes() + b'{"t":1,"kind":"eval","step":3000,"mean":NaN,"std":Infinity,"episodes":1}\n'
                                                 b'{"t":1,"kind":"episode","step":3100,"return":-Infinity,"length":1,"rolling_return":NaN}\n'
                                                 b'{"t":1,"kind":"metric","step":3100,"values":{"loss":NaN,"x":1e999}}\n'),
    "huge-int-step": lambda c, p: p.write_bytes(p.read_bytes() + b'{"t":1,"kind":"eval","step":' + b"9" * 400 + b',"mean":1,"std":0,"episodes":1}\n'
                                                b'{"t":1,"kind":"episode","step":' + b"9" * 400 + b',"return":1,"length":1,"rolling_return":1}\n'),
    "huge-int-value": lambda c, p: p.write_bytes(p.read_bytes() + b'{"t":1,"kind":"eval","step":3000,"mean":' + b"9" * 400 + b',"std":0,"episodes":1}\n'
                                                 b'{"t":1,"kind":"episode","step":3001,"return":1,"length":1,"rolling_return":' + b"9" * 400 + b'}\n'),
    "steps-backwards-and-negative": lambda c, p: p.write_bytes(p.read_bytes() + b"".join(
        b'{"t":1,"kind":"episode","step":%d,"return":1,"length":1,"rolling_return":%d}\n' % (s, s) for s in (-10**15, 10**15, -1, 0, 5))),
    "log-escapes": lambda c, p: p.write_bytes(p.read_bytes() + json.dumps({"t": 1, "kind": "log", "level": "info", "message": HOSTILE * 3}).encode() + b"\n"),
    "wrong-types": lambda c, p: p.write_bytes(p.read_bytes() + b'{"t":"x","kind":"eval","step":"x","mean":[1],"std":{},"episodes":"x","best":"x","final":1}\n'
                                              b'{"t":1,"kind":"log","message":{"a":1},"level":5}\n{"kind":5}\n[1,2]\n"str"\n'),
}
for label, fn in EVENTS.items():
    key = "STAXI" if label in ("log-escapes",) else "PPO"
    setup = (lambda f, k: lambda c: f(c, c.run(k) / "events.jsonl"))(fn, key)
    case(f"events-{label}-show", "readers", lab("show", rid(key)), setup=setup, rc=(0,), target=(key,))
    if label in ("huge-line", "tiny-lines-400mb", "eval-lines-300mb", "nan-inf-values", "huge-int-step", "huge-int-value", "wrong-types", "binary", "steps-backwards-and-negative", "fifo"):
        case(f"events-{label}-export", "readers", lab("export", rid(key), "--tensorboard", lambda c: str(c.dir / "tb")),
             setup=setup, rc=(0, 2), target=(key,))
    if label in ("fifo", "devzero-link", "directory", "tiny-lines-400mb"):
        case(f"events-{label}-runs", "readers", lab("runs"), setup=setup, rc=(0,), target=(key,))
    if label in ("huge-line", "tiny-lines-400mb", "eval-lines-300mb"):
        case(f"events-{label}-eval", "readers", lab("eval", rid(key), "--episodes", "2"), setup=setup, rc=(0, 2), target=(key,))

COMPARISON = {
    "huge-int": lambda d: d["methods"][next(iter(d["methods"]))].update(seconds_per_sample=int("9" * 400)),
    "huge-int-random": lambda d: d["random"].update(deletion_auc=int("9" * 400)),
    "deep": None,
    "wrong-types": lambda d: d.update(methods=[1, 2], pairs="x"),
    "escape-names": lambda d: d["methods"].update({HOSTILE: dict(d["methods"][next(iter(d["methods"]))], library=HOSTILE)}),
    "300mb-empty-objects": "big",
    "nan": "nan",
}
for label, edit in COMPARISON.items():
    def setup(ctx, edit=edit):
        p = ctx.run("WINE") / "artifacts" / "comparison.json"
        if edit is None:
            A.deep_json(p)
        elif edit == "big":
            A.link("comparison-dicts.json", A.comparison_dicts, p)
        elif edit == "nan":
            p.write_text(p.read_text().replace('"deletion_auc": 0.3882', '"deletion_auc": NaN', 1))
        else:
            d = json.loads(p.read_text())
            edit(d)
            p.write_text(json.dumps(d))
    case(f"comparison-{label}-show", "readers", lab("show", rid("WINE")), setup=setup, rc=(0,), target=("WINE",))

ROBUST = {
    "huge-int-epsilon": {"epsilons": [int("9" * 400)], "unit": "x", "models": {}},
    "text-epsilons": {"epsilons": ["x"], "models": {}},
    "escape-policy-run": {"epsilons": [0.1], "unit": "\x1b]0;PWNED\x07", "policy": {"run": HOSTILE, "episodes": 1, "attacks": {HOSTILE: [{"return_mean": 1.0}]}}},
    "rows-not-dicts": {"epsilons": [0.1], "models": {"m": {"attacks": {"a": [1, 2]}, "clean_accuracy": 0.5}}},
    "huge-int-accuracy": {"epsilons": [0.1], "models": {"m": {"attacks": {"a": [{"accuracy": int("9" * 400)}]}, "clean_accuracy": 0.5}}},
    "min-perturbation-text": {"epsilons": [0.1], "models": {"m": {"min_perturbation": [{"epsilon": "x"}, {"epsilon": 1}]}}},
    "deep": None,
}
for label, content in ROBUST.items():
    def setup(ctx, content=content):
        p = ctx.run("WINE") / "artifacts" / "robustness.json"
        if content is None:
            A.deep_json(p)
        else:
            p.write_text(json.dumps(content))
    case(f"robustness-{label}-show", "readers", lab("show", rid("WINE")), setup=setup, rc=(0,), target=("WINE",))


def policy_robustness_huge(ctx):
    """A completed attribution run attacking PPO's policy, its robustness.json 300 MB: the dashboard's and
    lab show's reader (display.policy_robustness) reads it whole."""
    r = ctx.runs / "20261206-235959-rob-0000"
    shutil.copytree(ctx.run("WINE"), r)
    d = json.loads((r / "summary.json").read_text())
    d["results"]["policy_run"] = ctx.id("PPO")
    d["id"] = r.name
    (r / "summary.json").write_text(json.dumps(d))
    A.link("comparison-dicts.json", A.comparison_dicts, r / "artifacts" / "robustness.json")


case("robustness-policy-300mb-show", "readers", lab("show", "20261206-235959-rob"), setup=policy_robustness_huge, rc=(0,))

CHECKPOINTS = {
    "dqn-zip-truncated": ("DQN", "checkpoints/best.zip", lambda c, p: p.write_bytes(p.read_bytes()[:5000])),
    "dqn-zip-data-pickle": ("DQN", "checkpoints/best.zip", None),
    "dqn-zip-policy-pickle": ("DQN", "checkpoints/best.zip", "policy-pickle"),
    "dqn-zip-bomb": ("DQN", "checkpoints/best.zip", "bomb"),
    "ppo-pt-pickle": ("PPO", "checkpoints/best.pt", lambda c, p: p.write_bytes(pickle_bytes(c))),
    "ppo-pt-torch-zip-pickle": ("PPO", "checkpoints/best.pt", lambda c, p: torch_pickle_zip(c, p)),
    "ppo-pt-wrong-network": ("PPO", "checkpoints/best.pt", lambda c, p: shutil.copy(c.run("REINF") / "checkpoints/best.pt", p)),
    "ppo-pt-truncated": ("PPO", "checkpoints/best.pt", lambda c, p: p.write_bytes(p.read_bytes()[:2000])),
    "ppo-pt-link-other-run": ("PPO", "checkpoints/best.pt", lambda c, p: replace_with_link(p, c.run("SPPO") / "checkpoints/best.pt")),
    "ppo-pt-fifo": ("PPO", "checkpoints/best.pt", lambda c, p: mkfifo(p)),
    "ppo-pt-fifo-both": ("PPO", "checkpoints/best.pt", lambda c, p: (mkfifo(p), mkfifo(p.with_name("last.pt")))),
    "ppo-pt-torch-bomb": ("PPO", "checkpoints/best.pt", "torch-bomb"),
    "fl-npy-pickle": ("FL", "checkpoints/best.npy", "npy-pickle"),
    "fl-npy-huge-header": ("FL", "checkpoints/best.npy", "npy-huge"),
    "fl-npy-wrong-shape": ("FL", "checkpoints/best.npy", "npy-shape"),
    "fl-npy-nan": ("FL", "checkpoints/best.npy", "npy-nan"),
    "reinforce-pt-pickle": ("REINF", "checkpoints/best.pt", lambda c, p: p.write_bytes(pickle_bytes(c))),
    "wine-model-pickle": ("WINE", "checkpoints/model.pt", lambda c, p: p.write_bytes(pickle_bytes(c))),
    "wine-model-torch-bomb": ("WINE", "checkpoints/model.pt", "torch-bomb"),
    "wine-attributions-npz-pickle": ("WINE", "artifacts/attributions.npz", "npz-obj"),
}


def npy_edit(kind):
    def f(ctx, p):
        code = {
            "npy-pickle": f"""
import numpy as np, os
class M:
    def __reduce__(self): return (os.system, ("touch {ctx.marks}/npy-pickle",))
np.save("{p}", np.array([M()], dtype=object), allow_pickle=True)""",
            "npy-huge": f"""
import struct
h = b"{{'descr': '<f8', 'fortran_order': False, 'shape': (100000000, 100000), }}"
h += b" " * (63 - (len(h) + 10) % 64) + b"\\n"
open("{p}", "wb").write(b"\\x93NUMPY\\x01\\x00" + struct.pack("<H", len(h)) + h + b"\\0" * 1000)""",
            "npy-shape": f"import numpy as np; np.save('{p}', np.zeros((3, 3)))",
            "npy-nan": f"import numpy as np; a = np.load('{p}'); a[:] = np.nan; np.save('{p}', a)",
            "npz-obj": f"""
import numpy as np, os
class M:
    def __reduce__(self): return (os.system, ("touch {ctx.marks}/npz-pickle",))
np.savez("{str(p)[:-4]}", inputs=np.array([M()], dtype=object))""",
        }[kind]
        subprocess.run([PY, "-c", code], check=True, cwd="/tmp")
    return f


def sb3_data_pickle(ctx, p, member="data"):
    import io
    src = zipfile.ZipFile(io.BytesIO(p.read_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n in src.namelist():
            blob = src.read(n)
            if n == member:
                if member == "data":
                    blob = json.dumps({"policy_class": {":type:": "x", ":serialized:": __import__("base64").b64encode(
                        pickle.dumps(Marker(ctx.marks / "sb3-data"))).decode()}}).encode()
                else:
                    blob = pickle.dumps(Marker(ctx.marks / "sb3-policy"))
            z.writestr(n, blob)
    p.write_bytes(out.getvalue())


for label, (key, rel, fn) in CHECKPOINTS.items():
    def setup(ctx, key=key, rel=rel, fn=fn):
        p = ctx.run(key) / rel
        if fn is None:
            sb3_data_pickle(ctx, p)
        elif fn == "policy-pickle":
            sb3_data_pickle(ctx, p, "policy.pth")
        elif fn == "bomb":
            A.link("sb3-bomb-best.zip", A.sb3_zip_bomb_from(BASE / ctx.id(key) / rel), p)
        elif fn == "torch-bomb":
            A.link(f"torch-bomb-{key}-{p.name}", A.torch_bomb_from(BASE / ctx.id(key) / rel), p)
        elif isinstance(fn, str):
            npy_edit(fn)(ctx, p)
        else:
            fn(ctx, p)
    if key == "WINE":
        if "attributions" in label:
            case(f"checkpoint-{label}-show", "readers", lab("show", rid(key)), setup=setup, rc=(0,), target=(key,))
        else:
            case(f"checkpoint-{label}-explain", "readers", lab("explain", rid(key), "--samples", "2"), setup=setup, rc=(2,),
                 target=(key,), new_ok=True)
    else:
        rcs = (0, 2) if label in ("ppo-pt-fifo", "ppo-pt-link-other-run", "fl-npy-nan", "dqn-zip-data-pickle") else (2,)
        case(f"checkpoint-{label}-eval", "readers", lab("eval", rid(key), "--episodes", "2"), setup=setup, rc=rcs, target=(key,))
        if label in ("ppo-pt-pickle", "dqn-zip-bomb", "ppo-pt-fifo-both", "fl-npy-pickle"):
            case(f"checkpoint-{label}-record", "readers", lab("record", rid(key), "--out", lambda c: str(c.dir / "x.gif")),
                 setup=setup, rc=rcs, target=(key,))
            case(f"checkpoint-{label}-explain", "readers", lab("explain", rid(key), "--samples", "2"), setup=setup,
                 rc=rcs, target=(key,), new_ok=True)

SPEC = {
    "deep-arrays": lambda c, p: p.write_text("x = " + "[" * 100000 + "]" * 100000 + "\n"),
    "deep-inline": lambda c, p: p.write_text(p.read_text() + "\nzz = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"),
    "invalid-utf8": lambda c, p: p.write_bytes(p.read_bytes().replace(b'"CartPole-v1"', b'"\xff\xfe"', 1)),
    "200mb": lambda c, p: A.link("big.toml", A.big_toml, p),
    "fifo": lambda c, p: mkfifo(p),
    "devzero-link": lambda c, p: replace_with_link(p, "/dev/zero"),
    "kwargs-render-human": lambda c, p: c.spec_replace("PPO", "[env.kwargs]", '[env.kwargs]\nrender_mode = "human"'),
    "nan-numbers": lambda c, p: c.spec_replace("PPO", "n_envs = 32", "n_envs = nan"),
}
for label, fn in SPEC.items():
    setup = (lambda f: lambda c: f(c, c.run("PPO") / "spec.toml"))(fn)
    case(f"spec-{label}-eval", "readers", lab("eval", rid("PPO"), "--episodes", "2"), setup=setup, rc=(2,), target=("PPO",))
    if label in ("deep-arrays", "200mb", "fifo"):
        case(f"spec-{label}-explain", "readers", lab("explain", rid("PPO")), setup=setup, rc=(2,), target=("PPO",))
        case(f"spec-{label}-show", "readers", lab("show", rid("PPO")), setup=setup, rc=(0,), target=("PPO",))


def attribution_kind_on_rl(ctx):
    ctx.summary("PPO", kind="attribution")
    ctx.results("PPO", policy_run="x")


case("summary-attribution-kind-policy-run-explain", "readers", lab("explain", rid("PPO")), setup=attribution_kind_on_rl,
     target=("PPO",))
case("summary-attribution-kind-rl-spec-show", "readers", lab("show", rid("PPO")), setup=lambda c: c.summary("PPO", kind="attribution"),
     rc=(0,), target=("PPO",))

# =============================================================================== command-line numbers

NUMBERS = [
    ("play-fps-nan", ["play", "PPO", "--fps", "nan"]), ("play-fps-inf", ["play", "PPO", "--fps", "inf"]),
    ("play-fps-negative", ["play", "PPO", "--fps", "-1"]), ("play-fps-zero", ["play", "PPO", "--fps", "0"]),
    ("record-fps-1e309", ["record", "PPO", "--out", "x.gif", "--fps", "1e309"]),
    ("record-fps-tiny", ["record", "PPO", "--out", "x.gif", "--fps", "1e-300"]),
    ("eval-seed-negative", ["eval", "PPO", "--seed", "-1"]), ("eval-seed-2-64", ["eval", "PPO", "--seed", str(2**64)]),
    ("eval-seed-float", ["eval", "PPO", "--seed", "1.5"]), ("eval-episodes-zero", ["eval", "PPO", "--episodes", "0"]),
    ("eval-episodes-nan", ["eval", "PPO", "--episodes", "nan"]), ("eval-episodes-huge", ["eval", "PPO", "--episodes", "1" + "0" * 5000]),
    ("eval-epsilon-nan", ["eval", "PPO", "--attack", "noise", "--epsilon", "nan"]),
    ("eval-epsilon-negative", ["eval", "PPO", "--attack", "noise", "--epsilon", "-1"]),
    ("eval-epsilon-inf", ["eval", "PPO", "--attack", "fgsm", "--epsilon", "inf"]),
    ("explain-samples-negative", ["explain", "PPO", "--samples", "-1"]), ("explain-samples-huge", ["explain", "PPO", "--samples", "1000000000"]),
    ("sweep-workers-zero", ["sweep", str(FILES / "tiny-local-sweep.toml"), "--workers", "0"]),
    ("sweep-workers-nan", ["sweep", str(FILES / "tiny-local-sweep.toml"), "--workers", "nan"]),
    ("sweep-workers-huge", ["sweep", str(FILES / "tiny-local-sweep.toml"), "--workers", "1000000"]),
    ("set-total-nan", ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=nan"]),
    ("set-total-inf", ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=inf"]),
    ("set-total-negative", ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=-1"]),
    ("set-total-1e309", ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=1e309"]),
    ("set-total-huge-int", ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=" + "9" * 30]),
    ("set-total-float", ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=2048.5"]),
    ("set-seed-negative", ["run", "cartpole-ppo-torch", "--set", "seed=-1"]),
    ("set-seed-huge", ["run", "cartpole-ppo-torch", "--set", "seed=" + "9" * 30]),
    ("set-n-envs-zero", ["run", "cartpole-ppo-torch", "--set", "env.n_envs=0"]),
    ("set-lr-nan", ["run", "cartpole-ppo-torch", "--set", "agent.learning_rate=nan"]),
    ("set-lr-schedule-nan", ["run", "cartpole-ppo-torch", "--set", 'agent.learning_rate="lin_nan"']),
    ("set-lr-schedule-inf", ["run", "cartpole-ppo-torch", "--set", 'agent.learning_rate="lin_1e999"']),
    ("set-gamma-inf", ["run", "cartpole-ppo-torch", "--set", "agent.gamma=inf"]),
    ("set-threads-huge", ["run", "cartpole-ppo-torch", "--set", "threads=100000"]),
    ("set-population-negative", ["run", "cartpole-ppo-torch", "--set", "population=-3"]),
    ("set-eval-every-zero", ["run", "cartpole-ppo-torch", "--set", "eval.every=0"]),
    ("set-checkpoint-every-zero", ["run", "cartpole-ppo-torch", "--set", "eval.checkpoint_every=0"]),
    ("set-target-return-nan", ["run", "cartpole-ppo-torch", "--set", "eval.target_return=nan"]),
    ("set-max-episode-steps-zero", ["run", "cartpole-ppo", "--set", "env.max_episode_steps=0"]),
    ("set-escape-value", ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=\x1b]0;PWNED\x07\x1b[2J"]),
    ("set-escape-key", ["run", "cartpole-ppo-torch", "--set", "agent.\x1b]0;PWNED\x07=1"]),
    ("set-1mb-value", ["run", "cartpole-ppo-torch", "--set", "agent.total_steps=" + "x" * 100_000]),
    ("set-deep-value", ["run", "cartpole-ppo-torch", "--set", "agent.net_arch=" + "[" * 5000 + "]" * 5000]),
    ("set-deep-inline-value", ["run", "cartpole-ppo-torch", "--set", "env.kwargs=" + "{a=" * 3000 + "1" + "}" * 3000]),
    ("set-deep-key", ["run", "cartpole-ppo-torch", "--set", ".".join(["a"] * 20000) + "=1"]),
    ("seed-option-huge", ["run", "cartpole-ppo-torch", "--seed", "9" * 5000]),
    ("runs-dir-file", ["show", "x", "--runs-dir", "/etc/passwd"]),
    ("show-ref-100kb", ["show", "\x1b]0;PWNED\x07" + "a" * 100_000]),
    ("show-ref-escape", ["show", "\x1b]0;PWNED\x07\x1b[2J"]),
    ("record-out-proc", ["record", "PPO", "--out", "/proc/x.gif"]),
    ("export-tensorboard-file", ["export", "PPO", "--tensorboard", "/etc/passwd"]),
    ("allow-module-path", ["eval", "PPO", "--allow-module", "../evil"]),
    ("list-params-devzero", ["list", "--params", "/dev/zero"]),
    ("run-devzero", ["run", "/dev/zero"]),
    ("run-fifo", ["run", "FIFO"]),
]
for label, argv in NUMBERS:
    def command(ctx, argv=argv, label=label):
        args = []
        for a in argv:
            if a in IDS:
                a = ctx.id(a)
            a = a.replace("OTHERRUN", str(ctx.run("DQN"))).replace("x.gif", str(ctx.dir / "x.gif"))
            if a == "FIFO":
                os.mkfifo(ctx.dir / "fifo.toml")
                a = str(ctx.dir / "fifo.toml")
            args.append(a)
        return ctx.lab(*args)
    rc = (0, 2) if label in ("record-fps-tiny",) else (2,)
    case(f"cli-{label}", "cli", command, rc=rc, new_ok=label.startswith(("set-", "seed-")))

# --- output paths: a path a command is told to write is a file (or folder) of the user's, never in
# a run or sweep folder (only lab's writers write there), never a device; refused before any work


def link(name, target):
    def setup(ctx):
        t = target(ctx) if callable(target) else target
        (ctx.dir / name).symlink_to(t)
    return setup


def no_temp_in(folder):
    def check(ctx, res):
        d = Path(folder(ctx) if callable(folder) else folder)
        return [f"left {p}" for p in d.glob(".*.tmp*")]
    return check


def no_dev_gif(ctx, res):
    if not os.path.lexists("/dev/x.gif"):
        return []
    os.unlink("/dev/x.gif")  # (so that the next case starts clean)
    return ["wrote /dev/x.gif"]


OUT = {
    "record-out-into-other-run": (["record", "PPO", "--out", rpath("DQN", "spec.toml.gif")], None),
    "record-out-into-other-run-artifacts": (["record", "PPO", "--out", rpath("DQN", "artifacts", "x.gif")], None),
    "record-out-into-own-run": (["record", "PPO", "--out", rpath("PPO", "x.gif")], None),
    "record-out-into-sweep-folder": (["record", "PPO", "--out", rpath("LOCSW", "x.gif")], None),
    "record-out-through-link-into-run": (["record", "PPO", "--out", lambda c: str(c.dir / "via" / "x.gif")],
                                         link("via", lambda c: c.run("DQN") / "artifacts")),
    "record-out-devfull": (["record", "PPO", "--out", "/dev/full"], None),
    "record-out-dev-gif": (["record", "PPO", "--out", "/dev/x.gif"], None),
    "record-out-link-to-devfull": (["record", "PPO", "--out", lambda c: str(c.dir / "full.gif")], link("full.gif", "/dev/full")),
    "record-out-directory": (["record", "PPO", "--out", lambda c: str(c.dir / "d.gif")], lambda c: (c.dir / "d.gif").mkdir()),
    "export-tensorboard-into-run-folder": (["export", "PPO", "--tensorboard", rpath("DQN")], None),
    "export-tensorboard-into-run-artifacts": (["export", "PPO", "--tensorboard", rpath("DQN", "artifacts", "tb")], None),
    "export-tensorboard-into-sweep-folder": (["export", "PPO", "--tensorboard", rpath("LOCSW", "tb")], None),
    "export-tensorboard-through-link-into-run": (["export", "PPO", "--tensorboard", lambda c: str(c.dir / "via" / "tb")],
                                                 link("via", lambda c: c.run("DQN"))),
    "export-tensorboard-proc": (["export", "PPO", "--tensorboard", "/proc/tb"], None),
    "export-tensorboard-devnull": (["export", "PPO", "--tensorboard", "/dev/null"], None),
    "import-out-into-run-artifacts": (["import", "rl-zoo", "ppo.yml", "CartPole-v1", "--out", rpath("DQN", "artifacts", "x.toml")], None),
    "import-out-devfull": (["import", "rl-zoo", "ppo.yml", "CartPole-v1", "--out", "/dev/full"], None),
    "import-out-link-to-devfull": (["import", "rl-zoo", "ppo.yml", "CartPole-v1", "--out", lambda c: str(c.dir / "full.toml")],
                                   link("full.toml", "/dev/full")),
}
for label, (argv, setup) in OUT.items():
    checks = [no_temp_in("/dev"), no_dev_gif]
    if "link-to-devfull" in label:
        checks.append(lambda c, r, n=argv[-1]: [] if (Path(n(c)).is_symlink()) else [f"replaced the link {n(c)}"])

    def custom(ctx, res, checks=checks):
        return [p for check in checks for p in check(ctx, res)]
    case(f"cli-{label}", "cli", lab(*[rid(a) if a in IDS else a for a in argv]), setup=setup, custom=custom)



def under_fsize_0(*argv):
    """The command with RLIMIT_FSIZE 0 (`ulimit -f 0`): every write to a regular file fails (EFBIG),
    as on a full disk; it must be one line, exit 2, and leave nothing at the path or beside it."""
    def command(ctx):
        args = [a(ctx) if callable(a) else a for a in argv]
        if args[0] != "import":
            args += ["--runs-dir", str(ctx.runs)]
        return run_cmd(["sh", "-c", 'ulimit -f 0; exec "$@"', "sh", LAB, *args], ctx.dir, ctx.env())
    return command


def nothing_written(ctx, res):
    return [f"left {p.name}" for p in ctx.dir.iterdir() if p.name.startswith(("written", ".written"))]


case("cli-record-out-write-fails", "cli", under_fsize_0("record", rid("PPO"), "--out", lambda c: str(c.dir / "written.gif")),
     custom=nothing_written)
case("cli-import-out-write-fails", "cli", under_fsize_0("import", "rl-zoo", "ppo.yml", "CartPole-v1", "--out",
                                                        lambda c: str(c.dir / "written.toml")), custom=nothing_written)
case("cli-export-tensorboard-write-fails", "cli", under_fsize_0("export", rid("PPO"), "--tensorboard", lambda c: str(c.dir / "written")),
     custom=lambda c, r: [f"left {p}" for p in (c.dir / "written").iterdir()] if (c.dir / "written").is_dir() else [])

# --- Ray


def ray_case(address, label, listener=None):
    def command(ctx):
        srv = None
        if listener == "silent":
            srv = socket.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen(100)
            address_ = f"127.0.0.1:{srv.getsockname()[1]}"
        elif listener == "garbage":
            srv = socket.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen(100)
            address_ = f"127.0.0.1:{srv.getsockname()[1]}"

            def talk():
                while True:
                    try:
                        conn, _ = srv.accept()
                        conn.sendall(b"\x1b]0;PWNED\x07HTTP/1.1 200 OK\r\n\r\n" + os.urandom(100))
                    except OSError:
                        return
            threading.Thread(target=talk, daemon=True).start()
        else:
            address_ = address
        try:
            return ctx.lab("sweep", str(FILES / "tiny-local-sweep.toml"), "--backend", "ray", "--address", address_)
        finally:
            if srv:
                srv.close()
    case(f"ray-{label}", "cli", command, rc=(2,))


ray_case("127.0.0.1:1", "closed-port")
ray_case(None, "silent-listener", "silent")
ray_case(None, "garbage-listener", "garbage")
ray_case("10.255.255.1:6379", "blackhole-ip")
ray_case("nonexistent.invalid:6379", "unresolvable-name")
ray_case("ray://127.0.0.1:1", "client-uri-closed")
ray_case("\x1b]0;PWNED\x07:1", "escape-address")
ray_case("127.0.0.1:99999", "port-out-of-range")
ray_case("[::1]:1", "ipv6-closed")


def ray_in_sweep_file(ctx):
    p = ctx.dir / "s.toml"
    p.write_text((FILES / "tiny-local-sweep.toml").read_text().replace('backend = "local"', 'backend = "ray"\naddress = "127.0.0.1:1"'))
    return ctx.lab("sweep", str(p))


case("ray-address-in-sweep-file", "cli", ray_in_sweep_file)

# =============================================================================== stop


def stop_with(key, make):
    def setup(ctx):
        pid, start = make(ctx)
        ctx.summary(key, state="running", pid=pid, pid_start=start, host=socket.gethostname())
    return setup


def proc_start(pid):
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def sleeper(ctx):
    p = ctx.spawn(["sleep", "300"])
    ctx.sleeper = p
    return p.pid, proc_start(p.pid)


def alive(ctx, res):
    return [] if ctx.sleeper.poll() is None else ["a process lab does not own was signalled"]


case("stop-forged-sleep-pid", "stop", lab("stop", rid("PPO")), setup=stop_with("PPO", sleeper), custom=alive, target=("PPO",))
case("stop-forged-init-pid", "stop", lab("stop", rid("PPO")), setup=stop_with("PPO", lambda c: (1, proc_start(1))), target=("PPO",))
case("stop-forged-nonexistent-pid", "stop", lab("stop", rid("PPO")), setup=stop_with("PPO", lambda c: (4194000, "123")), target=("PPO",))


def lab_like_sleeper(ctx):
    """A stranger whose command line reads like lab's: `python -m lab run ...` is sleep's argv[0]? No: a
    python process started as `python -c ... -m lab run` style via exec -a."""
    p = ctx.spawn(["bash", "-c", f"exec -a python3 {PY} -c 'import time; time.sleep(300)' -m lab run x"])
    time.sleep(0.5)
    ctx.sleeper = p
    return p.pid, proc_start(p.pid)


case("stop-forged-python-c-with-m-lab-args", "stop", lab("stop", rid("PPO")), setup=stop_with("PPO", lab_like_sleeper),
     custom=alive, target=("PPO",))


def other_lab_run(ctx):
    """A real `lab run` of another run: its pid in PPO's summary."""
    p = ctx.spawn([LAB, "run", "taxi-qlearning", "--set", "agent.total_steps=100000000", "--runs-dir", str(ctx.dir / "other-runs")],
                  env=ctx.env())
    time.sleep(6)
    ctx.sleeper = p
    return p.pid, proc_start(p.pid)


case("stop-forged-other-lab-run-pid", "stop", lab("stop", rid("PPO")), setup=stop_with("PPO", other_lab_run), custom=alive,
     target=("PPO",))


def same_events_other_pid(ctx):
    """A stranger (sleep) that holds PPO's events.jsonl open (e.g. a `tail -f`): not lab."""
    p = ctx.spawn(["tail", "-f", str(ctx.run("PPO") / "events.jsonl")])
    time.sleep(0.3)
    ctx.sleeper = p
    return p.pid, proc_start(p.pid)


case("stop-forged-tail-f-of-events", "stop", lab("stop", rid("PPO")), setup=stop_with("PPO", same_events_other_pid),
     custom=alive, target=("PPO",))


def lab_show_holder(ctx):
    """A `lab` process (python -m lab runs ... in a loop via a follower) that is not a run: `lab show` holds files briefly;
    use a lab dashboard-like process: `python -m lab show` blocked on nothing... use `lab resume` of another stopped run."""
    p = ctx.spawn([LAB, "resume", ctx.id("STAXI"), "--runs-dir", str(ctx.runs)], env=ctx.env())
    time.sleep(5)
    ctx.sleeper = p
    return p.pid, proc_start(p.pid)


case("stop-forged-pid-of-resume-of-another-run", "stop", lab("stop", rid("PPO")), setup=stop_with("PPO", lab_show_holder),
     custom=alive, target=("PPO", "STAXI"), may_change=("STAXI",))

# =============================================================================== second round

DOTTED = ".".join(["a"] * 50000) + " = 1\n"


def dotted_into(rel_key, name):
    def setup(ctx):
        p = ctx.run(rel_key) / name
        p.write_text(p.read_text() + "\n" + DOTTED)
    return setup


case("tomlbomb-spec-dotted-eval", "size", lab("eval", rid("PPO"), "--episodes", "2"), setup=dotted_into("PPO", "spec.toml"),
     target=("PPO",))
case("tomlbomb-spec-dotted-explain", "size", lab("explain", rid("PPO")), setup=dotted_into("PPO", "spec.toml"), target=("PPO",))
case("tomlbomb-spec-dotted-resume", "size", lab("resume", rid("SPPO")), setup=dotted_into("SPPO", "spec.toml"), target=("SPPO",))
case("tomlbomb-sweep-toml-dotted-show", "size", lab("show", rid("LOCSW")), setup=dotted_into("LOCSW", "sweep.toml"), rc=(0, 2),
     target=("LOCSW",))
case("tomlbomb-sweep-toml-dotted-resume", "size", lab("sweep", "--resume", rid("STOPSW")), setup=dotted_into("STOPSW", "sweep.toml"),
     target=("STOPSW",))
case("tomlbomb-best-toml-dotted-run", "size", lab("run", rpath("LOCSW", "best.toml")), setup=dotted_into("LOCSW", "best.toml"))
case("tomlbomb-experiment-dotted-sweep", "size", lambda c: c.lab("sweep", str(c.dir / "s.toml")),
     setup=lambda c: ((c.dir / "e.toml").write_text((FILES / "tiny-taxi.toml").read_text() + "\n" + DOTTED),
                      (c.dir / "s.toml").write_text((FILES / "tiny-local-sweep.toml").read_text().replace(str(FILES / "tiny-taxi.toml"), str(c.dir / "e.toml")))))
case("tomlbomb-list-params-dotted", "size", lambda c: c.lab("list", "--params", str(c.dir / "e.toml")),
     setup=lambda c: (c.dir / "e.toml").write_text((FILES / "tiny-taxi.toml").read_text() + "\n" + DOTTED))
case("tomlbomb-set-value-inline-dotted", "size", lab("run", "cartpole-ppo-torch", "--set", "env.kwargs={" + ".".join(["a"] * 50000) + "=1}"))


def sparse(path: Path, size: str):
    if path.exists() or path.is_symlink():
        path.unlink()
    subprocess.run(["truncate", "-s", size, str(path)], check=True)


case("sparse-events-200g-show", "readers", lab("show", rid("PPO")), rc=(0,), target=("PPO",),
     setup=lambda c: sparse(c.run("PPO") / "events.jsonl", "200G"))
case("sparse-events-200g-runs", "readers", lab("runs"), rc=(0,), target=("PPO",),
     setup=lambda c: sparse(c.run("PPO") / "events.jsonl", "200G"))
case("sparse-events-200g-export", "readers", lab("export", rid("PPO"), "--tensorboard", lambda c: str(c.dir / "tb")), rc=(0, 2),
     target=("PPO",), setup=lambda c: sparse(c.run("PPO") / "events.jsonl", "200G"))
case("sparse-events-200g-resume", "resume", lab("resume", rid("STAXI")), rc=(0, 2), target=("STAXI",), may_change=("STAXI",),
     setup=lambda c: sparse(c.run("STAXI") / "events.jsonl", "200G"))
case("sparse-events-tail-newline-show", "readers", lab("show", rid("PPO")), rc=(0,), target=("PPO",),
     setup=lambda c: (sparse(c.run("PPO") / "events.jsonl", "50G"), open(c.run("PPO") / "events.jsonl", "ab").write(b"\n" + b'{"kind":"eval","step":1,"mean":1,"std":0,"episodes":1}\n' * 3)))
case("sparse-study-db-20g-runs", "sweep", lab("runs"), rc=(0,), target=("STOPSW",),
     setup=lambda c: subprocess.run(["truncate", "-s", "20G", str(c.run("STOPSW") / "study.db")], check=True))
case("sparse-study-db-20g-show", "sweep", lab("show", rid("STOPSW")), rc=(0,), target=("STOPSW",),
     setup=lambda c: subprocess.run(["truncate", "-s", "20G", str(c.run("STOPSW") / "study.db")], check=True))
case("sparse-checkpoint-50g-eval", "readers", lab("eval", rid("PPO"), "--episodes", "2"), rc=(2,), target=("PPO",),
     setup=lambda c: sparse(c.run("PPO") / "checkpoints" / "best.pt", "50G"))
case("sparse-dqn-zip-50g-eval", "readers", lab("eval", rid("DQN"), "--episodes", "2"), rc=(2,), target=("DQN",),
     setup=lambda c: sparse(c.run("DQN") / "checkpoints" / "best.zip", "50G"))
case("sparse-resume-zip-50g", "resume", lab("resume", rid("SDQN")), rc=(2,), target=("SDQN",),
     setup=lambda c: sparse(c.run("SDQN") / json.loads(resume_state_path(c, "SDQN").read_text())["files"]["model"], "50G"))
case("sparse-comparison-20g-show", "readers", lab("show", rid("WINE")), rc=(0,), target=("WINE",),
     setup=lambda c: sparse(c.run("WINE") / "artifacts" / "comparison.json", "20G"))
case("sparse-npy-header-then-hole-eval", "readers", lab("eval", rid("FL"), "--episodes", "2"), rc=(0, 2), target=("FL",),
     setup=lambda c: subprocess.run(["truncate", "-s", "50G", str(c.run("FL") / "checkpoints" / "best.npy")], check=True))


def resume_trial_while_sweep_resumes(ctx):
    """`lab resume` of a sweep's stopped trial run while `lab sweep --resume` of its sweep runs: one writer each."""
    env = ctx.env()
    p1 = subprocess.Popen([LAB, "resume", ctx.id("MIDRUN"), "--runs-dir", str(ctx.runs)], cwd=ctx.dir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(2.5)
    p2 = subprocess.Popen([LAB, "sweep", "--resume", ctx.id("STOPSW"), "--runs-dir", str(ctx.runs)], cwd=ctx.dir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(10)
    for p in (p2, p1):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
    out2, err2 = p2.communicate(timeout=120)
    out1, err1 = p1.communicate(timeout=120)
    problems = []
    for name, err in (("resume", err1), ("sweep --resume", err2)):
        if b"Traceback" in err:
            problems.append(f"{name}: traceback {err.decode()[-300:]!r}")
    r3 = run_cmd([LAB, "runs", "--runs-dir", str(ctx.runs)], ctx.dir, env, 60)
    if b"corrupt" in r3.out:
        problems.append("a folder is corrupt afterwards: " + r3.out.decode()[-400:])
    r4 = run_cmd([LAB, "resume", ctx.id("MIDRUN"), "--runs-dir", str(ctx.runs)], ctx.dir, env, 90)
    if r4.rc not in (0, 2) or b"Traceback" in r4.err:
        problems.append(f"MIDRUN afterwards: resume exit {r4.rc} {r4.err.decode()[-300:]!r}")
    problems.append(f"(info) resume exit {p1.returncode}, sweep exit {p2.returncode}; sweep stderr {err2.decode()[-200:]!r}") if False else None
    return [p for p in problems if p]


case("concurrency-resume-trial-while-sweep-resumes", "concurrency", resume_trial_while_sweep_resumes,
     target=("STOPSW", "MIDRUN"), may_change=("STOPSW", "MIDRUN"), new_ok=True)


def duplicate_run_ids(ctx):
    p = ctx.run("STOPSW") / "sweep.json"
    d = json.loads(p.read_text())
    # trial 1 (not reached) gets a job naming trial 0's run: two trials, one folder
    d["trials"].append({"number": 1, "params": {"agent.learning_rate": 0.5}, "jobs": [{"seed": 0, "run": ctx.id("MIDRUN"), "state": "stopped"}],
                        "state": "stopped"})
    p.write_text(json.dumps(d))


case("summary-policy-fifo-inside-eval", "readers", lab("eval", rid("PPO"), "--episodes", "2"), rc=(0, 2), target=("PPO",),
     setup=lambda c: (mkfifo(c.run("PPO") / "checkpoints" / "x.pt"), c.results("PPO", policy="checkpoints/x.pt")))
case("summary-sweep-escape-runs", "readers", lab("runs"), rc=(0,), target=("PPO",),
     setup=lambda c: c.summary("PPO", sweep=HOSTILE, id=HOSTILE, stop_reason=HOSTILE, compile=HOSTILE))
case("summary-sweep-escape-show", "readers", lab("show", rid("PPO")), rc=(0,), target=("PPO",),
     setup=lambda c: c.summary("PPO", sweep=HOSTILE, id=HOSTILE, stop_reason=HOSTILE, compile=HOSTILE, env_path=HOSTILE,
                               device_reason=HOSTILE, algo=HOSTILE))
case("events-failed-run-traceback-escape-show", "readers", lab("show", rid("PPO")), rc=(0,), target=("PPO",),
     setup=lambda c: (c.summary("PPO", state="failed", error=HOSTILE), open(c.run("PPO") / "events.jsonl", "a").write(
         json.dumps({"t": 1, "kind": "log", "level": "error", "message": HOSTILE, "traceback": HOSTILE * 1000}) + "\n")))
case("explain-methods-escape", "cli", lab("explain", rid("WINE"), "--methods", "\x1b]0;PWNED\x07", "--samples", "2"))
case("explain-methods-many", "cli", lab("explain", rid("WINE"), "--methods", *(["saliency"] * 20000), "--samples", "2"), rc=(0, 2), new_ok=True)
case("eval-ref-is-sweep-id", "cli", lab("eval", rid("LOCSW")))
case("show-ref-dotdot-path", "cli", lab("show", "../../../../etc"), rc=(2,))

QEQ = '"=".' + ".".join(["a"] * 40000) + " = 1\n"
case("tomlbomb-quoted-eq-key-experiment", "size", lambda c: c.lab("run", str(c.dir / "e.toml")),
     setup=lambda c: (c.dir / "e.toml").write_text((FILES / "tiny-taxi.toml").read_text() + "\n" + QEQ))
case("tomlbomb-quoted-eq-key-spec-eval", "size", lab("eval", rid("PPO"), "--episodes", "2"), target=("PPO",),
     setup=lambda c: open(c.run("PPO") / "spec.toml", "a").write("\n" + QEQ))
case("tomlbomb-quoted-eq-key-sweep-toml-show", "size", lab("show", rid("LOCSW")), rc=(0, 2), target=("LOCSW",),
     setup=lambda c: open(c.run("LOCSW") / "sweep.toml", "a").write("\n" + QEQ))
case("tomlbomb-literal-eq-key-spec-resume", "size", lab("resume", rid("SPPO")), target=("SPPO",),
     setup=lambda c: open(c.run("SPPO") / "spec.toml", "a").write("\n'a=b'." + ".".join(["a"] * 40000) + " = 1\n"))
case("tomlbomb-table-headers-300k", "size", lambda c: c.lab("run", str(c.dir / "e.toml")),
     setup=lambda c: (c.dir / "e.toml").write_text("[" + ".".join(["a"] * 300000) + "]\n"))


def data_path_etc_passwd(ctx):
    p = ctx.run("WINE") / "spec.toml"
    p.write_text(p.read_text().replace('dataset = "wine"', 'dataset = "csv"\npath = "/etc/passwd"\ntarget = "x"'))


def no_passwd(ctx, res):
    return ["printed content of /etc/passwd (a path a run folder's spec names)"] if res is not None and b"root:" in res.out + res.err else []


case("code-data-path-etc-passwd-run-folder", "code", lab("run", rpath("WINE")), setup=data_path_etc_passwd, custom=no_passwd)


def npz_bomb_attr(ctx):
    p = ctx.run("WINE") / "artifacts" / "attributions.npz"
    p.unlink()
    A.link("npz-bomb.npz", A.npz_bomb, p)


case("checkpoint-wine-attributions-npz-bomb-show", "readers", lab("show", rid("WINE")), setup=npz_bomb_attr, rc=(0,), target=("WINE",))
case("checkpoint-wine-attributions-npz-bomb-explain", "readers", lab("explain", rid("WINE"), "--samples", "2"), setup=npz_bomb_attr,
     rc=(0, 2), target=("WINE",), new_ok=True)


def study_many_trials(key, n=600_000):
    def setup(ctx):
        import random
        import sqlite3
        db = ctx.run(key) / "study.db"
        d = sqlite3.connect(db)
        (study_id,) = d.execute("select study_id from studies").fetchone()
        first = d.execute("select max(trial_id), max(number) from trials").fetchone()
        t0, n0 = (first[0] or 0) + 1, (first[1] if first[1] is not None else -1) + 1
        dist = d.execute("select distribution_json, param_name from trial_params limit 1").fetchone()
        d.executemany("insert into trials(trial_id, number, study_id, state, datetime_start, datetime_complete) values "
                      "(?,?,?,'COMPLETE','2026-12-06 23:29:36.330129','2026-12-06 23:29:40.531172')",
                      [(t0 + i, n0 + i, study_id) for i in range(n)])
        d.executemany("insert into trial_params(trial_id, param_name, param_value, distribution_json) values (?,?,?,?)",
                      [(t0 + i, dist[1], float(i % 2), dist[0]) for i in range(n)])
        d.executemany("insert into trial_values(trial_id, objective, value, value_type) values (?,0,?,'FINITE')",
                      [(t0 + i, random.random()) for i in range(n)])
        d.commit()
        d.close()
    return setup


case("sweep-study-600k-trials-show", "sweep", lab("show", rid("LOCSW")), setup=study_many_trials("LOCSW"), rc=(0,),
     target=("LOCSW",))
def locsw_trial_crashed(ctx):
    p = ctx.run("LOCSW") / "sweep.json"
    d = json.loads(p.read_text())
    d["trials"][1].update(state="crashed", value=None, std=None)
    d["trials"][1]["jobs"][0].update(state="crashed", value=None)
    d["state"] = "stopped"
    p.write_text(json.dumps(d))


case("sweep-study-600k-trials-resume", "sweep", lab("sweep", "--resume", rid("LOCSW")),
     setup=chain(study_many_trials("LOCSW"), locsw_trial_crashed), rc=(0, 1, 2), target=("LOCSW", "LOCRUN2"),
     may_change=("LOCSW", "LOCRUN2"), new_ok=True)


def sparse_npy(path: Path, elements: int = 750_000_000):
    import struct
    h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % elements
    h += b" " * (63 - (len(h) + 10) % 64) + b"\n"
    if path.exists() or path.is_symlink():
        path.unlink()
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h)
        f.truncate(f.tell() + elements * 8)


case("checkpoint-fl-npy-sparse-6gb-eval", "readers", lab("eval", rid("FL"), "--episodes", "2"), target=("FL",),
     setup=lambda c: sparse_npy(c.run("FL") / "checkpoints" / "best.npy"))
case("checkpoint-fl-npy-sparse-6gb-record", "readers", lab("record", rid("FL"), "--out", lambda c: str(c.dir / "x.gif")),
     target=("FL",), setup=lambda c: sparse_npy(c.run("FL") / "checkpoints" / "best.npy"))


def staxi_best_npy_sparse(ctx):
    d = json.loads(resume_state_path(ctx, "STAXI").read_text())
    sparse_npy(ctx.run("STAXI") / d["files"]["best"])


case("resume-qlearning-best-npy-sparse-6gb", "resume", lab("resume", rid("STAXI")), target=("STAXI",),
     setup=staxi_best_npy_sparse)

case("sweep-log-fifo-resume", "sweep", lab("sweep", "--resume", rid("LOCSW")), rc=(0, 1, 2),
     setup=chain(locsw_trial_crashed, lambda c: mkfifo(c.run("LOCSW") / "sweep.log")), target=("LOCSW", "LOCRUN2"),
     may_change=("LOCSW", "LOCRUN2"), new_ok=True, note="sweep.log a named pipe: open(..., 'a') blocks without a reader")
case("sweep-logs-dir-is-file-resume", "sweep", lab("sweep", "--resume", rid("LOCSW")), rc=(0, 1, 2),
     setup=chain(locsw_trial_crashed, lambda c: (shutil.rmtree(c.run("LOCSW") / "logs"), (c.run("LOCSW") / "logs").write_text("x"))),
     target=("LOCSW", "LOCRUN2"), may_change=("LOCSW", "LOCRUN2"), new_ok=True)
case("sweep-logs-dir-fifo-resume", "sweep", lab("sweep", "--resume", rid("LOCSW")), rc=(0, 1, 2),
     setup=chain(locsw_trial_crashed, lambda c: (shutil.rmtree(c.run("LOCSW") / "logs"), os.mkfifo(c.run("LOCSW") / "logs"))),
     target=("LOCSW", "LOCRUN2"), may_change=("LOCSW", "LOCRUN2"), new_ok=True)
case("sweep-baseline-crashed-trial-resume", "sweep", lab("sweep", "--resume", rid("LOCSW")), rc=(0,),
     setup=locsw_trial_crashed, target=("LOCSW", "LOCRUN2"), may_change=("LOCSW", "LOCRUN2"), new_ok=True,
     note="control: the same resume without hostile content")


def forged_events_link(kind):
    def setup(ctx):
        other = ctx.runs  # run A in the same runs root: a real, long lab run
        p = ctx.spawn([LAB, "run", "taxi-qlearning", "--set", "agent.total_steps=100000000", "--runs-dir", str(ctx.dir / "other-runs")],
                      env=ctx.env())
        time.sleep(6)
        a = next((ctx.dir / "other-runs").iterdir())
        ctx.victim_dir = a
        b = ctx.run("PPO")
        (b / "events.jsonl").unlink()
        if kind == "hardlink":
            os.link(a / "events.jsonl", b / "events.jsonl")
        else:
            (b / "events.jsonl").symlink_to(a / "events.jsonl")
        ctx.summary("PPO", state="running", pid=p.pid, pid_start=proc_start(p.pid), host=socket.gethostname())
        ctx.sleeper = p
    return setup


def victim_alive(ctx, res):
    out = [] if ctx.sleeper.poll() is None else ["another run's lab process was signalled through a forged folder"]
    return out


for kind in ("hardlink", "symlink"):
    # a hard link is the victim's own file, which it goes on writing: that change is not lab stop's
    case(f"stop-forged-events-{kind}-to-running-run", "stop", lab("stop", rid("PPO")), setup=forged_events_link(kind),
         custom=victim_alive, target=("PPO",), may_change=("PPO",) if kind == "hardlink" else ())
