"""Device choice: what 'auto' picks for each workload, and why, and what it refuses."""

import pytest

import lab
from lab import device
from lab.device import choose_device
from lab.errors import BadInput
from lab.rl.algos import ALGOS


def test_requested_cpu_is_taken_as_asked():
    assert choose_device("cpu", "small network") == ("cpu", "requested")


def test_auto_without_cuda_picks_the_cpu_and_says_why(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    assert choose_device("auto", "small network", why_gpu="big") == ("cpu", "auto: no CUDA device visible to torch")


def test_cuda_without_cuda_is_bad_input_naming_the_file(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(BadInput, match=r"^x.toml: device: 'cuda' requested but torch sees no CUDA device; use 'auto' or 'cpu'$"):
        choose_device("cuda", "small network", source="x.toml")


def test_with_cuda_auto_follows_the_workload(monkeypatch):
    """As on a machine whose torch sees a GPU (this one has none): the reasons are the table's."""
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    assert choose_device("auto", "an MLP is faster here") == ("cpu", "auto: an MLP is faster here")
    assert choose_device("auto", "an MLP", why_gpu="a CNN is faster there") == ("cuda", "auto: a CNN is faster there")
    assert choose_device("cuda", "an MLP") == ("cuda", "requested")


def test_a_workload_without_torch_refuses_cuda_and_never_asks_torch(monkeypatch):
    monkeypatch.setattr(device, "cuda_available", lambda: pytest.fail("asked torch about CUDA"))
    assert choose_device("auto", "tabular: no neural network", torch_free="qlearning") == ("cpu", "tabular: no neural network")
    with pytest.raises(BadInput, match="'cuda' does nothing for qlearning"):
        choose_device("cuda", "tabular", torch_free="qlearning")


@pytest.mark.parametrize("name", ["cartpole-ppo", "cartpole-dqn", "cartpole-reinforce", "taxi-qlearning"])
def test_each_builtin_rl_experiment_gets_a_device_and_a_reason_from_its_algorithm(name):
    from lab.rl.train import prepare

    spec = lab.load_experiment(name)
    plan = prepare(spec)
    assert plan.device == "cpu" and plan.prerequisites == []
    if spec.device == "cpu":
        assert plan.device_reason == "requested"
    elif spec.algo.uses_torch:
        assert plan.device_reason == "auto: no CUDA device visible to torch"  # this machine has no GPU
    else:
        assert plan.device_reason == spec.algo.device_note
    plan = prepare(spec, requested="auto")
    expected = spec.algo.device_note if not spec.algo.uses_torch else "auto: no CUDA device visible to torch"
    assert plan.device_reason == expected


def test_every_algorithm_states_its_device_note_and_metrics():
    for algo in ALGOS.values():
        assert algo.device_note and algo.metrics, algo.name
        assert algo.agent_class().suffix.startswith(".")
