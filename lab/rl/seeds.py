"""Where the episodes of a run's evaluations and plays start: the run's seed plus an offset, so
that each kind of episode has start states of its own, the same every time, and none are the
episodes training saw (episode i of an evaluation resets with seed + offset + i)."""

EVAL_SEED_OFFSET = 10_000  # periodic evaluations: the same start states every time
FINAL_SEED_OFFSET = 20_000  # the final evaluation of the delivered policy: fresh start states
PLAY_SEED_OFFSET = 30_000  # lab eval, play and record, the dashboard's play pane, a policy's robustness: episodes no evaluation saw
