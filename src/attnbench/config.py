"""Typed, validated view of params.yaml: the whole study in one frozen object."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from attnbench.errors import ConfigError
from attnbench.tasks import TASKS

NO_ATTENTION = "none"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuntimeConfig(Section):
    threads: PositiveInt = 1


class TrackingConfig(Section):
    experiment: str = Field("attnbench", min_length=1)
    log_every_n_steps: PositiveInt = 25


class LengthRange(Section):
    min: PositiveInt
    max: PositiveInt

    @model_validator(mode="after")
    def _ordered(self) -> LengthRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


class DataConfig(Section):
    vocab_size: int = Field(ge=2, le=1000)
    train_lengths: LengthRange
    test_max_length: PositiveInt
    n_train: PositiveInt
    n_val: PositiveInt
    n_test_per_length: PositiveInt
    seed: NonNegativeInt = 0

    @model_validator(mode="after")
    def _test_covers_training(self) -> DataConfig:
        if self.test_max_length < self.train_lengths.max:
            raise ValueError(
                f"test_max_length ({self.test_max_length}) must be at least "
                f"train_lengths.max ({self.train_lengths.max})"
            )
        return self


class StudyConfig(Section):
    tasks: list[str] = Field(min_length=1)
    variants: list[str] = Field(min_length=1)
    seeds: list[NonNegativeInt] = Field(min_length=1)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        for task in tasks:
            if task not in TASKS:
                raise ValueError(f"unknown task {task!r} (known: {', '.join(TASKS)})")
        return tasks

    @field_validator("tasks", "variants", "seeds")
    @classmethod
    def _unique(cls, values: list) -> list:
        if len(set(values)) != len(values):
            raise ValueError(f"entries must be unique, got {values}")
        return values


class ModelConfig(Section):
    embed_dim: PositiveInt
    hidden_dim: PositiveInt


class VariantConfig(Section):
    """One network of the study: architecture, recurrent cell and attention mechanism."""

    arch: Literal["rnn"]
    cell: Literal["rnn", "lstm", "gru"]
    attention: str

    @field_validator("attention")
    @classmethod
    def _known_attention(cls, name: str) -> str:
        from attnbench.attention import REGISTRY

        known = [NO_ATTENTION, *REGISTRY]
        if name not in known:
            raise ValueError(f"unknown attention {name!r} (known: {', '.join(known)})")
        return name


class TrainConfig(Section):
    max_steps: PositiveInt
    batch_size: PositiveInt
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: PositiveFloat
    grad_clip: NonNegativeFloat = 1.0  # 0 = no clipping
    val_every_n_steps: PositiveInt


class Params(Section):
    runtime: RuntimeConfig = RuntimeConfig()
    tracking: TrackingConfig = TrackingConfig()
    data: DataConfig
    study: StudyConfig
    model: ModelConfig
    variants: dict[str, VariantConfig] = Field(min_length=1)
    train: TrainConfig

    @model_validator(mode="after")
    def _study_variants_defined(self) -> Params:
        for name in self.study.variants:
            if name not in self.variants:
                raise ValueError(
                    f"study.variants: unknown variant {name!r} "
                    f"(defined under variants: {', '.join(self.variants)})"
                )
        return self

    def variant(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ConfigError(f"unknown variant {name!r} (defined: {', '.join(self.variants)})")
        return self.variants[name]


def _describe(error: dict) -> str:
    key = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] in ("missing", "extra_forbidden"):
        return f"{key}: {message}" if key else message
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{key}: {message} (got {shown})" if key else message


def parse_params(raw: object, source: str = "params.yaml") -> Params:
    """Validate a loaded params mapping; every problem becomes one line naming its key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: {_describe(error)}" for error in exc.errors()]
        raise ConfigError("\n".join(lines)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read params file ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_params(raw, str(path))
