"""Training configuration: the packaged defaults, a YAML file over them, then
KEY=VALUE overrides (dotted keys, YAML values). Only keys of the defaults are
accepted, with values of the defaults' types."""
import copy
import os

import yaml

DEFAULT_CONFIG = os.path.join(os.path.dirname(__file__), "configs", "default.yaml")


class ConfigError(ValueError):
    pass


def default_config():
    with open(DEFAULT_CONFIG) as file:
        return yaml.safe_load(file)


def load_config(path=None, overrides=()):
    """The defaults, updated by the YAML file at path, then by each "a.b=value"."""
    config = default_config()
    free_form = set(_free_form_sections(config))
    if path is not None:
        with open(path) as file:
            update = yaml.safe_load(file) or {}
        if not isinstance(update, dict):
            raise ConfigError(f"{path}: a config file must be a mapping of sections, got {type(update).__name__}")
        merge(config, update, str(path), free_form)
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator or not key:
            raise ConfigError(f"override {override!r} is not KEY=VALUE (e.g. train.epochs=10)")
        update = yaml.safe_load(text)
        for part in reversed(key.split(".")):
            update = {part: update}
        merge(config, update, f"override {override!r}", free_form)
    return config


def merge(config, update, source, free_form=frozenset(), prefix=""):
    """Writes update into config in place. Keys must exist in config, except
    in the free_form sections (dotted names; empty in the defaults), which take
    any keys."""
    if prefix.rstrip(".") in free_form:
        config.update(copy.deepcopy(update))
        return
    for key, value in update.items():
        name = f"{prefix}{key}"
        if key not in config:
            valid = ", ".join(f"{prefix}{known}" for known in config)
            raise ConfigError(f"{source}: unknown config key {name!r}; valid keys here: {valid}")
        default = config[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name!r} is a section, got {value!r}")
            merge(default, value, source, free_form, prefix=f"{name}.")
        else:
            config[key] = _checked(name, default, value, source)


def _free_form_sections(config, prefix=""):
    for key, value in config.items():
        if isinstance(value, dict):
            if not value:
                yield f"{prefix}{key}"
            yield from _free_form_sections(value, prefix=f"{prefix}{key}.")


def _checked(name, default, value, source):
    if default is None:  # optional settings (paths): any value
        return value
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is float and isinstance(value, str):
        # PyYAML (YAML 1.1) reads 1e-3, without a dot, as a string.
        try:
            return float(value)
        except ValueError:
            pass
    if type(value) is not expected:
        raise ConfigError(
            f"{source}: {name!r} must be a {expected.__name__} (like the default {default!r}), got {value!r}"
        )
    return copy.deepcopy(value)


def dump_config(config):
    return yaml.safe_dump(config, sort_keys=False)


def save_config(config, path):
    with open(path, "w") as file:
        file.write(dump_config(config))
