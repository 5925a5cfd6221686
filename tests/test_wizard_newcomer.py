"""The wizard as a newcomer uses it: unconfirmed paths, brackets, junk in number fields, every
review row, back and forth, quitting, replacing a plan, and a crash that loses nothing."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
from conftest import make_folder
from test_tools import fake_safetensors
from textual.widgets import DataTable, Input, RadioButton, Select, Static
from wizard_driver import no_blink, settle

from kohyawiz.tui.app import STEPS, make_app
from kohyawiz.tui.screens import ConfirmScreen, HelpScreen
from kohyawiz.tui.state import WizardState

SDXL_KEYS = {
    "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
    "conditioner.embedders.1.model.ln_final.weight": [1280],
}


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def run(drive) -> None:
    asyncio.run(drive())


async def choose_subject(pilot, name: str = "character") -> None:
    no_blink(pilot.app)
    pilot.app.query_one(f"#subject-{name}", RadioButton).value = True
    await pilot.press("ctrl+n")
    await settle(pilot)


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[c if c.isalnum() else _key(c) for c in text])


async def press_write(pilot) -> None:
    """Go to the write step and press Write plan."""
    no_blink(pilot.app)
    pilot.app.go_to(STEPS.index("write"))
    await settle(pilot)
    pilot.app.query_one("#write-plan").press()
    await settle(pilot)


def simple_state(out: Path) -> WizardState:
    return WizardState(subject="character", family="sd1", concept_counts="c=30", vram_gb=12, out_dir=str(out))


def _key(char: str) -> str:
    from textual.keys import _character_to_key

    return _character_to_key(char)


def test_a_typed_path_left_with_ctrl_n_is_inspected(tmp_path):
    model = fake_safetensors(tmp_path / "[v2] sdxl base.safetensors", SDXL_KEYS)

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        async with app.run_test(size=(80, 24)) as pilot:
            await choose_subject(pilot)
            app.query_one("#model-path", Input).focus()
            await type_text(pilot, str(model))
            await pilot.press("ctrl+n")  # no Enter
            await settle(pilot)
            assert STEPS[app.step] == "dataset"
            assert app.state.family == "sdxl" and "family" in app.state.from_header
            assert app.state.model_path == str(model)
            await pilot.press("ctrl+p")
            await settle(pilot)
            found = text_of(app, "#model-found")
            assert "From the model's header: family sdxl" in found
            assert app.query_one("#model-path", Input).value == str(model)  # brackets kept
            app.query_one("#family", Select).value = "sd1"  # the person's change wins and is theirs
            await pilot.press("ctrl+n")
            await settle(pilot)
            assert app.state.family == "sd1" and "family" not in app.state.from_header

    run(drive)


def test_required_answers_are_asked_and_numbers_checked_beside_the_field(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            await pilot.press("ctrl+n")
            await settle(pilot)
            assert STEPS[app.step] == "subject" and "choose what you are training" in text_of(app, "#error")
            await choose_subject(pilot)
            await pilot.press("ctrl+n")
            await settle(pilot)
            assert STEPS[app.step] == "model" and "family" in text_of(app, "#error")
            app.query_one("#family", Select).value = "sd1"
            await pilot.press("ctrl+n")
            await settle(pilot)
            app.query_one("#concepts", Input).value = "mychar=30"
            await pilot.press("ctrl+n")
            await settle(pilot)
            assert STEPS[app.step] == "hardware"
            for junk, said in (("nan", "finite"), ("inf", "finite"), ("1e9", "between"), ("lots", "a number"), ("", "needed")):
                app.query_one("#vram", Input).value = junk
                await pilot.press("ctrl+n")
                await settle(pilot)
                assert STEPS[app.step] == "hardware", junk
                assert said in text_of(app, "#vram-problem") and said in text_of(app, "#error"), junk
            app.query_one("#vram", Input).value = "12"
            await pilot.press("ctrl+n")
            await settle(pilot)
            assert STEPS[app.step] == "network" and app.state.vram_gb == 12

    run(drive)


def test_every_review_row_and_bracketed_text_never_crash(tmp_path):
    async def drive() -> None:
        state = WizardState(subject="style", family="sd1", concept_counts="[brushy]=60", vram_gb=12,
                            model_path="[v2] base.safetensors", network="locon", out_dir=str(tmp_path / "p"))  # fmt: skip
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = state
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.go_to(STEPS.index("review"))
            await settle(pilot)
            assert "steps" in text_of(app, "#review-summary")
            await pilot.press("2")
            await settle(pilot)
            table = app.query_one("#review-table", DataTable)
            assert app.focused is table
            keys = {str(k.value) for k in table.rows}
            assert {"optimizer_args", "network_args"} <= keys
            for _ in range(table.row_count):
                await pilot.press("down")
            await settle(pilot)
            from kohyawiz.tui.steps.review import ReviewStep

            last = str(list(table.rows)[-1].value)
            shown = text_of(app, "#review-reason")
            assert shown == str(app.query_one(ReviewStep).reasons[last])
            assert re.match(rf"{re.escape(last)} = .*  \[[A-Z]+-[A-Z0-9-]+\] ", shown), shown  # [RULE] kept as text
            field = app.query_one("#override", Input)
            for bad in ("resolution=['w=1']", "[b]bold[/b]=1", "x=[/]", "=", "a\"b=c"):
                field.value = bad
                field.focus()
                await pilot.press("enter")
                await settle(pilot)
                assert app.is_running
            await pilot.press("3")
            await settle(pilot)
            assert "[brushy]" in text_of(app, "#review-summary")

    run(drive)


def test_overrides_are_set_and_removed_again(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = WizardState(subject="character", family="sd1", concept_counts="c=30", vram_gb=12)
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.go_to(STEPS.index("review"))
            await settle(pilot)
            await pilot.press("2")
            await settle(pilot)
            field = app.query_one("#override", Input)
            field.value = "network_dim=16"
            await field.action_submit()
            await settle(pilot)
            assert app.state.overrides == {"network_dim": "16"} and app.plan.value("network_dim") == 16
            table = app.query_one("#review-table", DataTable)
            table.focus()
            table.move_cursor(row=table.get_row_index("network_dim"))
            await pilot.press("delete")
            await settle(pilot)
            assert app.state.overrides == {}
            assert app.build_plan().value("network_dim") == 32

    run(drive)


def test_help_on_every_step_and_palette_commands(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = WizardState(subject="character", family="sd1", concept_counts="c=30", vram_gb=12)
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            for index, name in enumerate(STEPS):
                app.go_to(index)
                await settle(pilot)
                await pilot.press("f1")
                await settle(pilot)
                assert isinstance(app.screen, HelpScreen), name
                if name == "network":  # the help says what each rule id it names means, from the catalog
                    from kohyawiz.catalog import meaning

                    assert "The rules named here:" in app.screen.body
                    assert f"  {meaning('T-RANK')}\n" in app.screen.body and f"  {meaning('L-IA3')}\n" in app.screen.body
                await pilot.press("escape")
                await settle(pilot)
                assert not isinstance(app.screen, HelpScreen) and app.step == index
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert sum(t.startswith("Go to step") for t in titles) == len(STEPS)
            assert "Write the plan" in titles

    run(drive)


def test_quit_asks_when_answers_are_unsaved(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        async with app.run_test(size=(80, 24)) as pilot:
            await choose_subject(pilot)
            await pilot.press("ctrl+q")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await settle(pilot)
            assert app.is_running and not isinstance(app.screen, ConfirmScreen)
            await pilot.press("ctrl+q")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
        assert app.return_code == 0

    run(drive)


def test_write_asks_before_replacing_a_plan_folder(tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    async def drive() -> None:
        app = make_app(out_dir=str(out))
        app.state = simple_state(out)
        async with app.run_test(size=(80, 24)) as pilot:
            await press_write(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await settle(pilot)
            assert not (out / "config.toml").exists()
            app.query_one("#write-plan").press()
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert (out / "config.toml").exists()

    run(drive)
    assert (out / "notes.txt").read_text() == "mine"


def test_the_question_never_calls_the_persons_file_kohyawizs(tmp_path):
    """A sample_prompts.txt of the person's, in a folder for a plan without samples, is neither
    written nor removed: the question must not offer to replace it as "kohyawiz's earlier" file."""
    out = tmp_path / "p"
    out.mkdir()
    (out / "sample_prompts.txt").write_text("my prompt\n")

    async def drive() -> None:
        app = make_app(out_dir=str(out))
        app.state = simple_state(out)
        async with app.run_test(size=(80, 24)) as pilot:
            await press_write(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            question = app.screen.question
            assert "sample_prompts.txt" not in question and "no plan file" in question
            await pilot.press("y")
            await settle(pilot)
            app.query_one("#write-plan").press()  # again: now kohyawiz's own files are named, not the person's
            await settle(pilot)
            question = app.screen.question
            assert "config.toml" in question and "sample_prompts.txt" not in question
            await pilot.press("n")
            await settle(pilot)

    run(drive)
    assert (out / "sample_prompts.txt").read_text() == "my prompt\n"


def test_preset_start_and_save(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.query_one("#preset-file", Input).value = "style-lycoris"
            app.query_one("#preset-load").press()
            await settle(pilot)
            assert app.state.subject == "style" and app.state.preset == "style-lycoris"
            app.state.concept_counts, app.state.vram_gb = "brushy=120", 24
            app.reload_state(app.state)
            app.go_to(STEPS.index("write"))
            await settle(pilot)
            app.query_one("#preset-out", Input).value = str(tmp_path / "mine")
            app.query_one("#preset-save").press()
            await settle(pilot)
            assert "Saved" in text_of(app, "#preset-result")
            app.query_one("#preset-save").press()  # over its own earlier preset: asked first
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await settle(pilot)
            assert "Saved" in text_of(app, "#preset-result")
            app.query_one("#preset-out", Input).value = str(tmp_path / "notes.toml")  # the person's own file
            app.query_one("#preset-save").press()
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmScreen) and "never replaces" in text_of(app, "#preset-result")

    (tmp_path / "notes.toml").write_text("title = 'my notes'\n")
    run(drive)
    assert (tmp_path / "notes.toml").read_text() == "title = 'my notes'\n"
    from kohyawiz.presets import load_preset

    saved = load_preset(str(tmp_path / "mine.toml"))
    assert saved.answers["subject"] == "style" and saved.answers["network"] == "locon"


def test_a_crash_saves_the_answers_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    from kohyawiz.tui.steps import review

    def boom(self) -> None:
        raise RuntimeError("planted")

    monkeypatch.setattr(review.ReviewStep, "refresh_review", boom)

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = WizardState(subject="object", family="sdxl", model_path="[x] m.safetensors",
                                concept_counts="thing=30", vram_gb=16, out_dir=str(tmp_path / "p"))  # fmt: skip
        with pytest.raises(RuntimeError, match="planted"):
            async with app.run_test(size=(80, 24)) as pilot:
                for _ in range(STEPS.index("review")):
                    await pilot.press("ctrl+n")
                    await settle(pilot)
        assert app.return_code == 1 and app.recovery_file is not None
        resumed = make_app(str(app.recovery_file))
        assert resumed.state.subject == "object" and resumed.state.family == "sdxl"
        assert resumed.state.model_path == "[x] m.safetensors" and resumed.state.vram_gb == 16

    run(drive)


def test_the_cli_exits_nonzero_with_one_line_after_a_crash(tmp_path):
    import subprocess

    code = (
        "import sys; from kohyawiz.tui.app import make_app\n"
        "from kohyawiz.tui.steps import subject\n"
        "def boom(self): raise RuntimeError('planted')\n"
        "subject.SubjectStep.load = boom\n"
        "app = make_app(); app.run(headless=True); print('RC', app.return_code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "KOHYAWIZ_HOME": str(tmp_path)})  # fmt: skip
    assert "RC 1" in out.stdout
    assert "resume with `kohyawiz wizard --answers" in out.stderr and "Traceback" not in out.stderr
    assert list((tmp_path / "recovery").glob("wizard-answers-*.toml"))


def test_dataset_step_lists_findings_by_rule_with_files(tmp_path):
    data = tmp_path / "train"
    make_folder(data, "10_mychar", [(1024, 1024)] * 5, "mychar, smile")
    make_folder(data, "1_empty", [(64, 64)] * 2)  # no captions, tiny
    (data / "10_mychar" / "img000.txt").write_text("")  # an error: sd-scripts stops on an empty caption

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = WizardState(subject="character", family="sd1", dataset=str(data))
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.go_to(STEPS.index("dataset"))
            await settle(pilot)
            listed = text_of(app, "#findings-text")
            assert any(line.startswith("D-COUNT") for line in listed.splitlines())
            assert "1_empty" in listed
            await pilot.press("ctrl+n")  # an error blocks Next and names its file, whole
            await settle(pilot)
            assert STEPS[app.step] == "dataset" and str(data / "10_mychar" / "img000.txt") in text_of(app, "#error")
            (data / "10_mychar" / "img000.txt").write_text("mychar, smile")  # fixed outside the wizard
            await pilot.press("ctrl+n")  # the folder is read again, not the stale error kept
            await settle(pilot)
            assert STEPS[app.step] == "hardware"

    run(drive)


def test_parity_every_cli_answer_can_be_given():
    """Every answer flag of `kohyawiz plan` has a field in the wizard's state (both come from
    kohyawiz.vocabulary; tests/test_vocabulary.py gives each a value through each face)."""
    from kohyawiz.cli.plan_cmd import _ANSWER_FLAGS
    from kohyawiz.vocabulary import ANSWERS

    state = WizardState()
    assert set(_ANSWER_FLAGS) == {a.dest for a in ANSWERS if a.flag}
    for answer in ANSWERS:
        assert not answer.flag or hasattr(state, answer.state), answer.flag
    for other in ("dataset", "concept_counts", "overrides", "sd_scripts_version", "force", "out_dir"):
        assert hasattr(state, other)
    assert Path(sys.executable).exists()


def test_write_never_replaces_a_file_the_person_wrote(tmp_path):
    out = tmp_path / "p"
    out.mkdir()
    (out / "config.toml").write_text("# my own config\n")

    async def drive() -> None:
        app = make_app(out_dir=str(out))
        app.state = simple_state(out)
        async with app.run_test(size=(80, 24)) as pilot:
            await press_write(pilot)
            assert not isinstance(app.screen, ConfirmScreen)  # nothing to ask: it is refused
            said = text_of(app, "#write-result")
            assert "config.toml" in said and "did not write" in said

    run(drive)
    assert (out / "config.toml").read_text() == "# my own config\n" and not (out / "plan.json").exists()


def test_train_step_never_starts_from_files_that_differ_from_the_screen(tmp_path, monkeypatch):
    import tomllib

    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    out = tmp_path / "p"
    fake = Path(__file__).resolve().parent / "fake_sd"

    async def drive() -> None:
        app = make_app(out_dir=str(out), sd_scripts=str(fake), python=sys.executable)
        app.state = simple_state(out)
        async with app.run_test(size=(80, 24)) as pilot:
            await press_write(pilot)
            app.go_to(STEPS.index("review"))
            await settle(pilot)
            await pilot.press("2")
            field = app.query_one("#override", Input)
            field.value = "max_train_steps=30"
            await field.action_submit()
            await settle(pilot)
            app.go_to(STEPS.index("train"))
            await settle(pilot)
            for button in ("#train-start", "#train-check"):
                app.query_one(button).press()
                await settle(pilot)
                assert isinstance(app.screen, ConfirmScreen)
                assert "max_train_steps (none) -> 30" in app.screen.question
                await pilot.press("n")
                await settle(pilot)
                said = text_of(app, "#train-status")
                assert "Not started" in said and "config.toml" in said and "max_train_steps" in said
                assert not app.query_one("#train-bar").display  # nothing ran
            assert "max_train_steps" not in tomllib.loads((out / "config.toml").read_text()).get("training_arguments", {})
            app.query_one("#train-check").press()
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
            assert "Preflight" in text_of(app, "#train-status") or "preflight" in text_of(app, "#train-status")

    run(drive)
    config = tomllib.loads((out / "config.toml").read_text())
    assert any(table.get("max_train_steps") == 30 for table in config.values() if isinstance(table, dict))


def test_review_repairs_a_flux_plan_with_missing_companion_files(tmp_path):
    from test_families import COMPANION_FILES, HEADERS, header_file

    model = header_file(tmp_path / "models" / "flux1-dev.safetensors", HEADERS["flux"])
    files = {arg: header_file(tmp_path / "elsewhere" / COMPANION_FILES[arg], {"w": [4, 4]}) for arg in ("clip_l", "t5xxl", "ae")}

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = WizardState(subject="character", model_path=str(model), family="flux", concept_counts="c=30",
                                vram_gb=24)  # fmt: skip
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.go_to(STEPS.index("model"))
            await settle(pilot)
            assert app.query_one("#companion-field-t5xxl").display and not app.query_one("#companion-field-clip_g").display
            app.query_one("#companion-clip_l", Input).value = str(files["clip_l"])  # the model step's own field
            app.go_to(STEPS.index("review"))
            await settle(pilot)
            assert app.state.overrides == {"clip_l": str(files["clip_l"])}
            summary = text_of(app, "#review-summary")
            assert "2 to fix" in summary and "t5xxl" in summary and "--set ae=PATH" in summary
            await pilot.press("2")
            field = app.query_one("#override", Input)
            field.value = f"t5xxl={files['t5xxl']}"
            await field.action_submit()
            await settle(pilot)
            assert set(app.state.overrides) == {"clip_l", "t5xxl"}  # kept while ae is still missing
            assert "ae" in text_of(app, "#review-summary") and "1 to fix" in text_of(app, "#review-summary")
            table = app.query_one("#review-table", DataTable)
            assert table.row_count == 2  # every override is there to remove
            field.value = f"ae={files['ae']}"
            await field.action_submit()
            await settle(pilot)
            assert app.plan.value("ae") == str(files["ae"]) and "steps" in text_of(app, "#review-summary")
            app.go_to(STEPS.index("model"))
            await settle(pilot)
            assert app.query_one("#companion-ae", Input).value == str(files["ae"])  # set on review, shown here

    run(drive)


def test_a_bad_preset_override_can_be_removed_on_review(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = simple_state(tmp_path / "p")
        app.state.overrides = {"network_dimm": "8", "max_train_steps": "400"}
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.go_to(STEPS.index("review"))
            await settle(pilot)
            assert "did you mean network_dim" in text_of(app, "#review-summary")
            await pilot.press("2")
            await settle(pilot)
            table = app.query_one("#review-table", DataTable)
            assert table.row_count == 2
            table.focus()
            table.move_cursor(row=table.get_row_index("network_dimm"))
            await settle(pilot)
            assert "refused" in text_of(app, "#review-reason")
            await pilot.press("delete")
            await settle(pilot)
            assert app.state.overrides == {"max_train_steps": "400"} and app.plan.value("max_train_steps") == 400

    run(drive)


def test_network_step_offers_only_what_the_family_trains_and_opens_at_its_note(tmp_path):
    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = WizardState(subject="style", family="flux", concept_counts="c=30", vram_gb=24, network="locon")
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.go_to(STEPS.index("network"))
            await settle(pilot)
            select = app.query_one("#network-select", Select)
            assert [value for _, value in select._options if value is not Select.NULL] == ["lora"]
            note = text_of(app, "#network-note")
            assert "networks.lora_flux" in note and "locon cannot train this family" in note
            assert app.state.network is None and not app.query_one("#lokr-size").display
            assert app.query_one("#network").scroll_y == 0  # its note is in view
            app.query_one("#family", Select).value = "sdxl"
            await settle(pilot)
            app.go_to(STEPS.index("network"))
            await settle(pilot)
            assert "locon" in [value for _, value in select._options]

    run(drive)


def test_validation_answer_reaches_the_core_as_the_cli_gives_it():
    """K-VALIDATE: the wizard's validation choice is the answer `--validate` / `--no-validate` gives."""
    assert "validation" not in WizardState().answers()
    for choice in (True, False):
        answers = WizardState(validation=choice).answers()
        assert answers["validation"] is choice
        assert WizardState.from_answers(answers).validation is choice


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
def test_every_dialogs_buttons_and_closing_line_are_on_screen(tmp_path, size):
    from kohyawiz.tui.screens import PathPicker, TextScreen

    width, height = size

    def on_screen(app, selector: str) -> bool:
        region = app.screen.query_one(selector).region
        return region.height > 0 and region.y >= 0 and region.bottom <= height and region.right <= width

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        async with app.run_test(size=size) as pilot:
            no_blink(app)
            app.push_screen(PathPicker("Choose the training folder", str(tmp_path), folders_only=True))
            await pilot.pause(0.3)  # not settle: the folder tree's loader is a worker that never "completes"
            assert on_screen(app, "#picker-choose") and on_screen(app, "#picker-cancel")
            await pilot.press("escape")
            await pilot.pause(0.3)
            question = "The files in the plan folder differ:\n" + "\n".join(f"- file {i} differs" for i in range(30))
            app.push_screen(ConfirmScreen(question, "Write"))
            await pilot.pause()
            assert on_screen(app, "#confirm-yes") and on_screen(app, "#confirm-no")
            await pilot.press("n")
            await pilot.pause()
            for screen in (HelpScreen("help", "words " * 2000), TextScreen("details", "line\n" * 500)):
                app.push_screen(screen)
                await pilot.pause()
                assert on_screen(app, ".note"), type(screen).__name__  # "Escape closes this" is in view
                await pilot.press("escape")
                await pilot.pause()

    run(drive)


def test_train_step_never_overwrites_a_config_the_person_edited(tmp_path, monkeypatch):
    """The manifest's rule through the wizard: a config.toml changed by hand since kohyawiz wrote it
    is the person's; Start neither replaces it nor trains from it while the screen differs."""
    monkeypatch.setenv("KOHYAWIZ_HOME", str(tmp_path / "home"))
    out = tmp_path / "p"
    fake = Path(__file__).resolve().parent / "fake_sd"

    async def drive() -> None:
        app = make_app(out_dir=str(out), sd_scripts=str(fake), python=sys.executable)
        app.state = simple_state(out)
        async with app.run_test(size=(80, 24)) as pilot:
            await press_write(pilot)
            config = out / "config.toml"
            lines = config.read_text().splitlines()
            config.write_text("\n".join("max_train_epochs = 3" if line.startswith("max_train_epochs") else line
                                        for line in lines) + "\n")  # fmt: skip
            app.go_to(STEPS.index("train"))
            await settle(pilot)
            app.query_one("#train-start").press()
            await settle(pilot)
            assert not isinstance(app.screen, ConfirmScreen)  # nothing to ask: it cannot be written
            said = text_of(app, "#train-status")
            assert "Not started" in said and "max_train_epochs 3 -> " in said and "changed since" in said
            assert not app.query_one("#train-bar").display

    run(drive)
    assert "max_train_epochs = 3" in (out / "config.toml").read_text()


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
def test_the_override_field_and_its_buttons_stay_on_screen_beside_a_full_settings_table(tmp_path, size):
    """A plan that is made fills the settings table; the override field and Set/Remove below it must
    still be in view (they were pushed under the navigation bar at 80x24)."""
    width = size[0]

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = simple_state(tmp_path / "p")
        async with app.run_test(size=size) as pilot:
            no_blink(app)
            app.go_to(STEPS.index("review"))
            await settle(pilot)
            await pilot.press("2")
            await settle(pilot)
            field = app.query_one("#override", Input)
            field.value = "network_dim=16"
            await field.action_submit()  # its answer line under the steps takes a row or two
            await settle(pilot)
            table = app.query_one("#review-table", DataTable)
            assert table.row_count > 10
            table.focus()
            table.move_cursor(row=table.get_row_index("network_dim"))  # its reason shows under the table
            await settle(pilot)
            nav_top = app.query_one("#nav").region.y
            for selector in ("#override", "#override-set", "#override-remove"):
                region = app.screen.query_one(selector).region
                assert region.height >= 3 and region.y >= 0 and region.bottom <= nav_top, selector
                assert region.right <= width, selector

    run(drive)


def test_the_hardware_step_takes_the_ram_of_the_machine_that_trains(tmp_path):
    """K-RAM: the wizard's RAM field is the CLI's --ram (checked beside the field; empty reads this machine)."""

    async def drive() -> None:
        app = make_app(out_dir=str(tmp_path / "p"))
        app.state = WizardState(subject="character", family="sd1", concept_counts="mychar=30", vram_gb=12)
        async with app.run_test(size=(80, 24)) as pilot:
            no_blink(app)
            app.go_to(STEPS.index("hardware"))
            await settle(pilot)
            app.query_one("#ram", Input).value = "lots"
            await pilot.press("ctrl+n")
            await settle(pilot)
            assert STEPS[app.step] == "hardware" and "a number" in text_of(app, "#ram-problem")
            app.query_one("#ram", Input).value = "32"
            await pilot.press("ctrl+n")
            await settle(pilot)
            assert STEPS[app.step] == "network" and app.state.answers()["ram_gb"] == 32

    run(drive)
