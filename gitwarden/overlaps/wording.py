"""The words of overlap notifications: which file, which agents, will it conflict."""

from __future__ import annotations

from gitwarden.overlaps.predict import CONFLICT, Prediction
from gitwarden.overlaps.tracker import Overlap


def overlap_key(overlap: Overlap) -> str:
    return f"{overlap.path}:{','.join(overlap.agents)}"


def overlap_title(overlap: Overlap) -> str:
    agents = overlap.agents
    names = " and ".join(agents) if len(agents) <= 2 else \
        f"{', '.join(agents[:-1])} and {agents[-1]}"
    return f"{overlap.path}: edited by {names}"


def conflict_ranges(prediction: Prediction) -> str:
    ranges = [f"{h.agents[0]} lines {h.ours_lines[0]}-{h.ours_lines[1]}, "
              f"{h.agents[1]} lines {h.theirs_lines[0]}-{h.theirs_lines[1]}"
              for h in prediction.hunks[:3]]
    return f" ({'; '.join(ranges)})" if ranges else ""


def reclassified_message(overlap: Overlap, prediction: Prediction) -> tuple[str, str]:
    """The notification for an overlap that was a clean merge and now conflicts."""
    return overlap_title(overlap), \
        f"Will now conflict when merged{conflict_ranges(prediction)}; it was a clean merge."


def overlap_message(overlap: Overlap, prediction: Prediction) -> tuple[str, str]:
    """The notification title (file and agents) and body (will it conflict?)."""
    title = overlap_title(overlap)
    if prediction.classification == CONFLICT:
        body = f"Will conflict when merged{conflict_ranges(prediction)}. " \
            f"{overlap.first_agent} was first."
    else:
        body = f"Clean merge predicted: the edits do not conflict. {overlap.first_agent} " \
               "was first."
    return title, body
