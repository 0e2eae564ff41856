"""Judging a run: metrics with intervals, operating thresholds, a run's results, the leaderboard."""
