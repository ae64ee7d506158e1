"""Paths of a Codex apply_patch envelope (format of openai/codex
codex-rs/apply-patch/apply_patch_tool_instructions.md)."""

from __future__ import annotations

from gitwarden.integrations.tool_call import patch_paths

PATCH = """*** Begin Patch
*** Add File: hello.txt
+Hello world
+*** Update File: not-a-header.txt
*** Update File: src/app.py
*** Move to: src/main.py
@@ def greet():
-print("Hi")
+print("Hello, world!")
*** Delete File: obsolete.txt
*** Update File: src/app.py
@@
-a
+b
*** End of File
*** End Patch
"""


def test_every_header_path_once_resolved_against_cwd() -> None:
    assert patch_paths(PATCH, "/w/beta") == ["/w/beta/hello.txt", "/w/beta/src/app.py",
                                             "/w/beta/src/main.py", "/w/beta/obsolete.txt"]


def test_absolute_and_climbing_paths_stay_as_written() -> None:
    text = "*** Begin Patch\n*** Delete File: ../alpha/x.py\n*** Add File: /etc/passwd\n"
    assert patch_paths(text, "/w/beta") == ["/w/alpha/x.py", "/etc/passwd"]


def test_no_patch_no_paths() -> None:
    assert patch_paths("echo hi", "/w") == [] and patch_paths("", "/w") == []
