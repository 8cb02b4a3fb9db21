"""Crawlers turn configured sources into `RawDocument`s, reporting every failure and skip."""
