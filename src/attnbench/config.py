"""Typed, validated view of params.yaml: the whole study in one frozen object."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
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

from attnbench.attention.kinds import KINDS, Placement
from attnbench.attention.mechanism import HARD, LOCAL, RECURRENT, Mechanism, self_attention
from attnbench.data.tasks import KNOWN_TASKS
from attnbench.errors import ConfigError

NO_ATTENTION = "none"
YAML_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml_exponent(value: object) -> object:
    """PyYAML (YAML 1.1) reads `1e-3`, written without a dot, as a string: take it as the
    number it is. Every other string stays a string, which a float field refuses."""
    if isinstance(value, str) and YAML_EXPONENT.fullmatch(value.strip()):
        return float(value)
    return value


# finite: YAML's .inf and .nan, and 1.0e400 (read as inf), are refused here, not by a diverging loss
Number = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(_yaml_exponent)]
PositiveNumber = Annotated[PositiveFloat, Field(allow_inf_nan=False), BeforeValidator(_yaml_exponent)]
NonNegativeNumber = Annotated[NonNegativeFloat, Field(allow_inf_nan=False), BeforeValidator(_yaml_exponent)]
MAX_SEED = 2**32 - 1  # numpy's seed range, which Lightning's seed_everything enforces
PARAMS_MAX_BYTES = 1 << 20  # a params file is a page of YAML; anything larger is a mistake


class Section(BaseModel):
    # strict: no coercion that hides a mistake (`max_steps: true` is not 1, `lr: "0.1"` not 0.1)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RuntimeConfig(Section):
    threads: PositiveInt = 1  # intra-op threads per process; the result bytes depend on it
    workers: PositiveInt | None = None  # processes per stage (seeds side by side); None = every core
    # where training and the cost benchmark run: "gpu" = one CUDA device, deterministic, with
    # bytes of its own (exact run to run on the same GPU model and software, not equal to CPU's)
    accelerator: Literal["cpu", "gpu"] = "cpu"
    # where a stage's jobs run: "local" = runtime.workers forked processes on this machine;
    # "dask" = the workers of a Dask distributed scheduler (cluster.py; no byte changes)
    executor: Literal["local", "dask"] = "local"
    scheduler: str | None = None  # dask: the scheduler's address; None = DASK_SCHEDULER_ADDRESS

    def scheduler_address(self) -> str:
        """runtime.scheduler, else Dask's own DASK_SCHEDULER_ADDRESS; a ConfigError without either."""
        address = self.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if not address:
            raise ConfigError("runtime.executor is dask, but no scheduler is named: set "
                              "runtime.scheduler (tcp://host:8786) or DASK_SCHEDULER_ADDRESS")
        return address


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
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(min_length=1)

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, tasks: list[str]) -> list[str]:
        for task in tasks:
            if task not in KNOWN_TASKS:
                raise ValueError(f"unknown task {task!r} (known: {', '.join(KNOWN_TASKS)})")
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


class ReinforceConfig(Section):
    """REINFORCE for hard attention (Xu et al. 2015, eq. 12)."""

    weight: NonNegativeNumber = 1.0  # lambda_r: weight of the score-function term
    entropy_weight: NonNegativeNumber = 0.01  # lambda_e: entropy bonus
    baseline_decay: Number = Field(0.9, ge=0.0, lt=1.0)  # moving-average baseline of the reward
    expected_context_prob: Number = Field(0.5, ge=0.0, le=1.0)  # use the soft context instead


class RNNVariant(Section):
    """Encoder-decoder RNN; `attention: none` is the fixed context vector."""

    arch: Literal["rnn"]
    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    attention: str = NO_ATTENTION
    input_feeding: bool = False  # Luong family: feed h~_{t-1} into the next step
    window: PositiveInt | None = None  # D of local attention: positions [p_t - D, p_t + D]
    score: Literal["dot", "general", "concat"] | None = None  # local attention's score
    reinforce: ReinforceConfig | None = None  # hard attention only

    @field_validator("attention")
    @classmethod
    def _known_attention(cls, name: str) -> str:
        known = [NO_ATTENTION, *KINDS]
        if name not in known:
            raise ValueError(f"unknown attention {name!r} (known: {', '.join(known)})")
        return name

    @model_validator(mode="after")
    def _settings_fit_the_mechanism(self) -> RNNVariant:
        local = self.mechanism is LOCAL
        if local and self.window is None:
            raise ValueError(f"attention {self.attention} needs a window (D)")
        if not local and (self.window is not None or self.score is not None):
            raise ValueError("window and score apply to local attention only")
        if self.reinforce is not None and self.mechanism is not HARD:
            raise ValueError("reinforce applies to hard attention only")
        luong = not self.fixed_context and KINDS[self.attention].placement is Placement.AFTER_STEP
        if self.input_feeding and not luong:
            raise ValueError("input_feeding applies to the Luong family (dot, general, concat, local_*)")
        return self

    @property
    def attention_class(self):
        """The attention.Attention subclass `attention` names; None for the fixed context."""
        from attnbench.attention.registry import REGISTRY  # imports torch: not at validation

        return REGISTRY.get(self.attention)

    @property
    def mechanism(self) -> Mechanism:
        return RECURRENT if self.fixed_context else KINDS[self.attention].mechanism

    @property
    def local_score(self) -> str:
        """The global score local attention restricts to its window (Luong's default: general)."""
        return self.score or "general"

    @property
    def fixed_context(self) -> bool:
        """True when the decoder sees one fixed context vector (no attention)."""
        return self.attention == NO_ATTENTION

    @property
    def reinforce_settings(self) -> ReinforceConfig | None:
        """REINFORCE settings for hard attention (defaults unless given); None otherwise."""
        if self.mechanism is not HARD:
            return None
        return self.reinforce or ReinforceConfig()


# The position schemes a Transformer variant may name, each a module of models/positions/
# (build_positions builds them by these names; the tests run every one).
POSITION_SCHEMES = ("sinusoidal", "none", "alibi", "rotary", "t5_bias")


class TransformerVariant(Section):
    """Encoder-decoder self-attention (Vaswani et al. 2017)."""

    arch: Literal["transformer"]
    layers: PositiveInt = 2
    heads: PositiveInt = 4
    ff_dim: PositiveInt = 256
    window: PositiveInt | None = None  # restricted encoder self-attention: |i - j| <= window
    # how positions enter self-attention (models/positions/): absolute sinusoidal codes,
    # none (NoPE), ALiBi's linear bias, rotary q/k, or T5's learned bucketed bias
    positions: Literal[POSITION_SCHEMES] = "sinusoidal"
    # causal: encoder query i sees source tokens <= i, after a BOS token, as a decoder-only
    # model reads its prompt (Kazemnejad et al. 2023); the only order a NoPE encoder can see
    encoder: Literal["bidirectional", "causal"] = "bidirectional"

    @model_validator(mode="after")
    def _encoder_can_see_order(self) -> TransformerVariant:
        if self.positions == "none" and self.encoder == "bidirectional":
            raise ValueError("positions: none needs encoder: causal (a bidirectional encoder "
                             "without positions is order-blind: it reads a source as a bag of tokens)")
        if self.encoder == "causal" and self.window is not None:
            raise ValueError("window (restricted self-attention) is for a bidirectional encoder; "
                             "drop window or set encoder: bidirectional")
        return self

    @property
    def mechanism(self) -> Mechanism:
        return self_attention(self.window)

    @property
    def fixed_context(self) -> bool:
        return False

    @property
    def reinforce_settings(self) -> None:
        return None


VariantConfig = Annotated[RNNVariant | TransformerVariant, Field(discriminator="arch")]


class StopRule(Section):
    """When a run has learned what it can, judged on validation exact match (val/seq_acc)
    after every validation: it stops once the value exceeds `target`, or after `patience`
    validations in a row none of which beat the best so far by more than `min_delta`
    (Lightning's EarlyStopping). `train.max_steps` caps it either way."""

    target: Number = Field(gt=0.0, le=1.0)
    patience: PositiveInt
    min_delta: Number = Field(0.0, ge=0.0, lt=1.0)


class Schedule(Section):
    """The learning rate of one architecture family over a run of T = max_steps steps:
    linear warm-up to the peak over W = warmup_steps, then constant or a cosine to zero,

        lr(t) = peak * min(1, (t + 1) / W) * d(t),
        d(t) = 1 (constant)  or  (1 + cos(pi * max(0, t - W) / (T - W))) / 2 (cosine).

    peak = `lr`, or train.lr when unset. Chosen by the calibration pipeline
    (pipelines/calibration), never per variant."""

    lr: PositiveNumber | None = None
    warmup_steps: NonNegativeInt = 0
    decay: Literal["constant", "cosine"] = "constant"

    @property
    def is_constant(self) -> bool:
        return self.warmup_steps == 0 and self.decay == "constant"


FAMILIES = ("rnn", "transformer")  # the `arch` of a variant


class TrainConfig(Section):
    max_steps: PositiveInt  # the cap; with `stop`, most runs end before it
    batch_size: PositiveInt
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: PositiveNumber
    grad_clip: NonNegativeNumber = 1.0  # 0 = no clipping
    val_every_n_steps: PositiveInt
    stop: StopRule | None = None  # None: every run trains max_steps
    # the weights a run keeps (and evaluation scores): "best" = those of its best validation
    # (the earliest on ties; the last weights when a fit has no validation), "last" = the final ones
    keep: Literal["best", "last"] = "best"
    # the learning-rate schedule of each architecture family; a family not named trains at
    # the constant train.lr
    schedules: dict[Literal["rnn", "transformer"], Schedule] = {}

    def schedule(self, family: str) -> Schedule:
        """The schedule of the variants whose arch is `family`."""
        return self.schedules.get(family, Schedule())

    def peak_lr(self, family: str) -> float:
        return self.schedule(family).lr or self.lr


class DataOverrides(Section):
    """A task's own data sizes and lengths; unset fields keep `data`'s."""

    train_lengths: LengthRange | None = None
    test_max_length: PositiveInt | None = None
    n_train: PositiveInt | None = None
    n_val: PositiveInt | None = None
    n_test_per_length: PositiveInt | None = None


class TrainOverrides(Section):
    """A task's own training budget, the same for every variant of the task."""

    max_steps: PositiveInt | None = None
    val_every_n_steps: PositiveInt | None = None
    stop: StopRule | None = None  # the task's own rule, replacing train.stop whole


class ModelOverrides(Section):
    embed_dim: PositiveInt | None = None
    hidden_dim: PositiveInt | None = None


class TaskSettings(Section):
    """per_task.<task>: what differs for one task from the study-wide sections."""

    data: DataOverrides = DataOverrides()
    train: TrainOverrides = TrainOverrides()
    model: ModelOverrides = ModelOverrides()


class CostConfig(Section):
    """The benchmark of training cost against length (machine-dependent outputs)."""

    lengths: list[PositiveInt] = Field([16, 32, 64, 128, 256, 512], min_length=2)
    batch_size: PositiveInt = 8
    rounds: PositiveInt = 3
    fit_from_length: PositiveInt = 64  # fit slopes where fixed per-step costs no longer dominate
    # a variant's longest length, where a step beyond would take minutes or GiBs; such a
    # variant's slope is fitted over its own three longest lengths
    max_length: dict[str, PositiveInt] = {}
    # Transformer variants whose encoder is also timed alone (forward and backward of encode)
    encoder_only: list[str] = []

    @model_validator(mode="after")
    def _enough_points_to_fit(self) -> CostConfig:
        if sum(n >= self.fit_from_length for n in self.lengths) < 2:
            raise ValueError("at least two lengths must be >= fit_from_length")
        for name, longest in self.max_length.items():
            if sum(n <= longest for n in self.lengths) < 2:
                raise ValueError(f"max_length.{name} ({longest}) leaves fewer than two lengths to fit")
        return self


class CalibrationConfig(Section):
    """pipelines/calibration: which learning-rate schedule each architecture family trains
    at, decided on one task's validation data (never test data) by one seed outside the
    study's, under the study's own protocol. Every candidate trains every listed variant of
    its family; the family's schedule is the candidate with the highest mean kept validation
    exact match (ties: fewer mean steps, then the order listed)."""

    task: str
    seed: NonNegativeInt
    variants: dict[Literal["rnn", "transformer"], list[str]] = Field(min_length=1)
    candidates: dict[str, Schedule] = Field(min_length=1)


class Params(Section):
    runtime: RuntimeConfig = RuntimeConfig()
    tracking: TrackingConfig = TrackingConfig()
    data: DataConfig
    study: StudyConfig
    model: ModelConfig
    variants: dict[str, VariantConfig] = Field(min_length=1)
    train: TrainConfig
    per_task: dict[str, TaskSettings] = {}
    cost: CostConfig = CostConfig()
    calibration: CalibrationConfig | None = None

    @model_validator(mode="after")
    def _study_variants_defined(self) -> Params:
        for name, variant in self.variants.items():
            if isinstance(variant, TransformerVariant) and self.model.hidden_dim % variant.heads:
                raise ValueError(
                    f"variants.{name}.heads ({variant.heads}) must divide "
                    f"model.hidden_dim ({self.model.hidden_dim})"
                )
        if self.train.batch_size > self.data.n_train:
            raise ValueError(
                f"train.batch_size ({self.train.batch_size}) exceeds data.n_train "
                f"({self.data.n_train}): not one full batch to train on"
            )
        for name in self.study.variants:
            if name not in self.variants:
                raise ValueError(
                    f"study.variants: unknown variant {name!r} "
                    f"(defined under variants: {', '.join(self.variants)})"
                )
        for name in [*self.cost.max_length, *self.cost.encoder_only]:
            if name not in self.variants:
                raise ValueError(f"cost: unknown variant {name!r} (defined under variants: {', '.join(self.variants)})")
        for name in self.cost.encoder_only:
            if not isinstance(self.variants[name], TransformerVariant):
                raise ValueError(f"cost.encoder_only: {name} is not a Transformer variant")
        if self.calibration is not None:
            self._check_calibration(self.calibration)
        for task in self.per_task:
            if task not in KNOWN_TASKS:
                raise ValueError(f"per_task: unknown task {task!r} (known: {', '.join(KNOWN_TASKS)})")
            try:
                merged = self.for_task(task)
            except ValidationError as exc:
                raise ValueError(f"per_task.{task}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
            if merged.train.batch_size > merged.data.n_train:
                raise ValueError(f"per_task.{task}: train.batch_size ({merged.train.batch_size}) exceeds "
                                 f"its n_train ({merged.data.n_train})")
        return self

    def _check_calibration(self, calibration: CalibrationConfig) -> None:
        if calibration.task not in self.study.tasks:
            raise ValueError(f"calibration.task: {calibration.task!r} is not in study.tasks "
                             f"(its data comes from the study's prepare stage)")
        for family, names in calibration.variants.items():
            for name in names:
                if name not in self.variants:
                    raise ValueError(f"calibration.variants.{family}: unknown variant {name!r} "
                                     f"(defined under variants: {', '.join(self.variants)})")
                if self.variants[name].arch != family:
                    raise ValueError(f"calibration.variants.{family}: {name} is a "
                                     f"{self.variants[name].arch} variant")

    def for_task(self, task: str) -> Params:
        """These params with `per_task.<task>`'s settings in place of the study-wide ones:
        what every stage uses for that task (data, budget and model size)."""
        settings = self.per_task.get(task)
        if settings is None:
            return self

        def merged(section: Section, overrides: Section) -> Section:
            changes = overrides.model_dump(exclude_none=True)
            return type(section).model_validate({**section.model_dump(), **changes})

        return self.model_copy(update={"data": merged(self.data, settings.data),
                                       "train": merged(self.train, settings.train),
                                       "model": merged(self.model, settings.model)})

    def variant(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ConfigError(f"unknown variant {name!r} (defined: {', '.join(self.variants)})")
        return self.variants[name]


def _describe(error: dict) -> str:
    loc = list(error["loc"])
    if len(loc) > 2 and loc[0] == "variants" and loc[2] in ("rnn", "transformer"):
        del loc[2]  # the union's tag, not a key of params.yaml
    key = ".".join(str(part) for part in loc)
    message = error["msg"].removeprefix("Value error, ")
    shown = repr(error.get("input"))
    if error["type"] in ("missing", "extra_forbidden") or shown in message or len(shown) > 60:
        return f"{key}: {message}" if key else message
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


class StrictLoader(yaml.SafeLoader):
    """YAML that means one thing: a key given twice (the last would silently win) and
    aliases (`*name`, which can also multiply a small file into gigabytes) are refused."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise ConfigError(f"line {mark.line + 1}: YAML aliases (*name) are not allowed in a params file")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConfigError(f"line {key_node.start_mark.line + 1}: key {key!r} given twice "
                                  f"(first at line {seen[key]})")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_params_text(path: Path) -> str:
    """The params file's text: a regular file of at most PARAMS_MAX_BYTES of UTF-8."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read params file ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: not a regular file (a params file is YAML text)")
    if info.st_size > PARAMS_MAX_BYTES:
        raise ConfigError(f"{path}: {info.st_size} bytes, more than a params file's {PARAMS_MAX_BYTES}")
    try:
        with path.open("rb") as handle:
            data = handle.read(PARAMS_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read params file ({exc.strerror})") from None
    if len(data) > PARAMS_MAX_BYTES:
        raise ConfigError(f"{path}: more than a params file's {PARAMS_MAX_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r})") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    text = read_params_text(path)
    try:
        raw = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"{path}: not valid YAML{at} ({getattr(exc, 'problem', None) or exc})") from None
    if raw is None:
        raise ConfigError(f"{path}: the file is empty")
    return parse_params(raw, str(path))
