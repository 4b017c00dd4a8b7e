"""A2C on lab's torch engine: one gradient step per rollout of `n_steps` in every environment.

The rollout and the advantages are `onpolicy.py`'s, shared with PPO, and so is the member
dimension M of every tensor (a population; 1 for a plain run). The hyperparameters are SB3's
(`lab.rl.params.A2CParams`), and so are its details: RMSprop with alpha 0.99 and eps 1e-5 (or
Adam with eps 1e-5 when `use_rms_prop` is false), the whole rollout as one batch, advantages
normalised only when asked, each member's gradient clipped to `max_grad_norm`.
"""

from __future__ import annotations

import torch

from lab.engine.onpolicy import OnPolicyAgent, Rollout, diverged
from lab.engine.optim import MemberAdam, MemberOptimizer, MemberRMSprop
from lab.rl.algos import ALGOS


class TorchA2CAgent(OnPolicyAgent):
    member_settings = ALGOS["a2c"].member_settings

    def make_optimizer(self) -> MemberOptimizer:
        if self.spec.agent.use_rms_prop:
            return MemberRMSprop(self.net.parameters(), self.members, alpha=0.99, eps=1e-5)
        return MemberAdam(self.net.parameters(), self.members, eps=1e-5)

    @torch.no_grad()  # (gradients are written out: nothing needs autograd's graph)
    def update(self, optimizer, lr, rollout: Rollout, progress_remaining: float) -> dict:
        p, net = self.spec.agent, self.net
        ent_coef, vf_coef = self.hyper("ent_coef")[:, None], self.hyper("vf_coef")[:, None]
        dist, value, backward = net.learning_pass(rollout.obs)
        advantages = rollout.advantages
        if p.normalize_advantage:
            advantages = (advantages - advantages.mean(1, keepdim=True)) / (advantages.std(1, keepdim=True) + 1e-8)
        # each member's losses: means over its rollout, (M, 1)
        batch = rollout.obs.shape[1]
        policy_loss = -(advantages * dist.log_prob(rollout.actions)).mean(1, keepdim=True)
        error = value - rollout.returns
        value_loss = error.pow(2).mean(1, keepdim=True)
        entropy = dist.entropy().mean(1, keepdim=True)
        loss = policy_loss - ent_coef * entropy + vf_coef * value_loss
        optimizer.zero_grad()
        # the gradient of the losses summed over members (each member's is its own loss's),
        # written out (ActorCritic.learning_pass): means over the rollout
        backward(rollout.actions, advantages * (-1.0 / batch), error * (vf_coef * (2.0 / batch)), ent_coef * (-1.0 / batch))
        optimizer.clip_grad_norm(self.hyper("max_grad_norm"))
        optimizer.step(lr)
        loss, policy_loss, value_loss, entropy = torch.stack([x.mean() for x in (loss, policy_loss, value_loss, entropy)]).tolist()
        diverged(loss)
        return {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
