"""Slack front-end (slack-bolt): `/digest` command, daily post, Block Kit."""
