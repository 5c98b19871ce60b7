"""Composition root: CLI, web app, worker. The only package that imports both front-ends."""
