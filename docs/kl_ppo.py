"""PPO with a KL penalty beside its clipped objective: lab's PPO, one loss term added
(docs/custom-loss.md walks through it)."""

from lab.engine.ppo import TorchPPOAgent


class KLPenaltyPPO(TorchPPOAgent):
    beta = 1.0  # the penalty's weight

    def loss(self, batch, h):
        loss, stats = super().loss(batch, h)  # PPO's loss and figures, each member's: (M, 1)
        log_ratio = self.net.policy(batch.obs).log_prob(batch.actions) - batch.log_probs
        kl = ((log_ratio.exp() - 1) - log_ratio).mean(1, keepdim=True)  # KL(rollout's policy || this one)
        return loss + self.beta * kl, {**stats, "kl_penalty": kl.detach()}
