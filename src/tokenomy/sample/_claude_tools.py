"""Tool inputs and outputs for generated tool_use blocks and tool_result lines.

Outputs are long on purpose: real transcripts are mostly tool output (file reads, command
output), and ``toolUseResult`` repeats it, so byte sizes stay realistic.
"""

from __future__ import annotations

from typing import Any

from tokenomy.sample._claude_lines import Ids


def tool_input(ids: Ids, name: str, cwd: str) -> dict[str, Any]:
    path = f"{cwd}/src/{(ids.text(4, 12).split() or ['main'])[0]}.py"
    if name == "Read":
        return {"file_path": path}
    if name == "Bash":
        return {"command": ids.text(8, 80), "description": ids.text(10, 50)}
    if name == "Edit":
        return {
            "file_path": path,
            "old_string": ids.text(20, 400),
            "new_string": ids.text(20, 400),
        }
    if name == "Write":
        return {"file_path": path, "content": ids.text(200, 4000)}
    if name in ("Grep", "Glob"):
        return {"pattern": ids.text(3, 20), "path": cwd}
    if name == "TodoWrite":
        return {
            "todos": [
                {
                    "content": ids.text(10, 60),
                    "status": "pending",
                    "activeForm": ids.text(10, 60),
                }
            ]
        }
    if name == "Agent":
        return {
            "description": ids.text(10, 40),
            "prompt": ids.text(200, 2000),
            "subagent_type": ids.rng.choice(("general-purpose", "Explore", "Plan")),
        }
    return {"query": ids.text(10, 80)}


def tool_output(ids: Ids, name: str, cwd: str, tool_input: dict[str, Any]) -> tuple[str, Any]:
    if name == "Read":
        out = ids.text(300, 9000)
        n = out.count("\n") + 1
        return out, {
            "type": "text",
            "file": {
                "filePath": tool_input["file_path"],
                "content": out,
                "numLines": n,
                "startLine": 1,
                "totalLines": n,
            },
        }
    if name == "Bash":
        out = ids.text(20, 2500)
        return out, {
            "stdout": out,
            "stderr": "",
            "interrupted": False,
            "isImage": False,
            "noOutputExpected": False,
        }
    if name in ("Edit", "Write"):
        path = tool_input["file_path"]
        return f"The file {path} has been updated.", {"filePath": path, "type": "update"}
    if name in ("Grep", "Glob"):
        files = [f"{cwd}/{w}.py" for w in ids.text(20, 300).split()[:12]]
        return "\n".join(files), {
            "mode": "files_with_matches",
            "filenames": files,
            "numFiles": len(files),
        }
    if name == "TodoWrite":
        return "Todos have been modified successfully.", {"newTodos": tool_input["todos"]}
    out = ids.text(100, 4000)
    return out, [{"type": "text", "text": out}]
