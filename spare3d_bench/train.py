"""The one training loop: every model and method in the project trains through `Trainer`.

What it optimises is a method (`methods.py`: supervised question training, or a
self-supervised pretext registered under `spare3d.methods`); the loop gives every method
the same plumbing. CPU or CUDA (picked automatically); on CUDA bf16 autocast,
channels_last and optional torch.compile. Data come from a split as uint8 and become
floats on the device. Each epoch ends with an atomic checkpoint (`last.pt`: the model's
weights, the method's other state, optimiser, schedule, RNG states, metric history), so
`resume` continues exactly where a killed run stopped: on the CPU a resumed run ends with
the same weights as an uninterrupted one. The best epoch on the method's validation
figure is kept as `best.pt`; metrics go to `metrics.jsonl` and, when the tensorboard
package is installed, to TensorBoard.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Sampler

from renderers.errors import plural
from renderers.writers import atomic_write, remove_stale_temporaries

from . import TRAINING_REVISION, distributed
from .backbones import read_tensor_file
from .data import DeviceBatches, HostBatches, QuestionDataset, dataset_info, open_split
from .inputs import InputOptions, prepare
from .methods import StepOutput, method_class
from .models import TaskModel, TaskSpec, build_model, model_class
from .options import NoOptions, options_dict, parse_options

#: What to say when data of one kind meets a method made for another.
_HINTS = {
    "pairs": " (pretrain on pairs: spare3d pretrain --method view-comparison)",
    "poses": " (pretrain on pose data: spare3d pretrain --method pose)",
}

OPTIMIZERS = ("adam", "adamw", "sgd", "lars")
LAST, BEST, CONFIG, METRICS = "last.pt", "best.pt", "config.json", "metrics.jsonl"
#: TrainConfig fields a resumed run may change: how long and where, not what is learnt.
RESUMABLE = ("epochs", "device", "workers", "compile", "data_on_device")
# SPARE3D's batch sizes: 8 for T2I, 70 for I2P and P2I; pairs and pose data (8 and 11
# drawings a question) as T2I.
DEFAULT_BATCH = {"t2i": 8, "i2p": 70, "p2i": 70, "pairs": 8, "poses": 8}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved as RUN/config.json)."""

    task: str
    model: str
    data: str
    epochs: int = 50
    batch_size: int | None = None  # None: SPARE3D's size for the task
    lr: float = 2e-5
    optimizer: str = "adam"
    weight_decay: float = 0.0
    warmup: float = 0.0  # epochs of linear warm-up before the cosine decay
    schedule: str = "cosine"  # or "constant"
    clip: float = 0.0  # gradient-norm clipping (0: off)
    channels: int = 3
    resolution: int | None = None  # None: the stored drawings' size
    shift: float = 0.0  # question-wise random translation, fraction of the side
    blank_views: str = ""  # views of f, r, t the model sees as blank paper (view-subset experiments)
    device: str = "auto"
    compile: bool = False
    seed: int = 0
    workers: int | None = None  # loader threads (None: 0 on CPU, up to 8 on CUDA)
    weights: str | None = None  # a local ImageNet state dict for the backbone
    data_on_device: str = "auto"  # keep the train split in GPU memory: auto (if it fits), yes, no
    method: str = "supervised"  # the training method (spare3d.methods entry point)
    arch: dict = field(default_factory=dict)  # the model's architecture switches
    options: dict = field(default_factory=dict)  # the method's settings
    init: str | None = None  # a run whose trained network starts the model
    sync_bn: bool = False  # under torchrun on CUDA: batch-norm statistics over every rank's share

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r} (use {', '.join(OPTIMIZERS)})")
        if self.data_on_device not in ("auto", "yes", "no"):
            raise ValueError(f"data_on_device must be auto, yes or no, got {self.data_on_device!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r} (use cosine or constant)")
        for key, value in (("epochs", self.epochs), ("batch_size", self.batch_size)):
            if value is not None and value < 1:
                raise ValueError(f"{key} must be at least 1, got {value}")
        if not 0 < self.lr < math.inf:
            raise ValueError(f"lr must be a positive finite number, got {self.lr}")
        for key in ("warmup", "clip", "weight_decay"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{key} must be a finite number >= 0, got {value}")
        if not 0 <= self.shift < 0.5:
            raise ValueError(f"shift must be in [0, 0.5), got {self.shift}")
        if self.resolution is not None and not 16 <= self.resolution <= 1024:
            raise ValueError(f"resolution must be 16-1024 pixels, got {self.resolution}")
        pick_device(self.device, check_available=False)
        self.inputs  # noqa: B018 - InputOptions checks the channels, shift and blank views

    @property
    def batch(self) -> int:
        return self.batch_size or DEFAULT_BATCH[self.task]

    @property
    def inputs(self) -> InputOptions:
        return InputOptions(self.channels, self.resolution, self.shift, self.blank_views)

    @staticmethod
    def from_dict(d: dict) -> "TrainConfig":
        return TrainConfig(**{f.name: d[f.name] for f in fields(TrainConfig) if f.name in d})


def pick_device(name: str, check_available: bool = True) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cpu', 'cuda' and 'cuda:N' (the devices
    the training loop drives) must exist. ValueError lists what is accepted."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda") and not re.fullmatch(r"cuda:\d+", str(name)):
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)")
    device = torch.device(name)
    if check_available and device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name}: CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


class EpochSampler(Sampler):
    """A permutation of the dataset that depends on (seed, epoch) only, so a resumed run
    sees the same order as an uninterrupted one."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def host_batches(ds: QuestionDataset, batch: int, device: torch.device, threads: int | None, sampler=None, drop_last: bool = False) -> HostBatches:
    """Host-side batches: gathered by threads (default: none on CPU, up to 8 for CUDA) into
    pinned memory on CUDA."""
    cuda = device.type == "cuda"
    if threads is None:
        threads = min(8, max(1, (os.cpu_count() or 2) - 2)) if cuda else 0
    return HostBatches(ds, batch, sampler, drop_last, threads, pin=cuda)


def _saved_value(path: Path, key: str):
    """`key` of the checkpoint at `path`, its tensors mapped rather than read; None when
    the file is missing or unreadable, or lacks the key."""
    try:
        return read_tensor_file(path, "checkpoint", mmap=True).get(key)
    except (ValueError, AttributeError):
        return None


def _atomic_save(obj, path: Path) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A checkpoint as a dict of tensors and plain values (never unpickles objects)."""
    ckpt = read_tensor_file(path, "checkpoint")
    missing = [k for k in ("config", "spec", "model") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(f"{path}: not a spare3d training checkpoint (no {', '.join(missing)})")
    return ckpt


def saved_epochs(run: str | os.PathLike) -> int | None:
    """The epoch count RUN was started with (its config.json), or None: what a --resume
    that names no --epochs continues to."""
    try:
        epochs = json.loads((Path(run) / CONFIG).read_text()).get("epochs")
    except (OSError, ValueError, AttributeError):
        return None
    return epochs if type(epochs) is int and epochs > 0 else None


def model_from_checkpoint(ckpt: dict, task: str | None = None) -> TaskModel:
    """Rebuild the model a checkpoint was saved from and load its weights; `task`: build
    it for another task its network answers (a pose classifier trained on pose data
    answers I2P and P2I alike)."""
    spec = TaskSpec(**ckpt["spec"])
    if task is not None:
        spec = replace(spec, task=task)
    model = build_model(ckpt["config"]["model"], spec, arch=ckpt["config"].get("arch") or {})
    model.load_state_dict(ckpt["model"])
    return model


def run_checkpoint(run: str | os.PathLike) -> dict:
    """A run's best checkpoint (or its last, if no epoch was validated yet). A best.pt that
    is not the epoch last.pt names the best (a kill between an epoch's last two writes) is
    refused: `--resume` restores it."""
    run = Path(run)
    path = run / BEST if (run / BEST).exists() else run / LAST
    if not path.exists():
        raise ValueError(f"{run}: no checkpoint ({BEST} or {LAST}): not a training run")
    ckpt = load_checkpoint(path)
    if path.name == BEST and (run / LAST).exists():
        best = _saved_value(run / LAST, "best_epoch")  # an unreadable last.pt says nothing of best.pt
        if best is not None and best != ckpt.get("epoch"):
            raise ValueError(f"{run / BEST}: holds epoch {ckpt.get('epoch')}, not the run's best, epoch {best} (a kill "
                             "interrupted the epoch's writes): run its training command again with --resume to restore it")
    return ckpt


def encoder_of_run(run: str | os.PathLike) -> dict | None:
    """The per-drawing encoder a self-supervised run trained (its model's `encoder_state`),
    which a task model takes as its backbone's pretrained weights; None for a run whose
    network is a task model (started from tensor for tensor by `init_from_run`)."""
    ckpt = run_checkpoint(run)
    name = ckpt["config"].get("model", "?")
    try:
        cls = model_class(name)
    except ValueError:
        return None
    if not cls.encoder_only:
        return None
    return cls.encoder_state(ckpt["model"])


def init_from_run(model: TaskModel, model_name: str, run: str | os.PathLike) -> None:
    """Start `model` from the network trained in `run` (its best checkpoint): the same
    architecture, tensor for tensor; ValueError, in one line, when they do not fit."""
    ckpt = run_checkpoint(run)
    source = ckpt["config"].get("model", "?")
    own, theirs = model.state_dict(), ckpt["model"]
    missing = [k for k in own if k not in theirs]
    unexpected = [k for k in theirs if k not in own]
    shapes = [k for k in own if k in theirs and tuple(own[k].shape) != tuple(theirs[k].shape)]
    if missing or unexpected or shapes:
        why = (f"{len(missing)} tensors missing (e.g. {missing[0]})" if missing
               else f"{len(unexpected)} tensors it does not have (e.g. {unexpected[0]})" if unexpected
               else f"{shapes[0]} is {tuple(theirs[shapes[0]].shape)} there, {tuple(own[shapes[0]].shape)} here")
        raise ValueError(f"{run}: its {source} network does not fit {model_name}: {why}; --init needs the same "
                         "architecture (model, --arch, --channels and, without adaptive pooling, --resolution)")
    model.load_state_dict(theirs)


class Trainer:
    """Holds a run's method (its model and state), optimiser, schedule and data; `fit`
    trains it to the end."""

    def __init__(self, config: TrainConfig, out: str | os.PathLike, resume: bool = False, progress: bool = True) -> None:
        # The data path is kept absolute, so that --resume from another folder compares
        # the same data, and evaluation finds it.
        config = replace(config, data=os.path.abspath(config.data), init=config.init and os.path.abspath(config.init))
        cls = method_class(config.method)
        data = Path(config.data)
        if config.task not in cls.data:
            raise ValueError(f"{data}: {config.task} data; the {config.method} method trains on "
                             f"{' or '.join(cls.data)} data{_HINTS.get(config.task, '')}")
        # The method's settings and the model's switches as they will be used, defaults
        # included, so config.json says everything that decides the run.
        options = parse_options(cls.Options, config.options, f"{config.method} option")
        arch = cls.check_config(config.model, dict(config.arch), options)
        switches = model_class(config.model).Options
        arch = options_dict(parse_options(switches, arch, f"--arch of {config.model}")) if arch or switches is not NoOptions else {}
        config = replace(config, options=options_dict(options), arch=arch)
        self.config, self.out, self.progress = config, Path(out), progress
        self.device = distributed.setup(pick_device(config.device))
        self.rank, self.ranks = distributed.rank(), distributed.world_size()
        if config.batch % self.ranks:
            raise ValueError(f"a batch of {config.batch} does not split over {self.ranks} processes: use a multiple of {self.ranks}")
        self.cuda = self.device.type == "cuda"
        info = dataset_info(data)
        self.train_set = open_split(data / "train", config.task)
        val = data / "val"
        self.val_set = open_split(val, config.task) if val.exists() else None
        size = config.resolution or int(self.train_set.images.shape[1])
        self.spec = TaskSpec(cls.model_task(config.task), config.channels, info.get("poses", 8), size)
        if len(self.train_set) < 2:  # batch norm cannot train on a batch of one
            raise ValueError(f"{data / 'train'}: {plural(len(self.train_set), 'question')}; training needs at least 2")
        if self.val_set is not None and len(self.val_set) == 0:
            self.val_set = None
        torch.manual_seed(config.seed)
        starting = config.init is not None and not (Path(out) / LAST).exists()  # a resume takes the weights from last.pt
        encoder = encoder_of_run(config.init) if starting else None
        model = build_model(config.model, self.spec, encoder if encoder is not None else config.weights, config.arch)
        if starting and encoder is None:
            init_from_run(model, config.model, config.init)
        self.method = cls(self.spec, model, options, config.inputs).to(self.device)
        self.train_set = self.method.dataset(self.train_set, "train")
        if self.val_set is not None:
            self.val_set = self.method.dataset(self.val_set, "val")
        for split, where in ((self.train_set, data / "train"), (self.val_set, val)):
            if split is not None:
                self.method.check_split(split, where)
        if len(self.train_set) < 2 * self.ranks:  # each rank's share of a batch needs two items for batch norm
            raise ValueError(f"{data / 'train'}: {plural(len(self.train_set), 'item')} to train on for {self.ranks} "
                             f"processes; needs at least {2 * self.ranks}")
        self._check_input_size()
        if self.cuda:
            self.method = self.method.to(memory_format=torch.channels_last)
        if config.sync_bn and self.ranks > 1 and self.cuda:
            self.method = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
        if config.compile:
            self.method.compile()
        self.optimizer = self._optimizer()
        # Training drops the last partial batch (a batch of one breaks batch norm), unless
        # the split is smaller than one batch.
        drop_last = len(self.train_set) >= config.batch
        self.sampler = EpochSampler(len(self.train_set), config.seed)
        if self._data_on_device():
            self.loader = DeviceBatches(self.train_set, self.device, config.batch, self.sampler, drop_last)
        else:
            self.loader = host_batches(self.train_set, config.batch, self.device, config.workers, self.sampler, drop_last)
        self.loader.shard = (self.rank, self.ranks)
        self.steps_per_epoch = len(self.loader)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.augment = torch.Generator()
        self.epoch, self.best, self.best_epoch, self.history = 0, float("-inf"), 0, []
        if self.rank == 0:
            remove_stale_temporaries(self.out, (LAST, BEST, CONFIG, METRICS))  # a checkpoint's size each
        if (self.out / LAST).exists():
            if not resume:
                raise ValueError(f"{self.out}: holds a run already; pass --resume to continue it, or another --out")
            self._restore(load_checkpoint(self.out / LAST))
        elif resume:
            raise ValueError(f"{self.out}: no run to resume (no {LAST}); leave out --resume to start one")
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write(self.out / CONFIG, (json.dumps(asdict(self.config), indent=1) + "\n").encode())

    def _check_input_size(self) -> None:
        """A training-mode forward pass on a batch of min(batch size, 2) questions, so that
        drawings too small for the backbone (BagNet needs 34 px), or a batch of one that
        leaves batch norm one value per channel, fail here in words, not at the first
        step. Batch-norm statistics and the random state are put back afterwards."""
        n = min(self.config.batch, 2)
        inputs = self.method.prepare(self.train_set.gather(np.arange(n)), self.device)
        buffers = [(b, b.clone()) for b in self.method.buffers()]
        rng = torch.get_rng_state(), (torch.cuda.get_rng_state(self.device) if self.cuda else None)
        size = inputs[0].shape[-1]
        self.method.train()
        try:
            with torch.no_grad():
                self.method.compute(*inputs)
        except ValueError as e:
            if "more than 1 value per channel" not in str(e):  # the model's own refusal says what is wrong
                raise ValueError(f"{self.config.model}: {str(e).strip().splitlines()[0]}") from None
            raise ValueError(f"{self.config.model}: a batch of {plural(n, 'question')} at {size} px leaves batch norm one "
                             f"value per channel ({e}); use a larger --batch-size or --resolution") from None
        except RuntimeError as e:
            reason = str(e).strip().splitlines()[0][:160]
            if "size" not in reason or isinstance(e, torch.cuda.OutOfMemoryError):  # memory, cuDNN: not the drawings' size
                raise ValueError(f"{self.config.model}: a first step on {plural(n, 'question')} at {size} px failed "
                                 f"({reason})") from None
            raise ValueError(f"{self.config.model} cannot take {size} px drawings ({reason}); use a larger --resolution") from None
        finally:
            for b, saved in buffers:
                b.copy_(saved)
            torch.set_rng_state(rng[0])
            if rng[1] is not None:
                torch.cuda.set_rng_state(rng[1], self.device)

    def _data_on_device(self) -> bool:
        """Whether the train split goes to GPU memory: asked for, or (auto) when its
        drawings take under a quarter of the GPU's free memory."""
        choice = self.config.data_on_device
        if not self.cuda or choice == "no":
            if choice == "yes":
                raise ValueError("data_on_device=yes needs a CUDA device")
            return False
        return choice == "yes" or self.train_set.images.nbytes < 0.25 * torch.cuda.mem_get_info(self.device)[0]

    @property
    def model(self) -> TaskModel:
        """The network being trained (the method's model)."""
        return self.method.model

    def _optimizer(self) -> torch.optim.Optimizer:
        c, groups = self.config, self.method.param_groups(self.config.weight_decay)
        for g in groups:  # a group's "adapt" (default: whether it decays) is LARS's trust-ratio switch
            adapt = g.pop("adapt", g["weight_decay"] > 0)
            if c.optimizer == "lars":
                g["always_adapt"] = adapt
        # fused: one kernel over all parameters; on the 2-core CPU a ResNet-18 step took 6 ms
        # (SGD) and 0.10 s (AdamW) against 0.10 s and 0.36-0.53 s for torch's CPU default.
        if c.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=c.lr, momentum=0.9, fused=True)  # as MoCo v2 and torchvision train
        if c.optimizer == "lars":  # timm's tested LARS; groups without weight decay are not adapted either
            from timm.optim import Lars

            return Lars(groups, lr=c.lr, momentum=0.9, trust_coeff=0.001)
        cls = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
        return cls(groups, lr=c.lr, fused=True)

    def _lr_factor(self, step: int) -> float:
        """Linear warm-up over `warmup` epochs, then cosine decay to 0 (or constant)."""
        total = self.config.epochs * self.steps_per_epoch
        warm = round(self.config.warmup * self.steps_per_epoch)
        if step < warm:
            return (step + 1) / warm
        if self.config.schedule == "constant":
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    def _restore(self, ckpt: dict) -> None:
        """Continue from a checkpoint. Only settings that do not change what is learnt may
        differ (RESUMABLE: more epochs, another device); --weights may be left out, since
        the checkpoint holds the weights. Anything else is refused, not silently ignored,
        and so is a checkpoint of another training revision (the same flags would not
        continue the same computation)."""
        written = ckpt.get("training_revision", 1)  # checkpoints before the revision was recorded: 1
        if written != TRAINING_REVISION:
            raise ValueError(f"{self.out / LAST}: written by training revision {written}, and this version trains by "
                             f"revision {TRAINING_REVISION} (what the same command computes changed); start the run afresh")
        saved = TrainConfig.from_dict(ckpt["config"])
        if self.config.weights is None:
            self.config = replace(self.config, weights=saved.weights)
        for f in fields(TrainConfig):
            key = f.name
            old, new = getattr(saved, key), getattr(self.config, key)
            if key == "batch_size":
                old, new = saved.batch, self.config.batch
            elif key == "data":
                old, new = os.path.realpath(old), os.path.realpath(new)
            if key not in RESUMABLE and old != new:
                raise ValueError(f"{self.out / LAST}: saved with {key}={old!r}, now {new!r} (only "
                                 f"{', '.join(RESUMABLE)} may change on --resume)")
        ranks = ckpt.get("world_size", 1)
        if ranks != self.ranks:  # each rank augments with its own seed and keeps its own batch-norm statistics
            raise ValueError(f"{self.out / LAST}: saved by a run of {plural(ranks, 'process', 'processes')}, resumed "
                             f"by {self.ranks}; resume it with {ranks}")
        state = {**{f"model.{k}": v for k, v in ckpt["model"].items()}, **ckpt.get("method", {})}
        try:
            found = self.method.load_state_dict(state, strict=False)
        except RuntimeError as e:  # a size mismatch: torch lists every tensor on lines of its own
            detail = " ".join(str(e).split("\n\t")[1:2]).strip().rstrip(".") or str(e).splitlines()[0]
            raise ValueError(f"{self.out / LAST}: does not fit the {self.config.method} network these flags "
                             f"build ({detail[:200]}); start the run afresh") from None
        if found.missing_keys or found.unexpected_keys:
            names = [*(f"no {k}" for k in found.missing_keys[:3]), *(f"an unknown {k}" for k in found.unexpected_keys[:3])]
            raise ValueError(f"{self.out / LAST}: written by another version of the {self.config.method} method "
                             f"({', '.join(names)}); start the run afresh")
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.epoch, self.best, self.history = ckpt["epoch"], ckpt["best"], ckpt["history"]
        self.best_epoch = ckpt.get("best_epoch", 0)
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.augment.set_state(ckpt["rng"]["augment"])
        if self.cuda and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], self.device)  # this run's GPU, not the current one
        if self.rank == 0:  # what a kill between the epoch's writes left undone
            behind = self.best_epoch == self.epoch and _saved_value(self.out / BEST, "epoch") != self.epoch
            self._write_epoch(ckpt, improved=behind, last=False)

    def _checkpoint(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "augment": self.augment.get_state()}
        if self.cuda:
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "config": asdict(self.config),
            "spec": self.spec.to_dict(),
            "input_size": self.config.resolution or int(self.train_set.images.shape[1]),
            "model": self.model.state_dict(),
            "method": {k: v for k, v in self.method.state_dict().items() if not k.startswith("model.")},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "rng": rng,
            "world_size": self.ranks,
            "training_revision": TRAINING_REVISION,
        }

    def _write_epoch(self, ckpt: dict, improved: bool, last: bool = True) -> None:
        """An epoch's files, in an order a kill at any point leaves repairable: metrics.jsonl
        (every epoch so far), then last.pt, then best.pt where the epoch improved. A resume
        calls it with `last` off, and `improved` where best.pt is behind last.pt's best
        epoch (a kill after last.pt), which last.pt then holds."""
        atomic_write(self.out / METRICS, "".join(json.dumps(r) + "\n" for r in self.history).encode())
        if last:
            _atomic_save(ckpt, self.out / LAST)
        if improved:
            keep = ("config", "spec", "input_size", "model", "method", "epoch")  # method: heads a teacher needs
            _atomic_save({k: v for k, v in ckpt.items() if k in keep}, self.out / BEST)

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda)

    def step(self, batch: dict) -> StepOutput:
        """One optimisation step on a loader batch (augmented by the method)."""
        return self.step_on(*self.method.prepare(batch, self.device, self.augment))

    def step_on(self, *inputs: torch.Tensor) -> StepOutput:
        """The optimisation step on inputs already prepared on the device: the method's
        loss, backward, clipping, the optimiser and schedule, the method's after-step."""
        self.method.train()
        with self.autocast():
            out = self.method.compute(*inputs)
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        distributed.average_gradients(self.method.parameters())
        if self.config.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.method.parameters(), self.config.clip)
        self.optimizer.step()
        self.scheduler.step()
        self.method.after_step()
        return StepOutput(out.loss.detach(), out.right, out.count, parts=out.parts)

    def fit(self) -> list[dict]:
        """Train the remaining epochs; returns the metric history."""
        from tqdm import tqdm

        # Scalars are logged at step = epoch number (from 1): drop what a killed run logged
        # after its last checkpoint, and keep the epochs the checkpoint holds.
        chief = self.rank == 0  # the one rank that writes and prints
        writer = _tensorboard(self.out, purge_step=self.epoch + 1) if chief else None
        for epoch in range(self.epoch, self.config.epochs):
            self.sampler.epoch = epoch
            self.augment.manual_seed(self.config.seed * 1_000_003 + epoch + self.rank * 1_000_000_007)  # per rank
            t0 = time.perf_counter()
            lr = self.scheduler.get_last_lr()[0]  # the rate of the epoch's first step, not the next epoch's
            total_loss = torch.zeros((), device=self.device)
            right = torch.zeros((), dtype=torch.long, device=self.device)
            parts: dict[str, torch.Tensor] = {}
            n = predictions = 0
            bar = tqdm(self.loader, desc=f"epoch {epoch + 1}/{self.config.epochs}", unit="batch", leave=False,
                       disable=not (self.progress and chief) or None)
            for i, batch in enumerate(bar):
                out = self.step(batch)
                questions = len(batch["index"])
                total_loss += out.loss * questions
                for name, value in out.parts.items():
                    parts[name] = parts.get(name, 0) + value.float() * questions
                if out.right is not None:
                    right += out.right
                    predictions += out.count
                n += questions
                if i % 50 == 0:
                    bar.set_postfix(loss=f"{out.loss.item():.4f}")
            names = sorted(parts)
            loss_sum, right_sum, predictions, n, *part_sums = distributed.sum_over_ranks(
                [total_loss.item(), right.item(), int(predictions), n, *(float(parts[k]) for k in names)])
            row = {"epoch": epoch + 1, "train_loss": loss_sum / n}
            row.update({f"train_{k}": v / n for k, v in zip(names, part_sums)})
            if predictions:
                row["train_accuracy"] = right_sum / predictions
            row.update(lr=lr, seconds=time.perf_counter() - t0)
            row["questions_per_s"] = n / row["seconds"]
            if self.val_set is not None:
                row.update(self.method.validate(self.val_set, self.device, self.config.batch))
            metric = self.method.metric
            score = row[metric] if metric in row else row.get("train_accuracy", -row["train_loss"])
            self.epoch = epoch + 1
            self.history.append(row)
            improved = score > self.best
            if improved:
                self.best, self.best_epoch = score, self.epoch
            if writer is not None:  # before last.pt: a resume purges what a killed epoch logged
                for key, value in row.items():
                    if key != "epoch":
                        writer.add_scalar(key, value, self.epoch)
                writer.flush()
            if chief:
                self._write_epoch(self._checkpoint(), improved)
            distributed.barrier()
            if self.progress and chief:
                shown = ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch")
                print(f"epoch {self.epoch}/{self.config.epochs}: {shown}", flush=True)
        if writer is not None:
            writer.close()
        return self.history


def _tensorboard(out: Path, purge_step: int):
    """A TensorBoard writer when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"), purge_step=purge_step)


@dataclass
class Predictions:
    """A model's answers on a split: per-question scores and prediction, loss, accuracy."""

    ids: list[str]
    answers: np.ndarray
    predictions: np.ndarray
    scores: np.ndarray
    loss: float

    @property
    def accuracy(self) -> float:
        return float((self.answers == self.predictions).mean()) if len(self.answers) else float("nan")


@torch.no_grad()
def predict(model: TaskModel, ds: QuestionDataset, inputs: InputOptions, device: torch.device, batch: int = 64) -> Predictions:
    """Score every question of `ds` (no augmentation), in dataset order."""
    model.eval()
    loader = host_batches(ds, batch, device, None)
    scores, losses = [], []
    for b in loader:
        views, candidates, pose, answer = prepare(b, inputs, device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            s = model(views, candidates, pose)
        losses.append(model.loss(s, answer) * len(answer))
        scores.append(s.float().cpu())
    s = torch.cat(scores).numpy() if scores else np.zeros((0, model.spec.n_scores), np.float32)
    answers = np.asarray([int(a) for a in ds.answers])
    loss = float(torch.stack(losses).sum().item() / len(ds)) if losses else float("nan")
    return Predictions(list(ds.ids), answers, s.argmax(1), s, loss)
