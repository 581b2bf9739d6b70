"""Training methods: what the one training loop (`train.Trainer`) optimises.

A method owns its network (`model`, a `TaskModel`: what `--init` hands on and what
`spare3d evaluate` scores) and any other state the checkpoint must carry (a momentum
encoder, a queue: registered buffers and modules, so `state_dict` holds them). It names
the data it trains on (`data`: question tasks, "pairs" or "poses"), turns a loader batch
into device tensors (`prepare`, where augmentation happens) and those into a loss with
the numbers to log (`compute`), and scores the validation split (`validate`, whose
`metric` picks `best.pt`). The trainer gives every method the same device handling, bf16
autocast and channels_last on CUDA, optional compile, optimiser and schedule, atomic
checkpoints with exact resume, metrics.jsonl, TensorBoard and progress bars.

Methods register under the `spare3d.methods` entry point group (setup.cfg), as models do
under `spare3d.models`: `spare3d_bench` never imports the packages that provide them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from .data import QuestionDataset, check_answers
from .inputs import InputOptions, prepare
from .models import TASKS, TaskModel, TaskSpec, build_model, load_plugin, model_class, plugin_entry_points
from .options import NoOptions

ENTRY_POINTS = "spare3d.methods"
#: What a method can train on: question tasks, or the self-supervised kinds of data.
DATA_KINDS = (*TASKS, "pairs", "poses")


@dataclass
class StepOutput:
    """One step's result: the loss to minimise (a scalar), and `right` of `count`
    predictions correct (for the training accuracy; `right` None when the method makes
    no predictions). `count` may be a device scalar, so that a method whose number of
    predictions depends on the batch's contents need not read the device back. `tallies`:
    further counts among `count` (a coarser reading of each prediction, scored in
    validation), which `evaluate_loop` reports as val_<name>. `parts`: the terms `loss`
    adds up, detached scalars, which training logs as train_<name> (epoch means)."""

    loss: torch.Tensor
    right: torch.Tensor | None
    count: int | torch.Tensor
    tallies: dict[str, torch.Tensor] = field(default_factory=dict)
    parts: dict[str, torch.Tensor] = field(default_factory=dict)


class Method(nn.Module):
    """Base of every training method (see the module docstring). Subclasses set the class
    attributes and implement `build`, `prepare`, `compute` and `validate`."""

    #: The kinds of data it trains on (among DATA_KINDS).
    data: ClassVar[tuple[str, ...]] = ()
    #: Its settings: a frozen dataclass of `options.option` fields.
    Options: ClassVar[type] = NoOptions
    #: One line for --list-methods.
    description: ClassVar[str] = ""
    #: The model it trains when none is named.
    default_model: ClassVar[str] = ""
    #: The validation figure that picks best.pt (higher is better).
    metric: ClassVar[str] = "val_accuracy"
    #: What `spare3d pretrain` uses when the command line gives none: the optimiser, the
    #: batch (None: the data's SPARE3D batch, 8 for pairs and poses, 70 for I2P and P2I),
    #: the learning rate (at `default_batch`, scaled linearly with the batch when there is
    #: one: SimCLR's 0.3 x batch / 256), weight decay and epochs of warm-up.
    default_optimizer: ClassVar[str] = "adam"
    default_batch: ClassVar[int | None] = None
    default_lr: ClassVar[float] = 5e-5
    default_weight_decay: ClassVar[float] = 0.0
    default_warmup: ClassVar[float] = 0.0

    @classmethod
    def lr_for(cls, batch: int) -> float:
        """The default learning rate for a batch of `batch`."""
        return cls.default_lr * batch / cls.default_batch if cls.default_batch else cls.default_lr

    def __init__(self, spec: TaskSpec, model: TaskModel, options, inputs: InputOptions) -> None:
        super().__init__()
        self.spec, self.model, self.options, self.inputs = spec, model, options, inputs

    @classmethod
    def model_task(cls, data: str) -> str:
        """The task the method's model is built for, given the data's kind."""
        return data

    @classmethod
    def check_config(cls, model: str, arch: dict, options) -> dict:
        """The model architecture the method will build (it may complete `arch`, say a
        head its loss needs); ValueError if the method cannot train that model."""
        return arch

    def forward_module(self) -> nn.Module:
        """The module `compute` runs (`net`): the model, or a part of it."""
        return self.model

    def compile(self) -> None:
        """Run `net` through torch.compile."""
        self.__dict__["_compiled"] = torch.compile(self.forward_module())  # not a submodule: no second copy in state_dict

    @property
    def net(self) -> nn.Module:
        """What `compute` calls: `forward_module()`, compiled if asked."""
        return self.__dict__.get("_compiled") or self.forward_module()

    def dataset(self, ds: QuestionDataset, split: str) -> QuestionDataset:
        """What the method reads of a split ("train" or "val"): the questions as they are,
        or, say, a pool of their single drawings (`data.drawing_pool`)."""
        return ds

    def check_split(self, ds: QuestionDataset, where) -> None:
        """Refuse a split the method cannot train on, in one line naming `where`."""

    def prepare(self, batch: dict, device: torch.device, generator: torch.Generator | None = None) -> tuple:
        """A loader batch (uint8 drawings) -> the device tensors `compute` takes;
        augmented when `generator` is given (training)."""
        raise NotImplementedError

    def compute(self, *inputs: torch.Tensor) -> StepOutput:
        """Forward pass and loss on prepared device tensors (run under autocast)."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after each optimiser step (momentum updates and the like)."""

    def validate(self, ds: QuestionDataset, device: torch.device, batch: int) -> dict[str, float]:
        """Figures on the validation split, `metric` among them."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate_loop(self, ds: QuestionDataset, device: torch.device, batch: int) -> dict[str, float]:
        """`compute` over a split in order, in eval mode, without augmentation: the mean
        loss per question and the share of right predictions (val_loss, val_accuracy), and
        of each of the step's `tallies` (val_<name>)."""
        from .train import host_batches

        self.eval()
        total, right, count, n = 0.0, 0, 0, 0
        tallies: dict[str, int] = {}
        for b in host_batches(ds, batch, device, None):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = self.compute(*self.prepare(b, device))
            questions = len(b["index"])
            total += float(out.loss) * questions
            n += questions
            if out.right is not None:
                right, count = right + int(out.right), count + int(out.count)
            for name, value in out.tallies.items():
                tallies[name] = tallies.get(name, 0) + int(value)
        result = {"val_loss": total / n if n else float("nan")}
        if count:
            result["val_accuracy"] = right / count
            result.update({f"val_{name}": value / count for name, value in tallies.items()})
        return result

    def param_groups(self, weight_decay: float) -> list[dict]:
        """The optimiser's parameter groups (default: every trainable parameter, one
        weight decay)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "weight_decay": weight_decay}]


class Supervised(Method):
    """Training a question model on its task's answers: SPARE3D's supervised baselines, and
    fine-tuning a pretrained network on a task."""

    data = TASKS
    description = "train a question model (early or late fusion, or a pretrained network) on its task's answers"
    default_model = "vgg16-early"

    @classmethod
    def check_config(cls, model: str, arch: dict, options) -> dict:
        """Refuses a per-drawing encoder: it has no head that answers a question."""
        if model_class(model).encoder_only:
            raise ValueError(f"{model} is a per-drawing encoder and answers no question: train a task model that "
                             "is built on its backbone (e.g. --model resnet18-late) and start it with --init RUN")
        return arch

    def check_split(self, ds: QuestionDataset, where) -> None:
        check_answers(ds, self.spec.n_scores, where)

    def prepare(self, batch: dict, device: torch.device, generator: torch.Generator | None = None) -> tuple:
        return prepare(batch, self.inputs, device, generator)

    def compute(self, views, candidates, pose, answer) -> StepOutput:
        scores = self.net(views, candidates, pose)
        loss = self.model.loss(scores, answer)
        return StepOutput(loss, (scores.detach().argmax(1) == answer).sum(), len(answer))

    def validate(self, ds: QuestionDataset, device: torch.device, batch: int) -> dict[str, float]:
        from .train import predict

        result = predict(self.model, ds, self.inputs, device, batch)
        return {"val_loss": result.loss, "val_accuracy": result.accuracy}


def methods() -> dict[str, type[Method]]:
    """Registered methods by name (loaded from the entry points)."""
    found = {ep.name: load_plugin(ep, "method") for ep in plugin_entry_points(ENTRY_POINTS)}
    if not found:
        raise RuntimeError(f"no methods registered under {ENTRY_POINTS!r}: is spare3d-bench installed (pip install -e .)?")
    return found


def method_names() -> list[str]:
    """The registered method names, without importing them (for the CLI's start-up)."""
    return sorted(ep.name for ep in plugin_entry_points(ENTRY_POINTS))


def method_class(name: str) -> type[Method]:
    """The method registered as `name` (only it is loaded); ValueError lists the known ones."""
    found = {ep.name: ep for ep in plugin_entry_points(ENTRY_POINTS)}
    if name not in found:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(sorted(found))}; see spare3d pretrain --list-methods)")
    return load_plugin(found[name], "method")


def build_method(name: str, spec: TaskSpec, model_name: str, arch: dict, options, inputs: InputOptions,
                 weights=None) -> Method:
    """Method `name` around a freshly built `model_name` network."""
    cls = method_class(name)
    model = build_model(model_name, spec, weights, arch)
    return cls(spec, model, options, inputs)
