"""The configuration layer: precedence of the five layers, coercion, and every ConfigError.

The autouse ``isolated`` fixture (conftest.py) gives each test fresh XDG dirs, an empty working directory and no
``TRACKER_*`` variables, so every layer here is exactly what the test wrote.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import tracker
from tracker import cli
from tracker.config import _LABELS, KEYS, SETTINGS, Config, resolve
from tracker.core.context import RunContext
from tracker.errors import ConfigError

LAYERS = ("argument", "environment", "pyproject", "user")  # highest first; "default" lies below them all

# per key: the value each layer sets, the value the resolved Config must hold, and the default
VALUES: dict[str, dict[str, Any]] = {
    "pue": {
        "argument": (1.1, 1.1),
        "environment": ("1.2", 1.2),
        "pyproject": ("1.3", 1.3),
        "user": ("1.4", 1.4),
        "default": 1.0,
    },
    "project": {
        "argument": ("from-argument", "from-argument"),
        "environment": ("from-environment", "from-environment"),
        "pyproject": ('"from-pyproject"', "from-pyproject"),
        "user": ('"from-user"', "from-user"),
        "default": "default",
    },
}


# -- helpers -------------------------------------------------------------------------------------------------


def write_pyproject(folder: Path, body: str) -> Path:
    """A pyproject.toml in ``folder`` with ``body`` as its [tool.tracker] table."""
    path = folder / "pyproject.toml"
    path.write_text(f'[project]\nname = "demo"\n\n[tool.tracker]\n{body}\n', encoding="utf-8")
    return path


def user_config_path() -> Path:
    """Where the user config file lives without TRACKER_CONFIG: $XDG_CONFIG_HOME/tracker/config.toml."""
    return Path(os.environ["XDG_CONFIG_HOME"]) / "tracker" / "config.toml"


def write_user_config(body: str, path: Path | None = None) -> Path:
    path = path or user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body + "\n", encoding="utf-8")
    return path


def pyproject_origin(path: Path) -> str:
    return f"{path.resolve()} [tool.tracker]"


def assert_names(exc: ConfigError, key: str, value: Any) -> None:
    """The error carries the key and the value, and its message names both."""
    assert exc.key == key
    if isinstance(value, float) and math.isnan(value):
        assert isinstance(exc.value, float) and math.isnan(exc.value)
    else:
        assert exc.value == value
        assert type(exc.value) is type(value)
    message = str(exc)
    assert key in message
    assert repr(value) in message
    assert exc.reason and exc.reason in message


# -- precedence ----------------------------------------------------------------------------------------------


SUBSETS = [subset for n in range(len(LAYERS) + 1) for subset in itertools.combinations(LAYERS, n)]


@pytest.mark.parametrize("key", sorted(VALUES))
@pytest.mark.parametrize("active", SUBSETS, ids=lambda s: "+".join(s) or "none")
def test_highest_layer_that_sets_a_key_wins(
    key: str, active: tuple[str, ...], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every combination of layers: the highest one present wins, whatever lies below it."""
    values = VALUES[key]
    arguments: dict[str, Any] = {}
    origins = {}
    if "argument" in active:
        arguments[key] = values["argument"][0]
        origins["argument"] = "argument"
    if "environment" in active:
        monkeypatch.setenv(f"TRACKER_{key.upper()}", values["environment"][0])
        origins["environment"] = "environment"
    if "pyproject" in active:
        path = write_pyproject(isolated, f"{key} = {values['pyproject'][0]}")
        origins["pyproject"] = pyproject_origin(path)
    if "user" in active:
        path = write_user_config(f"{key} = {values['user'][0]}")
        origins["user"] = str(path)

    config = resolve(arguments)

    winner = next((layer for layer in LAYERS if layer in active), None)
    if winner is None:
        assert getattr(config, key) == values["default"]
        assert key not in config.origins  # defaults are not listed as a setting's source
    else:
        assert getattr(config, key) == values[winner][1]
        assert config.origins[key] == origins[winner]


def test_layers_merge_key_by_key(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each key comes from its own highest layer: one layer does not hide another layer's other keys."""
    write_user_config('team = "user-team"\npue = 1.4\nproject = "user-project"')
    pyproject = write_pyproject(isolated, 'experiment = "exp"\npue = 1.3')
    monkeypatch.setenv("TRACKER_PUE", "1.2")
    config = resolve({"project": "arg-project"})
    assert (config.project, config.pue, config.experiment, config.team) == ("arg-project", 1.2, "exp", "user-team")
    assert config.origins == {
        "project": "argument",
        "pue": "environment",
        "experiment": pyproject_origin(pyproject),
        "team": str(user_config_path()),
    }


def test_argument_none_falls_through_to_lower_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """An argument left as None (as the CLI and Tracker pass unset flags) does not hide the environment."""
    monkeypatch.setenv("TRACKER_PUE", "1.25")
    config = resolve({"pue": None, "country": None})
    assert config.pue == 1.25
    assert config.origins["pue"] == "environment"
    assert config.country is None and "country" not in config.origins


def test_defaults_with_no_layers() -> None:
    config = resolve()
    assert config == Config()
    assert config.origins == {}
    assert (config.project, config.pue, config.mode, config.interval, config.save) == (
        "default",
        1.0,
        "machine",
        1.0,
        True,
    )


def test_pyproject_in_a_parent_directory_is_found(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_pyproject(isolated, 'pue = 1.3\nproject = "parent"')
    deeper = isolated / "src" / "pkg"
    deeper.mkdir(parents=True)
    monkeypatch.chdir(deeper)
    config = resolve()
    assert (config.pue, config.project) == (1.3, "parent")
    assert config.origins["pue"] == config.origins["project"] == pyproject_origin(path)


def test_nearest_pyproject_wins_and_parents_are_not_merged(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_pyproject(isolated, 'pue = 1.5\nproject = "parent"\nteam = "parent-team"')
    sub = isolated / "sub"
    sub.mkdir()
    nearest = write_pyproject(sub, 'project = "child"')
    monkeypatch.chdir(sub)
    config = resolve()
    assert config.project == "child"
    assert config.origins["project"] == pyproject_origin(nearest)
    # only the nearest file is a layer: the parent's other keys do not leak through
    assert config.pue == 1.0 and "pue" not in config.origins
    assert config.team is None


def test_pyproject_found_from_explicit_cwd(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    path = write_pyproject(other, "pue = 1.6")
    assert resolve().pue == 1.0  # not visible from the working directory
    config = resolve(cwd=other)
    assert config.pue == 1.6
    assert config.origins["pue"] == pyproject_origin(path)


def test_pyproject_without_tracker_table_adds_nothing(isolated: Path) -> None:
    (isolated / "pyproject.toml").write_text('[project]\nname = "demo"\n', encoding="utf-8")
    write_user_config("pue = 1.4")
    config = resolve()
    assert config.pue == 1.4
    assert config.origins["pue"] == str(user_config_path())


def test_tracker_config_env_points_to_another_user_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    write_user_config('pue = 1.4\nproject = "xdg"')  # must be ignored once TRACKER_CONFIG is set
    elsewhere = write_user_config("pue = 1.7", tmp_path / "custom" / "tracker.toml")
    monkeypatch.setenv("TRACKER_CONFIG", str(elsewhere))
    with caplog.at_level(logging.WARNING, logger="tracker.config"):
        config = resolve()
    assert config.pue == 1.7
    assert config.origins["pue"] == str(elsewhere)
    assert config.project == "default" and "project" not in config.origins
    # TRACKER_CONFIG names the file; it is not a setting and not an unknown variable
    assert not [r for r in caplog.records if "TRACKER_CONFIG" in r.getMessage()]


def test_tracker_config_file_loses_to_pyproject(
    isolated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = write_user_config('pue = 1.7\nteam = "from-user"', tmp_path / "custom.toml")
    monkeypatch.setenv("TRACKER_CONFIG", str(elsewhere))
    pyproject = write_pyproject(isolated, "pue = 1.3")
    config = resolve()
    assert config.pue == 1.3
    assert config.origins["pue"] == pyproject_origin(pyproject)
    assert config.team == "from-user"
    assert config.origins["team"] == str(elsewhere)


def test_missing_tracker_config_file_means_no_user_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_user_config("pue = 1.4")
    monkeypatch.setenv("TRACKER_CONFIG", str(tmp_path / "does-not-exist.toml"))
    config = resolve()
    assert config.pue == 1.0
    assert config.origins == {}


# -- coercion ------------------------------------------------------------------------------------------------


def test_float_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_PUE", "1.2")
    monkeypatch.setenv("TRACKER_INTERVAL", "0.5")
    monkeypatch.setenv("TRACKER_CPU_WATTS", "65")
    config = resolve()
    assert config.pue == 1.2 and type(config.pue) is float
    assert config.interval == 0.5 and type(config.interval) is float
    assert config.cpu_watts == 65.0 and type(config.cpu_watts) is float


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[(text, False) for text in ("false", "FALSE", "0", "no", "off")],
        *[(text, True) for text in ("true", "True", "1", "yes", " on ")],
    ],
)
def test_bool_from_environment(text: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SAVE", text)
    config = resolve()
    assert config.save is expected
    assert config.origins["save"] == "environment"


def test_bool_from_toml(isolated: Path) -> None:
    write_pyproject(isolated, "save = false")
    assert resolve().save is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1,b=2", {"a": "1", "b": "2"}),
        (" a = 1 , b=2 ,", {"a": "1", "b": "2"}),
        ("k=v=w", {"k": "v=w"}),
        ("empty=", {"empty": ""}),
        ("", {}),
    ],
)
def test_tags_from_environment_string(text: str, expected: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_TAGS", text)
    config = resolve()
    assert dict(config.tags) == expected
    assert config.origins["tags"] == "environment"


def test_tags_as_toml_table(isolated: Path) -> None:
    path = isolated / "pyproject.toml"
    path.write_text(
        '[tool.tracker]\nproject = "p"\n\n[tool.tracker.tags]\nowner = "ana"\nbatch = 32\n', encoding="utf-8"
    )
    config = resolve()
    assert dict(config.tags) == {"owner": "ana", "batch": "32"}  # values become strings
    assert config.origins["tags"] == pyproject_origin(path)


def test_tags_as_argument_mapping() -> None:
    config = resolve({"tags": {"run": 7}})
    assert dict(config.tags) == {"run": "7"}


def test_numbers_and_strings_from_toml(isolated: Path) -> None:
    write_pyproject(isolated, 'pue = 2\ngpu_watts = 300\nmode = "process"\nproject = 42')
    config = resolve()
    assert config.pue == 2.0 and type(config.pue) is float
    assert config.gpu_watts == 300.0 and type(config.gpu_watts) is float
    assert config.mode == "process"
    assert config.project == "42"


# -- country ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["FR", "fr", "FRA", "fra", " Fr "])
def test_country_alpha2_and_alpha3_canonicalised(code: str) -> None:
    config = resolve({"country": code})
    assert config.country == "FR"
    assert config.origins["country"] == "argument"


def test_country_from_environment_canonicalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_COUNTRY", "deu")
    assert resolve().country == "DE"


@pytest.mark.parametrize("code", ["XX", "Narnia", "WORLD", "WLD", ""])
def test_unknown_country(code: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"country": code})
    assert_names(info.value, "country", code)


def test_unknown_country_in_pyproject(isolated: Path) -> None:
    write_pyproject(isolated, 'country = "Narnia"')
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "country", "Narnia")


# -- every ConfigError ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pue", [0.9, 0.0, -1.0])
def test_pue_below_one(pue: float) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"pue": pue})
    assert_names(info.value, "pue", pue)


def test_pue_exactly_one_is_valid() -> None:
    assert resolve({"pue": 1}).pue == 1.0


@pytest.mark.parametrize("pue", [float("nan"), "nan", "NaN"])
def test_pue_nan(pue: Any) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"pue": pue})
    assert_names(info.value, "pue", float("nan"))


def test_pue_nan_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_PUE", "nan")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "pue", float("nan"))


@pytest.mark.parametrize("key", ["pue", "cpu_watts"])
def test_infinite_values_rejected(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({key: float("inf")})
    assert_names(info.value, key, float("inf"))


@pytest.mark.parametrize("key", ["cpu_watts", "gpu_watts", "ram_watts"])
def test_negative_watts(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({key: -5})
    assert_names(info.value, key, -5.0)


@pytest.mark.parametrize("key", ["cpu_watts", "gpu_watts", "ram_watts"])
def test_negative_watts_from_environment(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"TRACKER_{key.upper()}", "-0.5")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, key, -0.5)


@pytest.mark.parametrize("key", ["cpu_watts", "gpu_watts", "ram_watts"])
def test_zero_watts_is_valid(key: str) -> None:
    assert getattr(resolve({key: 0}), key) == 0.0


def test_unknown_key_as_argument() -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"colour": "red"})
    assert_names(info.value, "colour", "red")
    assert "pue" in str(info.value)  # the message lists the known keys


def test_origins_is_not_a_settable_key() -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"origins": {}})
    assert_names(info.value, "origins", {})


def test_unknown_key_in_pyproject(isolated: Path) -> None:
    write_pyproject(isolated, 'colour = "red"')
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "colour", "red")


def test_unknown_key_in_user_config() -> None:
    write_user_config("colour = 3")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "colour", 3)


def test_unknown_key_in_tracker_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_user_config("pue_typo = 1.2", tmp_path / "custom.toml")
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "pue_typo", 1.2)


@pytest.mark.parametrize("text", ["abc", "", "1.2.3"])
def test_non_numeric_pue_from_environment(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_PUE", text)
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "pue", text)


def test_boolean_is_not_a_number(isolated: Path) -> None:
    write_pyproject(isolated, "pue = true")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "pue", True)


def test_bad_boolean_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_SAVE", "maybe")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "save", "maybe")


@pytest.mark.parametrize("mode", ["turbo", "Process", ""])
def test_bad_mode(mode: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"mode": mode})
    assert_names(info.value, "mode", mode)
    assert "machine" in str(info.value) and "process" in str(info.value)


@pytest.mark.parametrize("mode", ["machine", "process"])
def test_good_modes(mode: str) -> None:
    assert resolve({"mode": mode}).mode == mode


@pytest.mark.parametrize("interval", [0, 10000, -1, 0.001, 3600.5, float("nan")])
def test_bad_interval(interval: float) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"interval": interval})
    assert_names(info.value, "interval", float(interval))


@pytest.mark.parametrize("interval", [0.01, 3600])
def test_interval_bounds_are_inclusive(interval: float) -> None:
    assert resolve({"interval": interval}).interval == interval


@pytest.mark.parametrize("text", ["a", "a=1,b", "=1", "a=1, =2"])
def test_malformed_tags(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"tags": text})
    assert_names(info.value, "tags", text)


def test_tags_of_wrong_type(isolated: Path) -> None:
    write_pyproject(isolated, 'tags = ["a", "b"]')
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "tags", ["a", "b"])


@pytest.mark.parametrize("key", ["project", "experiment", "team", "organisation"])
@pytest.mark.parametrize("label", ["", "   "])
def test_empty_label(key: str, label: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({key: label})
    assert_names(info.value, key, label)


def test_empty_project_from_pyproject(isolated: Path) -> None:
    write_pyproject(isolated, 'project = ""')
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, "project", "")


def test_invalid_toml_in_pyproject(isolated: Path) -> None:
    path = isolated / "pyproject.toml"
    path.write_text("[tool.tracker]\npue = = 1.2\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, str(path.resolve()), "<file>")
    assert "TOML" in str(info.value)


def test_invalid_toml_in_user_config() -> None:
    path = write_user_config("pue = [unclosed")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert_names(info.value, str(path), "<file>")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            "[tool]\ntracker = 5\n",
            id="tracker-not-a-table",
        ),
        pytest.param(
            "tool = 5\n",
            id="tool-not-a-table",
        ),
    ],
)
def test_pyproject_tool_tracker_not_a_table(body: str, isolated: Path) -> None:
    """Valid TOML of the wrong shape must be a ConfigError too (only ConfigError reaches user code at start)."""
    (isolated / "pyproject.toml").write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve()
    assert "tracker" in info.value.key
    assert info.value.key in str(info.value)


# -- unknown environment variables --------------------------------------------------------------------------


def test_unknown_environment_variable_warns(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TRACKER_FOO", "1")
    monkeypatch.setenv("TRACKER_PUE", "1.2")
    with caplog.at_level(logging.WARNING, logger="tracker.config"):
        config = resolve()
    assert config.pue == 1.2  # the known variable still applies
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "TRACKER_FOO" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].name == "tracker.config"
    assert "foo" not in config.origins


def test_unknown_environment_variable_does_not_break_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_FOO", "bar")
    assert tracker.Tracker(project="ok").config.project == "ok"


# -- the public API raises at start --------------------------------------------------------------------------


def test_tracker_raises_for_bad_pue() -> None:
    with pytest.raises(tracker.ConfigError) as info:
        tracker.Tracker(pue=0.5)
    assert_names(info.value, "pue", 0.5)
    assert tracker.current_run() is None


def test_tracker_raises_for_unknown_setting() -> None:
    with pytest.raises(tracker.ConfigError) as info:
        tracker.Tracker(colour="red")
    assert_names(info.value, "colour", "red")


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        tracker.Tracker(pue=0.5)


def test_track_block_raises_before_body() -> None:
    ran = False
    with pytest.raises(tracker.ConfigError) as info, tracker.track(country="XX"):
        ran = True
    assert ran is False
    assert_names(info.value, "country", "XX")
    assert tracker.current_run() is None


def test_track_decorator_raises_when_called() -> None:
    calls = []

    @tracker.track(pue=0.5)  # decorating itself does not resolve anything
    def work() -> str:
        calls.append(1)
        return "done"

    with pytest.raises(tracker.ConfigError) as info:
        work()
    assert calls == []
    assert_names(info.value, "pue", 0.5)
    assert tracker.current_run() is None


def test_environment_pue_makes_tracker_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_PUE", "0.5")
    with pytest.raises(tracker.ConfigError) as info:
        tracker.Tracker()
    assert_names(info.value, "pue", 0.5)


def test_pyproject_country_makes_tracker_raise(isolated: Path) -> None:
    write_pyproject(isolated, 'country = "XX"')
    with pytest.raises(tracker.ConfigError) as info:
        tracker.Tracker()
    assert_names(info.value, "country", "XX")


# -- the declarations ----------------------------------------------------------------------------------------

# A value each key with choices or bounds refuses (its own check, whatever the other keys say).
REFUSED: dict[str, Any] = {
    "project": " ",
    "experiment": "",
    "team": "\t",
    "organisation": "",
    "pue": 0.9,
    "cpu_watts": -1,
    "cpu_tdp": 0,
    "gpu_watts": float("nan"),
    "ram_watts": float("-inf"),
    "mode": "both",
    "overlap": "half",
    "interval": 0.001,
    "store": "https://example.org/runs",
    "cloud_provider": "ibm",
    "cloud_metadata": "sometimes",
    "live": "yes",
    "emission_factor_type": "operational",
    "intensity_g_per_kwh": -5,
    "intensity_source": "\x1b[2J",
    "embodied_kg": -3,
    "embodied_lifetime_years": 0,
    "embodied_share": 1.5,
    "functional_unit": "\x1b[2J",
    "functional_units": -1,
    "checkpoint_s": 0.5,
    "budget_kwh": -1,
    "budget_kg": 0,
    "on_budget": "explode",
}


def test_the_settings_are_the_fields_of_config_but_its_bookkeeping() -> None:
    import dataclasses

    assert set(SETTINGS) == KEYS == {f.name for f in dataclasses.fields(Config)} - {"origins", "pue_source"}
    assert set(_LABELS) <= KEYS  # each label of the records is a setting (and is never blank)
    assert all(SETTINGS[key].help for key in KEYS)


def test_every_key_with_choices_or_bounds_is_checked_here() -> None:
    """The table above covers each key whose declaration restricts its values: a new one must be added."""
    restricted = {key for key, s in SETTINGS.items() if s.choices or s.check or key in _LABELS}
    assert restricted == set(REFUSED)


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_a_refused_value_names_its_key(key: str) -> None:
    """Choices and bounds come from the key's declaration; the error names the key and the coerced value."""
    with pytest.raises(ConfigError) as info:
        resolve({key: REFUSED[key]})
    value = REFUSED[key]
    assert_names(info.value, key, float(value) if isinstance(value, int) else value)
    if SETTINGS[key].choices:
        assert info.value.reason == f"expected one of {', '.join(SETTINGS[key].choices)}"


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_a_refused_value_from_the_environment_names_its_key(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    value = REFUSED[key]
    monkeypatch.setenv(f"TRACKER_{key.upper()}", str(value))
    with pytest.raises(ConfigError) as info:
        resolve()
    assert info.value.key == key


def test_a_value_refused_in_a_lower_layer_but_overridden_is_not_checked(isolated: Path) -> None:
    """Checks look at the value that won: a bad mode in pyproject.toml under a good argument is no error."""
    write_pyproject(isolated, 'mode = "both"\nembodied_share = 7')
    config = resolve({"mode": "process", "embodied_share": 0.5})
    assert (config.mode, config.embodied_share) == ("process", 0.5)


@pytest.mark.parametrize("value", [0, -95, "nan", "inf", "ninety-five", True])
def test_a_bad_cpu_tdp_names_cpu_tdp(value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({"cpu_tdp": value})
    assert info.value.key == "cpu_tdp" and "cpu_tdp" in str(info.value)


def test_cpu_tdp_from_each_layer(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve().cpu_tdp is None  # optional: the table's TDP
    write_pyproject(isolated, "cpu_tdp = 65")
    assert resolve().cpu_tdp == 65.0
    monkeypatch.setenv("TRACKER_CPU_TDP", "95.5")
    config = resolve()
    assert config.cpu_tdp == 95.5 and config.origins["cpu_tdp"] == "environment"


def test_the_readme_lists_every_setting() -> None:
    """The README's Configuration section names each declared key (a new key is documented where users look)."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    section = readme.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    assert [key for key in SETTINGS if f"`{key}`" not in section] == []


# -- the CLI -----------------------------------------------------------------------------------------------


def test_cli_run_with_bad_country_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["run", "--country", "XX", "--", sys.executable, "-c", "pass"])
    assert code == 2
    err = capsys.readouterr().err
    assert "configuration error" in err
    assert "country" in err
    assert "'XX'" in err


def test_cli_run_with_bad_config_never_starts_the_command(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = isolated / "ran"
    code = cli.main(["run", "--pue", "0.5", "--", sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"])
    assert code == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert "pue" in err and "0.5" in err


def test_a_configuration_reads_the_default_store_and_the_live_token_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like every other setting, the default store's path and the Electricity Maps token are read from the
    environment once per configuration's context (a run's end asks for them; the environment costs microseconds
    a read). A Tracker keeps one context for all its runs."""
    from tracker.grid.intensity import EmbeddedIntensity, LiveIntensity

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "first"))
    monkeypatch.delenv("ELECTRICITYMAPS_API_TOKEN", raising=False)
    context = RunContext(resolve({}))
    assert context.store_location() == str(tmp_path / "first" / "tracker" / "runs.db")
    assert isinstance(context.intensity_provider(), EmbeddedIntensity)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "second"))
    monkeypatch.setenv("ELECTRICITYMAPS_API_TOKEN", "a-token")
    assert context.store_location() == str(tmp_path / "first" / "tracker" / "runs.db")
    assert isinstance(context.intensity_provider(), EmbeddedIntensity)
    fresh = RunContext(resolve({}))
    assert fresh.store_location() == str(tmp_path / "second" / "tracker" / "runs.db")
    assert isinstance(fresh.intensity_provider(), LiveIntensity)
    assert RunContext(resolve({"store": str(tmp_path / "x.db")})).store_location() == str(tmp_path / "x.db")
    owner = tracker.Tracker(save=False)
    first = owner.start()
    owner.stop()
    second = owner.start()
    owner.stop()
    assert first is not second and first.context is second.context is owner.context


def test_a_configuration_holds_nothing_a_process_cached_so_it_copies_and_pickles_whole() -> None:
    import copy
    import pickle

    config = resolve({"project": "p", "pue": 1.3})
    context = RunContext(config)
    context.pue_model(), context.intensity_provider(), context.store_location()
    assert not [key for key in vars(config) if key.startswith("_")]  # the caches live in the context
    for twin in (pickle.loads(pickle.dumps(config)), copy.deepcopy(config), copy.copy(config)):
        assert twin == config and not [key for key in vars(twin) if key.startswith("_")]
        assert RunContext(twin).pue_model().constant == 1.3  # worked out again where used
