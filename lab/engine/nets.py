"""The networks of lab's torch engine: an actor and a critic per member, for all members at once.

`StackedMLP(k, sizes)` holds k MLPs as one set of parameters with a leading stack dimension and
runs them as batched matmuls, (k, batch, in) -> (k, batch, out): k networks for the ops of one
(measured against vmap over functional_call: benchmarks/engine_update.py). Autograd derives every
gradient; nothing mixes across the stack. Initialisation is SB3's: orthogonal, gain sqrt(2)
inside, 0.01 at the actor's output and 1 at the critic's; member m draws from its own
generator, as a run with seed `seed + m` would.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class StackedMLP(nn.Module):
    def __init__(self, k: int, sizes: list[int], activation: str, out_gain: float,
                 generators: list[torch.Generator | None] | None = None):
        super().__init__()
        self.activation = {"tanh": torch.tanh, "relu": torch.relu}[activation]
        generators = generators or [None] * k  # None: torch's global generator
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            gain = out_gain if i == len(sizes) - 2 else math.sqrt(2)
            # each network's layer as nn.Linear would hold it (out x in), stored transposed for x @ w
            w = torch.stack([nn.init.orthogonal_(torch.empty(n_out, n_in), gain, generator=g).T for g in generators])
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(torch.zeros(k, 1, n_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(k, batch, in) -> (k, batch, out)."""
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)  # b + x @ w, network by network
            if i < last:
                x = self.activation(x)
        return x


class Categorical:
    """torch.distributions.Categorical's sample, log_prob, entropy and mode from logits (M, batch,
    actions), in fewer ops (its construction and checks cost more than a CartPole step of 32
    environments on a CPU). Samples by the Gumbel-max trick: argmax(log p - log E), E ~ Exp(1)."""

    def __init__(self, logits: torch.Tensor):
        self.log_p = torch.log_softmax(logits, -1)

    def sample(self) -> torch.Tensor:
        return (self.log_p.detach() - torch.empty_like(self.log_p).exponential_().log_()).argmax(-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        return self.log_p.gather(-1, actions.unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        return -(self.log_p.exp() * self.log_p).sum(-1)

    def mode(self) -> torch.Tensor:
        return self.log_p.argmax(-1)


class Gaussian:
    """Independent normals per action dimension: means (M, batch, D) and each member's log-std
    (M, D), shared over its batch; torch.distributions.Normal's formulas and draws, summed over D."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor):
        self.mean, self.log_std = mean, log_std[:, None, :].expand_as(mean)

    def sample(self) -> torch.Tensor:
        return torch.normal(self.mean.detach(), self.log_std.detach().exp())

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        z = (actions - self.mean) / self.log_std.exp()
        return (-0.5 * z * z - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self) -> torch.Tensor:
        return (0.5 + 0.5 * math.log(2 * math.pi) + self.log_std).sum(-1)

    def mode(self) -> torch.Tensor:
        return self.mean


class ActorCritic(nn.Module):
    """M members' policies (categorical logits, or a Gaussian mean with a learned log-std per
    member) and values: two stacks of M MLPs. Observations are (M, batch, obs), member m's in row
    m; a (batch, obs) tensor goes to every member."""

    def __init__(self, obs_dim: int, n_actions: int, continuous: bool, net_arch: list[int], activation: str,
                 members: int = 1, seed: int = 0):
        super().__init__()
        self.args = (obs_dim, n_actions, continuous, net_arch, activation)
        self.members, self.continuous = members, continuous
        # member 0 draws from torch's global generator (seeded by the agent), member m from seed + m
        generators = [None] + [torch.Generator().manual_seed(seed + m) for m in range(1, members)]
        self.actor = StackedMLP(members, [obs_dim, *net_arch, n_actions], activation, 0.01, generators)
        self.critic = StackedMLP(members, [obs_dim, *net_arch, 1], activation, 1.0, generators)
        if continuous:
            self.log_std = nn.Parameter(torch.zeros(members, n_actions))

    def forward(self, obs: torch.Tensor) -> tuple[Categorical | Gaussian, torch.Tensor]:
        """(the action distributions, the values (M, batch)) at `obs`."""
        return self.policy(obs), self.value(obs)

    def _per_member(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.expand(self.members, *obs.shape) if obs.dim() == 2 else obs

    def policy(self, obs: torch.Tensor) -> Categorical | Gaussian:
        out = self.actor(self._per_member(obs))
        return Gaussian(out, self.log_std) if self.continuous else Categorical(out)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """(M, batch)."""
        return self.critic(self._per_member(obs))[..., 0]

    def scores(self, obs: torch.Tensor) -> torch.Tensor:
        """The actors' outputs (M, batch, actions): logits, or the action means."""
        return self.actor(self._per_member(obs))

    def member(self, m: int) -> ActorCritic:
        """Member m alone, as a network of one member (a copy)."""
        one = ActorCritic(*self.args)
        one.load_state_dict(member_state(self.state_dict(), m))
        return one.to(next(self.parameters()).device)


def member_state(state: dict, m: int) -> dict:
    """Member m's rows of a stacked state dict (every tensor's leading dimension is the members')."""
    return {k: v[m:m + 1] for k, v in state.items()}
