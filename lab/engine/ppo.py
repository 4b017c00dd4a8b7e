"""PPO on lab's torch engine: environments, rollouts, advantages and updates on one device.

Read top to bottom as CleanRL's ppo.py; the rollout and the advantages are `onpolicy.py`'s, shared
with A2C. The hyperparameters are SB3's (`lab.rl.params.PPOParams`: same names, schedules and
defaults), and so are the details that change results: Adam with eps 1e-5, advantages normalised
per minibatch, no value clipping, gradients clipped to `max_grad_norm`.
"""

from __future__ import annotations

import torch
from torch import nn

from lab.engine.onpolicy import OnPolicyAgent, Rollout, diverged
from lab.rl.params import schedule


class TorchPPOAgent(OnPolicyAgent):
    def make_optimizer(self, lr: float) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=lr, eps=1e-5)

    def update(self, optimizer, rollout: Rollout, progress_remaining: float) -> dict:
        """n_epochs over shuffled minibatches of the rollout, the clipped surrogate objective."""
        p, net = self.spec.agent, self.net
        clip = schedule(p.clip_range)
        clip_range = clip(progress_remaining) if callable(clip) else clip
        n = len(rollout)
        b_obs, b_act, b_logp, b_adv, b_ret = rollout.obs, rollout.actions, rollout.log_probs, rollout.advantages, rollout.returns
        sums = torch.zeros(6, device=self.device)  # loss, policy, value, entropy, kl, clipped fraction
        batches = 0
        for _ in range(p.n_epochs):
            order = torch.randperm(n, device=self.device)
            for start in range(0, n, p.batch_size):
                idx = order[start:start + p.batch_size]
                if len(idx) < 2 and p.normalize_advantage:
                    continue  # SB3 skips a one-sample batch it cannot normalise
                dist, value = net(b_obs[idx])
                logp = dist.log_prob(b_act[idx])
                log_ratio = logp - b_logp[idx]
                ratio = log_ratio.exp()
                a = b_adv[idx]
                if p.normalize_advantage:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                policy_loss = -torch.min(a * ratio, a * ratio.clamp(1 - clip_range, 1 + clip_range)).mean()
                value_loss = (b_ret[idx] - value).pow(2).mean()
                entropy = dist.entropy().mean()
                loss = policy_loss - p.ent_coef * entropy + p.vf_coef * value_loss
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), p.max_grad_norm)
                optimizer.step()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean()
                    clipped = ((ratio - 1).abs() > clip_range).float().mean()
                    sums += torch.stack([loss, policy_loss, value_loss, entropy, approx_kl, clipped]).detach()
                batches += 1
        loss, policy_loss, value_loss, entropy, approx_kl, clipped = (sums / max(batches, 1)).tolist()  # one host sync
        diverged(loss)
        return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                "approx_kl": approx_kl, "clip_fraction": clipped, "clip_range": clip_range}
