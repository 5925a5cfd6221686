"""Random keys and random text through every step: the wizard stays alive and draws its screen.

Pilot-driven property test: hypothesis picks a start step and a sequence of keys and texts
(brackets, =, quotes, unicode, very long lines, paths that do not exist).
"""

from __future__ import annotations

import asyncio

from conftest import make_folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import Input
from wizard_driver import no_blink

from kohyawiz.tui.app import STEPS, make_app
from kohyawiz.tui.state import WizardState

KEYS = ["ctrl+n", "ctrl+p", "tab", "shift+tab", "enter", "space", "up", "down", "escape", "f1", "question_mark",
        "1", "2", "3", "4", "delete", "backspace", "home", "end", "pageup", "pagedown"]  # fmt: skip
NASTY = st.sampled_from([
    "[b]x[/b]", "resolution=['w=1']", "[/]", "a=b=c", '"quoted"', "'single'", "=", "[v2] base.safetensors",
    "/does/not/exist", "nan", "inf", "1e9", "-3", "x" * 500, "名前=12", "🎨 style", "\\[escaped]", "mychar=30; [x]=2",
])  # fmt: skip
ACTIONS = st.lists(
    st.one_of(st.sampled_from(KEYS).map(lambda k: ("key", k)), st.one_of(NASTY, st.text(max_size=40)).map(lambda t: ("text", t))),
    min_size=1, max_size=14,
)  # fmt: skip


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=st.sampled_from(STEPS), actions=ACTIONS)
def test_random_keys_and_text_never_kill_the_wizard(tmp_path_factory, monkeypatch, start, actions):
    tmp = tmp_path_factory.mktemp("fuzz")
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp / "home"))
    data = tmp / "train"
    make_folder(data, "10_mychar", [(768, 768)] * 12, "mychar, smile, [x]")

    async def drive() -> None:
        app = make_app(out_dir=str(tmp / "plan"))
        app.state = WizardState(subject="character", family="sd1", dataset=str(data), vram_gb=12,
                                out_dir=str(tmp / "plan"))  # fmt: skip
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.go_to(STEPS.index(start))
            await pilot.pause()
            for kind, value in actions:
                if kind == "key":
                    await pilot.press(value)
                elif isinstance(app.focused, Input):
                    app.focused.insert_text_at_cursor(value)
                await pilot.pause()
                assert app.is_running, (kind, value)
            await pilot.pause()
            assert app.is_running
            assert app.export_screenshot()
            assert app._exception is None  # Textual keeps the first unhandled error here

    asyncio.run(drive())
