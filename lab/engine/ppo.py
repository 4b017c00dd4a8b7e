"""PPO on lab's torch engine: environments, rollouts, advantages and updates on one device.

Read as CleanRL's ppo.py: the rollout and the advantages are `onpolicy.py`'s (shared with A2C),
the loss and the update are here. The hyperparameters are SB3's (`lab.rl.params.PPOParams`:
same names, schedules and defaults), and so are the details that change results: Adam with eps
1e-5, advantages normalised per minibatch, each member's gradient clipped to `max_grad_norm`,
value clipping only with `clip_range_vf`, and with `target_kl` an update whose approximate KL
passes 1.5 x target_kl stops before that gradient step (each member on its own).

To change the algorithm, subclass and override `loss` (docs/custom-loss.md): autograd derives
the gradient of whatever it returns.
"""

from __future__ import annotations

import torch

from lab.engine.onpolicy import OnPolicyAgent, Rollout
from lab.engine.optim import MemberAdam
from lab.rl.algos import ALGOS


class TorchPPOAgent(OnPolicyAgent):
    member_settings = ALGOS["ppo"].member_settings

    def make_optimizer(self) -> MemberAdam:
        return MemberAdam(self.net, self.members, eps=1e-5)

    def loss(self, batch: Rollout, h: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The clipped surrogate objective, the value loss and the entropy bonus of each member (M, 1)."""
        dist, value = self.net(batch.obs)
        log_ratio = dist.log_prob(batch.actions) - batch.log_probs
        ratio = log_ratio.exp()
        advantages = batch.advantages
        if self.spec.agent.normalize_advantage:
            advantages = (advantages - advantages.mean(1, keepdim=True)) / (advantages.std(1, keepdim=True) + 1e-8)
        clip = h["clip_range"]
        policy_loss = -torch.min(advantages * ratio, advantages * ratio.clamp(1 - clip, 1 + clip)).mean(1, keepdim=True)
        if "clip_range_vf" in h:  # SB3's value clipping: the new value stays within clip_range_vf of the old
            value = batch.values + (value - batch.values).clamp(-h["clip_range_vf"], h["clip_range_vf"])
        value_loss = (batch.returns - value).pow(2).mean(1, keepdim=True)
        entropy = dist.entropy().mean(1, keepdim=True)
        loss = policy_loss - h["ent_coef"] * entropy + h["vf_coef"] * value_loss
        with torch.no_grad():
            approx_kl = ((ratio - 1) - log_ratio).mean(1, keepdim=True)
            clip_fraction = ((ratio - 1).abs() > clip).float().mean(1, keepdim=True)
        return loss, {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                      "entropy": entropy.detach(), "approx_kl": approx_kl, "clip_fraction": clip_fraction}

    def stops_early(self, stats, h):
        if "target_kl" in h:  # SB3's test, before the step
            return stats["approx_kl"] > 1.5 * h["target_kl"]
        return None

    def hyperparameters(self, progress_remaining: float) -> dict[str, torch.Tensor]:
        h = super().hyperparameters(progress_remaining)
        for key in ("clip_range_vf", "target_kl"):  # optional: absent where unset
            if getattr(self.spec.agent, key) is not None:
                h[key] = self.hyper(key, progress_remaining)[:, None]
        return h

    def update(self, optimizer, lr, rollout: Rollout, progress_remaining: float) -> dict:
        """n_epochs over shuffled minibatches of the rollout (one shuffle for all members: their data differ)."""
        p, n = self.spec.agent, len(rollout)
        h = self.hyperparameters(progress_remaining)
        active = torch.ones(self.members, dtype=torch.bool, device=self.device)
        sums, counted, steps = 0.0, 0.0, torch.zeros(self.members, device=self.device)
        for _ in range(p.n_epochs):
            order = torch.randperm(n, device=self.device)
            for start in range(0, n, p.batch_size):
                idx = order[start:start + p.batch_size]
                if len(idx) < 2 and p.normalize_advantage:
                    continue  # SB3 skips a one-sample batch it cannot normalise
                stats, now_active = self.train_step(optimizer, lr, h, rollout.minibatch(idx), active)
                sums = sums + torch.cat(list(stats.values()), 1) * active[:, None]  # a member's figures while it learns
                # (a copy: a step captured in CUDA graphs overwrites its outputs at its next run)
                counted, steps, active = counted + active, steps + now_active, now_active.clone()
            if "target_kl" in h and not bool(active.any()):  # every member stopped: one host look per epoch
                break
        means = (sums / counted[:, None]).mean(0).tolist()  # over members; one host sync
        return {**dict(zip(stats, means)), "clip_range": float(h["clip_range"].mean()),
                "epochs": float(steps.mean()) / -(-n // p.batch_size)}
