"""The baseline for benchmarks/overhead.py: cartpole-ppo written as a plain SB3 script.

Same hyperparameters (RL Zoo), same evaluation schedule (every 10k steps, 10 deterministic
episodes, best model saved), same final 20-episode evaluation of the best model, 1 torch thread.
With --no-eval: the training alone (model.learn), as a floor.
"""

import sys
import tempfile

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

torch.set_num_threads(1)
no_eval = "--no-eval" in sys.argv
seed = 0
out = tempfile.mkdtemp(prefix="plain-sb3-")


def lin(start):
    return lambda progress_remaining: progress_remaining * start


env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
            learning_rate=lin(1e-3), clip_range=lin(0.2), seed=seed, device="cpu", verbose=0)
if no_eval:
    model.learn(total_timesteps=100_000)
    sys.exit(0)
eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=seed + 10_000)
callback = EvalCallback(eval_env, eval_freq=10_000 // 8, n_eval_episodes=10, deterministic=True,
                        best_model_save_path=out, verbose=0)
model.learn(total_timesteps=100_000, callback=callback)
best = PPO.load(f"{out}/best_model.zip", device="cpu")
mean, std = evaluate_policy(best, make_vec_env("CartPole-v1", n_envs=1, seed=seed + 20_000), n_eval_episodes=20)
print(f"final eval {mean:.2f} +/- {std:.2f}")
