"""Ref names: everything shared under refs/gitwarden/, fetched copies in a private mirror."""

from __future__ import annotations

from gitwarden.remote import refs


def test_fetch_refspecs_never_touch_the_users_namespaces() -> None:
    for spec in refs.fetch_refspecs("origin"):
        source, _, target = spec.lstrip("+").partition(":")
        assert source.startswith("refs/gitwarden/")
        assert target.startswith("refs/gitwarden/remote/origin/")


def test_lock_refs_are_stable_hashes_per_kind_and_pattern() -> None:
    assert refs.lock_ref("path", "src/**") == refs.lock_ref("path", "src/**")
    assert refs.lock_ref("path", "src/**") != refs.lock_ref("resource", "src/**")
    assert refs.lock_ref("path", "weird name\n*").startswith("refs/gitwarden/locks/")


def test_machine_ids_are_ref_safe() -> None:
    assert refs.machine_id("dev box/1") == "dev-box-1"
    assert refs.machine_id("...") == "machine"
    assert refs.machine_id(None)


def test_qualified_names_round_trip() -> None:
    assert refs.split_qualified(refs.qualified("beta", "m2")) == ("beta", "m2")
    assert refs.split_qualified("beta") == ("beta", None)
    assert refs.is_remote_holder("beta@m2") and not refs.is_remote_holder("beta")
