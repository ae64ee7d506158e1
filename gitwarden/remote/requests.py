"""Requests between agents on different machines: a record ref per request under
refs/gitwarden/requests/<machine>/<id>, created with an empty lease by the sender and
delivered into the local inbox by the recipient machine's daemon, which then deletes the ref
(leased on the record it delivered; each id is delivered once, even if that delete fails)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from gitwarden.coordination import requests
from gitwarden.coordination.requests import Request
from gitwarden.errors import GitwardenError
from gitwarden.remote import state
from gitwarden.remote.records import read_records, write_record
from gitwarden.remote.refs import mirror_prefix, qualified, request_ref
from gitwarden.remote.transport import RefUpdate, push
from gitwarden.store.db import Store
from gitwarden.store.events import EventKind, record_event


def send_request(cwd: Path, remote: str, *, sender: str, machine: str, to_agent: str,
                 to_machine: str, text: str) -> str:
    """Push a request for `to_agent` on `to_machine`; returns its id. Raises
    RemoteUnreachable when the remote does not answer (nothing is sent then)."""
    request_id = uuid.uuid4().hex[:16]
    commit = write_record(cwd, "request", {"id": request_id, "from": qualified(sender, machine),
                                           "to": to_agent, "machine": to_machine,
                                           "text": text, "ts": time.time()})
    outcome = push(cwd, remote, [RefUpdate(request_ref(to_machine, request_id), commit, None)])
    if not outcome.ok:
        raise GitwardenError(f"request not sent: {next(iter(outcome.rejected.values()))}")
    return request_id


def deliver_requests(cwd: Path, store: Store, remote: str, machine: str) -> list[Request]:
    """Move requests addressed to this machine (as last fetched) into the local inbox."""
    state.ready(store)
    delivered: list[Request] = []
    done: dict[str, str] = {}
    prefix = mirror_prefix(remote) + f"requests/{machine}/"
    for ref, commit, kind, data in read_records(cwd, prefix):
        request_id = str(data.get("id") or ref.rpartition("/")[2])
        done[request_ref(machine, ref.rpartition("/")[2])] = commit
        if kind != "request" or not _first_delivery(store, request_id):
            continue
        made = requests.add_request(store, str(data.get("from")), str(data.get("to")),
                                    str(data.get("text") or ""))
        record_event(store, EventKind.REQUEST_SENT,
                     f"{made.from_agent} -> {made.to_agent}: {made.text}",
                     agent=made.to_agent, data={"request": made.as_json(), "remote": True})
        delivered.append(made)
    if done:
        push(cwd, remote, [RefUpdate(ref, None, commit) for ref, commit in done.items()])
    return delivered


def _first_delivery(store: Store, request_id: str) -> bool:
    with store.immediate() as conn:
        cursor = conn.execute("INSERT OR IGNORE INTO remote_delivered(id, ts) VALUES (?, ?)",
                              (request_id, time.time()))
        return cursor.rowcount > 0
