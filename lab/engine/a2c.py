"""A2C on lab's torch engine: one gradient step per rollout of `n_steps` in every environment.

The rollout and the advantages are `onpolicy.py`'s, shared with PPO, and so is the member
dimension M of every tensor (a population; 1 for a plain run). The hyperparameters are SB3's
(`lab.rl.params.A2CParams`), and so are its details: RMSprop with alpha 0.99 and eps 1e-5 (or
Adam with eps 1e-5 when `use_rms_prop` is false), the whole rollout as one batch, advantages
normalised only when asked, each member's gradient clipped to `max_grad_norm`.
"""

from __future__ import annotations

import torch

from lab.engine.onpolicy import OnPolicyAgent, Rollout
from lab.engine.optim import MemberAdam, MemberOptimizer, MemberRMSprop
from lab.rl.algos import ALGOS


class TorchA2CAgent(OnPolicyAgent):
    member_settings = ALGOS["a2c"].member_settings

    def make_optimizer(self) -> MemberOptimizer:
        if self.spec.agent.use_rms_prop:
            return MemberRMSprop(self.net, self.members, alpha=0.99, eps=1e-5)
        return MemberAdam(self.net, self.members, eps=1e-5)

    def loss(self, batch: Rollout, h: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The policy gradient, the value loss and the entropy bonus of each member (M, 1)."""
        dist, value = self.net(batch.obs)
        advantages = batch.advantages
        if self.spec.agent.normalize_advantage:
            advantages = (advantages - advantages.mean(1, keepdim=True)) / (advantages.std(1, keepdim=True) + 1e-8)
        policy_loss = -(advantages * dist.log_prob(batch.actions)).mean(1, keepdim=True)
        value_loss = (batch.returns - value).pow(2).mean(1, keepdim=True)
        entropy = dist.entropy().mean(1, keepdim=True)
        loss = policy_loss - h["ent_coef"] * entropy + h["vf_coef"] * value_loss
        return loss, {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                      "entropy": entropy.detach()}

    def update(self, optimizer, lr, rollout: Rollout, progress_remaining: float) -> dict:
        """One gradient step on the whole rollout."""
        active = torch.ones(self.members, dtype=torch.bool, device=self.device)
        stats, _ = self.train_step(optimizer, lr, self.hyperparameters(progress_remaining), rollout, active)
        return dict(zip(stats, torch.cat(list(stats.values()), 1).mean(0).tolist()))  # over members; one host sync
