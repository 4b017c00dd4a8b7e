"""PPO on lab's torch engine: environments, rollouts, advantages and updates on one device.

Read top to bottom as CleanRL's ppo.py; the rollout and the advantages are `onpolicy.py`'s, shared
with A2C, and so is the member dimension M of every tensor (a population; 1 for a plain run).
The hyperparameters are SB3's (`lab.rl.params.PPOParams`: same names, schedules and defaults),
and so are the details that change results: Adam with eps 1e-5, advantages normalised per
minibatch (per member), no value clipping, each member's gradient clipped to `max_grad_norm`.
"""

from __future__ import annotations

import torch

from lab.engine.onpolicy import OnPolicyAgent, Rollout, diverged
from lab.engine.optim import MemberAdam
from lab.rl.algos import ALGOS


class TorchPPOAgent(OnPolicyAgent):
    member_settings = ALGOS["ppo"].member_settings

    def make_optimizer(self) -> MemberAdam:
        return MemberAdam(self.net.parameters(), self.members, eps=1e-5)

    def losses(self, obs, actions, old_log_probs, advantages, returns, clip, ent_coef, vf_coef):
        """Each member's loss (M, 1) on one minibatch, the figures reported (6,): loss, policy
        loss, value loss, entropy, approximate KL and the clipped fraction, and `backward()`,
        which sets the parameters' gradients of the loss summed over members (each member's
        gradient is its own loss's), written out (ActorCritic.learning_pass): no autograd."""
        dist, value, backward = self.net.learning_pass(obs)
        batch = obs.shape[1]
        log_ratio = dist.log_prob(actions) - old_log_probs
        ratio = log_ratio.exp()
        a = advantages
        if self.spec.agent.normalize_advantage:
            a = (a - a.mean(1, keepdim=True)) / (a.std(1, keepdim=True) + 1e-8)
        # each member's losses: means over its minibatch, (M, 1)
        unclipped, clipped_objective = a * ratio, a * ratio.clamp(1 - clip, 1 + clip)
        policy_loss = -torch.min(unclipped, clipped_objective).mean(1, keepdim=True)
        error = value - returns
        value_loss = error.pow(2).mean(1, keepdim=True)
        entropy = dist.entropy().mean(1, keepdim=True)
        loss = policy_loss - ent_coef * entropy + vf_coef * value_loss
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipped = ((ratio - 1).abs() > clip).float().mean()
        stats = torch.stack([loss.mean(), policy_loss.mean(), value_loss.mean(), entropy.mean(), approx_kl, clipped])

        def loss_backward() -> None:
            # d(-min(a r, a clip(r)))/dlog_prob = -a r where the unclipped term is the smaller (or
            # the two are equal, as autograd splits a tie between them), else 0; means over the batch
            g_log_prob = (unclipped <= clipped_objective) * unclipped * (-1.0 / batch)
            backward(actions, g_log_prob, error * (vf_coef * (2.0 / batch)), ent_coef * (-1.0 / batch))

        return loss, stats, loss_backward

    @torch.no_grad()  # (gradients are written out: nothing needs autograd's graph)
    def update(self, optimizer, lr, rollout: Rollout, progress_remaining: float) -> dict:
        """n_epochs over shuffled minibatches of the rollout, the clipped surrogate objective."""
        p, net = self.spec.agent, self.net
        clip = self.hyper("clip_range", progress_remaining)[:, None]  # (M, 1)
        ent_coef, vf_coef = self.hyper("ent_coef")[:, None], self.hyper("vf_coef")[:, None]
        max_grad_norm = self.hyper("max_grad_norm")
        n = len(rollout)
        b_obs, b_act, b_logp, b_adv, b_ret = rollout.obs, rollout.actions, rollout.log_probs, rollout.advantages, rollout.returns
        sums = torch.zeros(6, device=self.device)  # loss, policy, value, entropy, kl, clipped fraction
        batches = 0
        for _ in range(p.n_epochs):
            order = torch.randperm(n, device=self.device)  # one shuffle for all members: their data differ
            for start in range(0, n, p.batch_size):
                idx = order[start:start + p.batch_size]
                if len(idx) < 2 and p.normalize_advantage:
                    continue  # SB3 skips a one-sample batch it cannot normalise
                loss, stats, backward = self.losses(b_obs[:, idx], b_act[:, idx], b_logp[:, idx], b_adv[:, idx],
                                                    b_ret[:, idx], clip, ent_coef, vf_coef)
                optimizer.zero_grad()
                backward()
                optimizer.clip_grad_norm(max_grad_norm)
                optimizer.step(lr)
                sums += stats
                batches += 1
        loss, policy_loss, value_loss, entropy, approx_kl, clipped = (sums / max(batches, 1)).tolist()  # one host sync
        diverged(loss)
        return {"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                "approx_kl": approx_kl, "clip_fraction": clipped, "clip_range": float(clip.mean())}
