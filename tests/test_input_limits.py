"""Input that validation used to pass and a run then choked on: caught before any run folder
exists, as one line with exit code 2 (env modules that raise or exit on import, sizes that do not
fit in memory, special or oversized data files, non-finite and zero counts)."""

import sys

import numpy as np
import pytest

import lab
from lab.errors import BadInput

from .conftest import lab_cli, lab_main


def _refused(proc, runs_dir, *expected):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for part in expected:
        assert part in proc.stderr, proc.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("body,expected", [
    ("raise ValueError('broken on purpose')", "raises ValueError: broken on purpose when imported"),
    ("import sys\nsys.exit(0)", "exits (SystemExit 0) when imported"),
    ("raise SystemExit('bye')", "exits (SystemExit 'bye') when imported"),
    ("1 / 0", "raises ZeroDivisionError: division by zero"),
], ids=["raises", "exit-0", "exit-text", "zero-division"])
def test_an_env_module_that_raises_or_exits_on_import_is_one_line(tmp_path, runs_dir, body, expected):
    (tmp_path / "user_env_mod.py").write_text(body + "\n")
    spec = tmp_path / "x.toml"
    spec.write_text('name = "x"\n[env]\nid = "user_env_mod:Foo-v0"\n[agent]\nalgo = "ppo"\ntotal_steps = 1000\n')
    proc = lab_cli("run", spec, runs_dir=runs_dir, cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    _refused(proc, runs_dir, "env.id: module 'user_env_mod'", expected)


@pytest.mark.parametrize("experiment,override,expected", [
    ("cartpole-dqn", "agent.buffer_size=1000000000000", "agent.buffer_size: the replay buffer"),
    ("cartpole-ppo", "agent.n_steps=1000000000", "agent.n_steps: the rollout buffer"),
    ("cartpole-ppo", "agent.net_arch=[1000000, 1000000]", "agent.net_arch: the networks"),
    ("cartpole-reinforce", "agent.net_arch=[3000000, 3000000]", "agent.net_arch: the networks"),
    ("breast-cancer-attributions", "model.hidden=[2000000000]", "model.hidden: the classifier"),
])
def test_sizes_that_cannot_fit_in_memory_are_refused_before_a_folder(runs_dir, experiment, override, expected):
    proc = lab_main("run", experiment, "--set", override, runs_dir=runs_dir)
    _refused(proc, runs_dir, expected, "this machine has", "GiB of memory free")


def test_kernel_shap_on_ten_thousand_columns_is_refused_before_it_allocates(tmp_path, runs_dir):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 10_000)).round(2)
    header = ",".join(f"f{i}" for i in range(10_000)) + ",label"
    rows = "\n".join(",".join(map(str, x)) + f",{int(x[0] > 0)}" for x in X)
    (tmp_path / "wide.csv").write_text(header + "\n" + rows + "\n")
    spec = tmp_path / "wide.toml"
    spec.write_text('name = "wide"\nkind = "attribution"\n[data]\ndataset = "csv"\npath = "wide.csv"\ntarget = "label"\n'
                    '[model]\narch = "logistic"\n[explain]\nmethods = ["saliency", "shap_kernel"]\n')
    proc = lab_main("run", spec, runs_dir=runs_dir)
    _refused(proc, runs_dir, "explain.background: shap_kernel's samples", "10,000 features", "drop shap_kernel")


def _csv_spec(path) -> dict:
    return {"name": "csv", "kind": "attribution", "data": {"dataset": "csv", "path": str(path), "target": "y"},
            "model": {"arch": "logistic", "epochs": 5}, "explain": {"samples": 2, "methods": ["saliency"]}}


def test_a_device_file_is_not_read_as_data():
    with pytest.raises(BadInput, match="data.path: /dev/zero is not a regular file"):
        lab.load_experiment(_csv_spec("/dev/zero"))


def test_a_csv_too_few_rows_to_split_is_one_line(tmp_path):
    (tmp_path / "two.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    with pytest.raises(BadInput, match=r"data: 2 rows cannot be split into train, validation and test rows.*give more rows"):
        lab.load_experiment(_csv_spec(tmp_path / "two.csv"))


def test_a_csv_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    import lab.xai.data

    (tmp_path / "big.csv").write_text("a,b,y\n" + "1,2,0\n3,4,1\n" * 50)
    monkeypatch.setattr(lab.xai.data, "MAX_CSV_BYTES", 100)
    with pytest.raises(BadInput, match="lab reads CSV files up to .*LAB_MAX_CSV_MB"):
        lab.load_experiment(_csv_spec(tmp_path / "big.csv"))


@pytest.mark.parametrize("override,expected", [
    ("explain.params.integrated_gradients.n_steps=0", "explain.params.integrated_gradients.n_steps (set by override): must be >= 1 (got 0; default 64)"),
    ("explain.params.gradient_shap.n_samples=0", "must be >= 1 (got 0; default 50)"),
    ("explain.params.gradient_shap.stdevs=nan", "explain.params.gradient_shap.stdevs (set by override): must be a finite number"),
    ("model.weight_decay=inf", "model.weight_decay (set by override): must be a finite number (got inf)"),
    ("model.learning_rate=nan", "model.learning_rate (set by override): must be a finite number"),
    ("model.weight_decay=1e300", "model.weight_decay (set by override): must be less than or equal to 10"),
])
def test_zero_counts_and_non_finite_numbers_are_refused(runs_dir, override, expected):
    _refused(lab_main("run", "breast-cancer-attributions", "--set", override, runs_dir=runs_dir), runs_dir, expected)


def test_zero_for_a_library_default_stays_allowed():
    spec = lab.load_experiment("breast-cancer-attributions", {"explain.params.shap_kernel.nsamples": 0})
    assert spec.explain.params["shap_kernel"]["nsamples"] == 0


def test_imports_of_the_user_module_do_not_leak_into_sys_modules_on_failure(tmp_path, monkeypatch):
    (tmp_path / "leaky_env_mod.py").write_text("raise RuntimeError('nope')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    raw = {"name": "x", "env": {"id": "leaky_env_mod:Foo-v0"}, "agent": {"algo": "ppo", "total_steps": 100}}
    with pytest.raises(BadInput, match="raises RuntimeError: nope when imported"):
        lab.load_experiment(raw)
    assert "leaky_env_mod" not in sys.modules


@pytest.mark.parametrize("name,changes,expected", [
    ("cartpole-policy-attributions", {"model.from_run": []}, "model.from_run (set by override): must have at least 1 item (got [])"),
    ("breast-cancer-attributions", {"explain.methods": []}, "explain.methods (set by override): must have at least 1 item"),
    ("breast-cancer-attributions", {"model.hidden": [64, 0]}, "model.hidden[1] (set by override): must be greater than 0"),
    ("cartpole-dqn", {"agent.batch_size": 10**12}, "agent.batch_size: a minibatch (1,000,000,000,000 x 256 activations)"),
    ("breast-cancer-attributions", {"explain.params.captum_lime.n_samples": 10**9}, "explain.params.captum_lime.n_samples: captum_lime's samples"),
])
def test_empty_lists_zero_widths_and_huge_batches_are_one_line(name, changes, expected):
    from lab.launch import prepare

    with pytest.raises(BadInput) as err:
        prepare(lab.load_experiment(name, changes))
    assert expected in str(err.value) and "\n" not in str(err.value)
