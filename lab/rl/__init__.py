"""Reinforcement learning: environments, agents, training and evaluation."""
