"""Sample data with a known ground truth: generated agent logs for tests and benchmarks."""

from tokenomy.sample._claude_session import QuirkRates
from tokenomy.sample._claude_truth import Call, GroundTruth, Totals
from tokenomy.sample.claude_logs import TreeSpec, append_session, encode_project, generate_tree

__all__ = [
    "Call",
    "GroundTruth",
    "QuirkRates",
    "Totals",
    "TreeSpec",
    "append_session",
    "encode_project",
    "generate_tree",
]
