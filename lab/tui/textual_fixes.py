"""Workarounds for Textual bugs that the dashboard meets, each with its upstream issue; each one
stands down by itself once Textual is fixed, and goes when the version lab needs has the fix."""

from __future__ import annotations

import functools


def keep_no_dead_widgets() -> None:
    """Textual's `StylesCache.get_inner_outer` is an `lru_cache` on a method, keyed by the widget's
    styles cache, so it keeps the last 1,024 widgets' caches alive after the widgets are gone, each
    with the lines it drew (https://github.com/Textualize/textual/issues/6665). In the dashboard
    every screen closed and every form rebuilt left ~2,500 objects (help: 1,600 of them Textual
    caches), and Python's full collections walked them all: 80 ms pauses after 30 screens opened and
    closed. The colours alone make the key here, as the method never reads its first argument."""
    from textual._styles_cache import StylesCache

    method = StylesCache.__dict__.get("get_inner_outer")
    if not hasattr(method, "cache_clear"):  # fixed upstream, or built another way
        return
    colours_only = functools.lru_cache(1024)(functools.partial(method.__wrapped__, None))
    StylesCache.get_inner_outer = lambda _self, base_background, background: colours_only(base_background, background)


def drop_watchers_of_removed(node) -> None:
    """Textual keeps a watcher that a child set on `node` (`data_bind`: each key of a Footer) until
    the watched value changes, and with it the child, long after it was removed
    (https://github.com/Textualize/textual/issues/6666): each rebuild of a footer kept its 10-30
    old keys. Called after `node` replaced its children."""
    for watchers in getattr(node, "__watchers", {}).values():
        watchers[:] = [(owner, callback) for owner, callback in watchers
                       if getattr(owner, "is_attached", True) or owner is node]
