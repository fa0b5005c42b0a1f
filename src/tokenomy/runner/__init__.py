"""The agent runner: run Claude Code / Codex commands non-interactively, record each run as a
call record, retry rate limits. See ``docs/runner.md``.

    from tokenomy.runner import Command, Runner

    with Runner.open() as runner:
        for result in runner.run_batch([Command("fix the tests", cwd=repo)], concurrency=4):
            print(result.status, result.cost_usd, result.usage.total)
"""

from tokenomy.runner.command import AGENTS, Agent, Command, parse_batch
from tokenomy.runner.executables import ExecutableNotFoundError
from tokenomy.runner.outcome import AgentOutput, ModelUsage
from tokenomy.runner.results import Attempt, RunResult
from tokenomy.runner.retry import Backoff
from tokenomy.runner.runner import Runner

__all__ = [
    "AGENTS",
    "Agent",
    "AgentOutput",
    "Attempt",
    "Backoff",
    "Command",
    "ExecutableNotFoundError",
    "ModelUsage",
    "RunResult",
    "Runner",
    "parse_batch",
]
