"""Data exploration of a dataset version: statistics, a topic map, a stratified review sample, and their HTML report
(`explore.explore_dataset` runs them all)."""
