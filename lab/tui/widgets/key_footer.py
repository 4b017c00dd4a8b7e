"""The footer of every screen: Textual's, rebuilt only when the keys it shows change."""

from textual.widgets import Footer

from lab.tui.textual_fixes import drop_watchers_of_removed


class KeyFooter(Footer):
    """Textual's Footer rebuilds its 10-30 key widgets whenever the screen's bindings might have
    changed, which is at every focus move (60 ms a key on the home screen). This one rebuilds
    when the keys it would show differ from those it shows, and only while its screen is on top."""

    _shown: tuple | None = None

    def bindings_changed(self, screen) -> None:
        if screen is not self.app.screen:  # (a screen under another: its keys are computed again when it is back on top)
            return
        shown = tuple((key, b.binding.action, b.binding.description, b.binding.show, b.enabled)
                      for key, b in screen.active_bindings.items())
        if shown == self._shown and self.children:
            return
        self._shown = shown
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        await super().recompose()
        drop_watchers_of_removed(self)  # (the old keys' data bindings)
