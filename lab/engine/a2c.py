"""A2C on lab's torch engine: one gradient step per rollout of `n_steps` in every environment.

The rollout and the advantages are `onpolicy.py`'s, shared with PPO. The hyperparameters are
SB3's (`lab.rl.params.A2CParams`), and so are its details: RMSprop with alpha 0.99 and eps 1e-5
(or Adam with eps 1e-5 when `use_rms_prop` is false), the whole rollout as one batch, advantages
normalised only when asked, gradients clipped to `max_grad_norm`.
"""

from __future__ import annotations

import torch

from lab.engine.onpolicy import OnPolicyAgent, Rollout, diverged


class TorchA2CAgent(OnPolicyAgent):
    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        if self.spec.agent.use_rms_prop:
            return torch.optim.RMSprop(self.net.parameters(), lr=lr, alpha=0.99, eps=1e-5)
        return torch.optim.Adam(self.net.parameters(), lr=lr, eps=1e-5)

    def update(self, optimizer, rollout: Rollout, progress_remaining: float) -> dict:
        p, net = self.spec.agent, self.net
        dist, value = net(rollout.obs)
        advantages = rollout.advantages
        if p.normalize_advantage:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = -(advantages * dist.log_prob(rollout.actions)).mean()
        value_loss = (rollout.returns - value).pow(2).mean()
        entropy = dist.entropy().mean()
        loss = policy_loss - p.ent_coef * entropy + p.vf_coef * value_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), p.max_grad_norm)
        optimizer.step()
        loss, policy_loss, value_loss, entropy = torch.stack([loss, policy_loss, value_loss, entropy]).tolist()
        diverged(loss)
        return {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}
