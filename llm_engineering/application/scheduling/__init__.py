"""Scheduled reruns: a local trigger that runs the pipelines when watched sources change, or a ZenML Schedule."""
