"""A researcher's change to lab's PPO, as docs/custom-loss.md writes it: one more loss term."""

from lab.engine.ppo import TorchPPOAgent


class SmallValuePPO(TorchPPOAgent):
    coef = 0.01  # weight of the new term

    def loss(self, batch, h):
        loss, stats = super().loss(batch, h)
        value_size = self.net.value(batch.obs).pow(2).mean(1, keepdim=True)  # keep the values small
        return loss + self.coef * value_size, {**stats, "value_size": value_size.detach()}
