"""Curated published results per suite (data only: one TOML file each, read by benchbox.leaderboard.published)."""
