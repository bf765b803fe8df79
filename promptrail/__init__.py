"""promptrail: prompt operations as code.

Prompts live in a git workspace as versioned, composable files; gates check every candidate,
lockfiles pin what each environment runs, and a DuckDB store keeps every run and an audit log.
"""

__version__ = "0.1.0"
