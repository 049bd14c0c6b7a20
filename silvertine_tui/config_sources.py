"""The settings' file and environment sources: PyYAML and pydantic-settings.

Imported by :func:`silvertine_tui.config.load_settings` only when there is a config
file or a ``SILVERTINE_*`` variable (the default start has neither and does not pay
for these imports). The model is :class:`~silvertine_tui.config.Settings`; here it
only gains pydantic-settings' sources: the keyword overrides, the environment
(``SILVERTINE_*``, nested with ``__``) and the YAML file, in that priority.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from .config import ENV_PREFIX, ConfigError, Settings, expand_env_vars, read_config_file

__all__ = ["SettingsFromSources", "YamlConfigSource", "parse_yaml", "settings_from_sources"]

# The file read by the YAML source for the current settings_from_sources() call.
_CONFIG_PATH: ContextVar[Path | None] = ContextVar("silvertine_config_path", default=None)


# --------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """``yaml.safe_load`` semantics, but a key given twice in one mapping is an error."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = (key_node.tag, key_node.value)
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key_node.value!r} (first at line {seen[key]})",
                key_node.start_mark,
            )
        seen[key] = line
    return loader.construct_mapping(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Only the parser's rule and position: str(exc) quotes the offending line, which could
    # hold a secret.
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        text = f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: "
        text += exc.problem or "invalid YAML"
        if exc.context and exc.context_mark is not None:
            text += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return text
    return f"YAML syntax error: {type(exc).__name__}"


def parse_yaml(text: str, path: Path) -> Any:
    """The YAML document in `text` (read from `path`); a syntax error or a duplicate key
    is a :class:`ConfigError` that quotes no line of the file."""
    try:
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError([_yaml_problem(exc)], path) from None


class YamlConfigSource(PydanticBaseSettingsSource):
    """Reads one YAML file (``read_config_file``); no file means no values."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path
        self._data = read_config_file(path) if path is not None else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


# --------------------------------------------------------------------------- sources


class ExpandedEnvSource(PydanticBaseSettingsSource):
    """The `SILVERTINE_*` variables with `${NAME}` in their values expanded, as in the
    YAML file: left as they were, `SILVERTINE_BUS__PASSWORD='${REDIS_PASSWORD}'` sent
    the text `${REDIS_PASSWORD}` as the password, and an unset variable said nothing."""

    def __init__(self, settings_cls: type[BaseSettings], env: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # (`__call__` reads them all at once)

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = expand_env_vars(self._env())
        return data


class SettingsFromSources(BaseSettings, Settings):
    """:class:`Settings` (its fields, defaults and validators: no field of its own)
    read through pydantic-settings: keyword overrides > environment > YAML file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        hide_input_in_errors=True,
        validate_default=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            ExpandedEnvSource(settings_cls, env_settings),
            YamlConfigSource(settings_cls, _CONFIG_PATH.get()),
        )


def settings_from_sources(file: Path | None, overrides: dict[str, Any]) -> Settings:
    """The settings from `overrides`, the environment and `file` (None: no file).

    Raises pydantic's ``ValidationError`` for invalid values and :class:`ConfigError`
    for an unreadable file or a variable that is not valid JSON where JSON is needed."""
    token = _CONFIG_PATH.set(file)
    try:
        loaded = SettingsFromSources(**overrides)
    except SettingsError as exc:
        # Raised for a SILVERTINE_* variable that is not valid JSON where JSON is needed.
        problem = f"environment: {exc}; a whole section or list must be given as JSON"
        raise ConfigError([problem], file) from None
    finally:
        _CONFIG_PATH.reset(token)
    # The values are validated, by the model's own fields and validators: hand them on
    # as the model itself (a Settings equals another with the same values).
    return Settings.model_construct(
        _fields_set=loaded.model_fields_set,
        **{name: getattr(loaded, name) for name in Settings.model_fields},
    )
