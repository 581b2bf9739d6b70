"""`spare3d train` and `spare3d evaluate`: torch loads inside the commands, and neither
needs OpenCascade, trimesh or pyrender (GPU boxes often have torch and little else)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from .cli import (
    EXIT_OK,
    _device_name,
    _file_name,
    _int_at_least,
    _non_negative_float,
    _number,
    _positive_float,
    _positive_int,
    _usage,
    plural,
)

if TYPE_CHECKING:  # the CLI starts without torch
    from .methods import Method

TASKS = ("t2i", "i2p", "p2i")


class _Renamed(argparse.Action):
    """An option that was renamed: using it is a one-line error naming the new one."""

    def __init__(self, option_strings, dest, new: str = "", why: str = "", **kw) -> None:
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kw)
        self.new, self.why = new, why

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} is now {self.new} ({self.why})")


def _add_training_options(p, lr_help: str, lr_default: float | None, pretrain: bool = False) -> None:
    """The options every training run takes, in `train` and `pretrain` alike (`pretrain`:
    the defaults the method's recipe fills are said so in the help)."""

    def method(usual: str, recipe: str) -> str:
        return f"default: the method's, {recipe}" if pretrain else usual

    p.add_argument("--data", metavar="DIR", help="dataset folder holding train/ (and val/) splits (required)")
    p.add_argument("--out", metavar="RUN", help="run folder (required)")
    p.add_argument("--arch", action="append", metavar="NAME=VALUE",
                   help="an architecture switch of the model, repeatable, e.g. --arch share=1 --arch width=0.75 "
                   "(default: the model's own; see docs/cli.md for each model's switches)")
    p.add_argument("--epochs", type=_positive_int, metavar="N", help="epochs (default 50, as SPARE3D; with --resume, the run's own)")
    p.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="questions per batch (" + method("default SPARE3D's: 8 for t2i, 70 for i2p/p2i",
                                                         "256 drawings for simclr, moco, clsa and disco, else SPARE3D's: "
                                                         "8 for t2i, pairs and poses, 70 for i2p/p2i") + ")")
    p.add_argument("--lr", type=_positive_float, default=lr_default, metavar="X", help=lr_help)
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd", "lars"),
                   help="sgd: momentum 0.9; lars: timm's LARS (batch-norm weights and biases neither decay nor adapt) "
                   "(" + method("default adam", "see --list-methods") + ")")
    p.add_argument("--weight-decay", type=_non_negative_float, metavar="X",
                   help=method("default 0", "1e-6 for simclr, 1e-4 for moco, clsa and disco, else 0"))
    p.add_argument("--warmup", type=_non_negative_float, metavar="X",
                   help="epochs of linear warm-up (" + method("default 0", "10 for simclr, else 0") + ")")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine", help="after warm-up (default cosine)")
    p.add_argument("--clip", type=_non_negative_float, default=0.0, metavar="X",
                   help="clip the gradient norm to this (default 0: off)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=3, help="3: RGB (hidden lines red), 1: grayscale (default 3)")
    p.add_argument("--resolution", type=_int_at_least(16, 1024, " pixels"), metavar="N",
                   help="resize drawings to this side on the device, 16-1024 (default: as stored)")
    p.add_argument("--shift", type=_number(0, 0.5, high_open=True), default=0.0, metavar="X",
                   help="augmentation: random shift of each question, a fraction of the side in [0, 0.5) (default 0)")
    p.add_argument("--blank-views", default="", metavar="LIST",
                   help="views the model sees as blank paper, one or two of f, r, t (e.g. f or f,r), in training and "
                        "evaluation: view-subset experiments (default none)")
    p.add_argument("--device", type=_device_name, default="auto", metavar="DEV",
                   help="auto (CUDA if present), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--loader-threads", type=_int_at_least(0), metavar="N",
                   help="threads gathering batches on the host, 0 or more (default 0 on CPU, up to 8 on CUDA)")
    p.add_argument("--workers", action=_Renamed, new="--loader-threads",
                   why="loader threads; --workers counts processes in render and generate")
    p.add_argument(
        "--data-on-device",
        choices=("auto", "yes", "no"),
        default="auto",
        help="hold the train split in GPU memory as uint8 and gather batches there (auto: when it takes "
        "under a quarter of the free GPU memory) (default auto)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="N", help="default 0")
    p.add_argument("--sync-bn", action="store_true",
                   help="under torchrun on CUDA: batch-norm statistics over all processes' shares of the batch")
    p.add_argument("--weights", metavar="FILE", help="local ImageNet state dict for the backbone (default none; nothing is downloaded)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a SPARE3D baseline, or fine-tune a pretrained network, on a task's questions",
        description=(
            "Train MODEL on DATA/train (packed or SPARE3D layout), validating on DATA/val, writing "
            "RUN/last.pt (every epoch, atomically), RUN/best.pt (best validation accuracy), "
            "RUN/metrics.jsonl, RUN/config.json and TensorBoard logs. CUDA is used when present (bf16 "
            "autocast, channels_last). Kill it at any time and continue with --resume. With --init, the "
            "model starts from the network of a pretrained run (fine-tuning)."
        ),
    )
    p.add_argument("--list-models", action="store_true", help="print the model names (for --task, if given) and exit")
    p.add_argument("--task", choices=TASKS, help="task of the dataset (default: the one its dataset.json names)")
    p.add_argument("--model", metavar="NAME",
                   help="<backbone>-<fusion>, e.g. vgg16-early, resnet18-late (required, unless --init gives it; "
                   "see --list-models)")
    p.add_argument("--init", metavar="RUN",
                   help="start from the network trained in RUN (its best.pt): same model, --arch and --channels, "
                   "which default to RUN's (default none: random weights)")
    _add_training_options(p, "peak learning rate (default 2e-5, as SPARE3D)", 2e-5)
    p.set_defaults(handler=cmd_train)


def _arch(args: argparse.Namespace) -> dict:
    from .options import split_pairs

    return split_pairs(args.arch, "--arch")


def _config_from_args(args: argparse.Namespace, task: str, model: str, arch: dict, method: str = "supervised",
                      options: dict | None = None, defaults: type[Method] | None = None):
    """The run's TrainConfig; `defaults`: the method class whose defaults fill what the
    command line leaves out (pretrain), else `spare3d train`'s."""
    from .train import DEFAULT_BATCH, TrainConfig, saved_epochs

    epochs = args.epochs or (args.resume and saved_epochs(args.out)) or 50
    batch_size, optimizer, lr = args.batch_size, args.optimizer, args.lr
    weight_decay, warmup = args.weight_decay, args.warmup
    if defaults is not None:
        batch_size = batch_size or defaults.default_batch
        optimizer = optimizer or defaults.default_optimizer
        lr = lr or defaults.lr_for(batch_size or DEFAULT_BATCH[task])
        weight_decay = defaults.default_weight_decay if weight_decay is None else weight_decay
        warmup = defaults.default_warmup if warmup is None else warmup
    return TrainConfig(
        task=task, model=model, data=args.data, epochs=epochs, batch_size=batch_size, lr=lr,
        optimizer=optimizer or "adam", weight_decay=weight_decay or 0.0, warmup=warmup or 0.0, schedule=args.schedule,
        clip=args.clip, channels=args.channels, resolution=args.resolution, shift=args.shift,
        blank_views=args.blank_views.replace(",", ""), device=args.device,
        compile=args.compile, seed=args.seed, workers=args.loader_threads, weights=args.weights,
        data_on_device=args.data_on_device, method=method, arch=arch, options=options or {},
        init=getattr(args, "init", None), sync_bn=args.sync_bn,
    )  # fmt: skip


def _fit(args: argparse.Namespace, command: str, config) -> int:
    """Build the trainer, train to the end, print the summary line."""
    from .train import Trainer

    try:
        trainer = Trainer(config, args.out, resume=args.resume, progress=not args.quiet)
    except (ValueError, RuntimeError) as e:
        return _usage(command, str(e))
    if config.warmup >= config.epochs and not trainer.rank:
        print(f"spare3d {command}: note: a warm-up of {config.warmup:g} epochs in a run of {config.epochs}: the learning "
              "rate never reaches its peak nor decays (--warmup sets it)", file=sys.stderr)
    history = trainer.fit()
    if trainer.rank:  # under torchrun, rank 0 speaks for all
        return EXIT_OK
    last = history[-1] if history else {}
    metric = trainer.method.metric
    summary = ", ".join(f"{k} {last[k]:.4f}" for k in dict.fromkeys(("train_loss", "val_accuracy", metric)) if k in last)
    print(f"{args.out}: {plural(trainer.epoch, 'epoch')} on {trainer.device.type}" + (f" ({summary})" if summary else ""))
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from .models import model_names

    if args.list_models:
        try:
            print("\n".join(model_names(args.task)))
        except RuntimeError as e:
            return _usage("train", str(e))
        return EXIT_OK
    missing = [f"--{k}" for k in ("data", "out") if getattr(args, k) is None]
    if args.model is None and args.init is None:
        missing.insert(0, "--model")
    if missing:
        return _usage("train", f"missing {', '.join(missing)}")
    if args.init is not None and args.weights is not None:
        return _usage("train", "--init RUN and --weights FILE both give the starting weights: use one")
    from .data import infer_task
    from .train import run_checkpoint

    try:
        arch = _arch(args)
        model = args.model
        if args.init is not None:  # the pretrained run's model and switches, unless given
            source = run_checkpoint(args.init)["config"]
            if model is None:
                model, arch = source["model"], {**source.get("arch", {}), **arch}
        task = args.task or infer_task(args.data)
        config = _config_from_args(args, task, model, arch)
    except (ValueError, RuntimeError) as e:
        return _usage("train", str(e))
    return _fit(args, "train", config)


def add_pretrain(sub) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain a network with a self-supervised method (view comparison on pairs, the pose pretext, ...)",
        description=(
            "Train a network with METHOD on DATA (pairs, pose data or a task's questions, as the method needs), "
            "through the same training loop as spare3d train: checkpoints, exact --resume, metrics.jsonl, "
            "TensorBoard, best.pt on the method's validation figure. The run then answers tasks directly "
            "(spare3d evaluate RUN --data TASK_DATA) or starts a fine-tuning (spare3d train --init RUN). "
            "A method's own options appear in --help once --method is given."
        ),
    )
    p.add_argument("--list-methods", action="store_true", help="print the methods and what each trains on, and exit")
    p.add_argument("--method", metavar="NAME", help="the training method (required; see --list-methods)")
    p.add_argument("--model", metavar="NAME", help="<backbone>-<fusion> network to train (default: the method's, "
                   "e.g. vgg16-compare for view-comparison)")
    _add_training_options(p, "peak learning rate (default: the method's, 5e-5 for view-comparison and pose, "
                          "0.3 x batch / 256 for simclr, 0.03 x batch / 256 for moco, clsa and disco)", None,
                          pretrain=True)
    p.set_defaults(handler=cmd_pretrain)


def add_method_options(parser: argparse.ArgumentParser, method: str) -> None:
    """Add METHOD's own options to the pretrain parser as flags (--loss, --temperature ...):
    what `spare3d pretrain --method METHOD --help` lists. Unknown methods add nothing (the
    command then says so)."""
    from .methods import method_class
    from .options import describe

    try:
        cls = method_class(method)
    except (ValueError, RuntimeError):
        return
    group = parser.add_argument_group(f"options of the {method} method")
    for name, default, text in describe(cls.Options):
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"method_{name}", metavar="VALUE",
                           help=f"{text} (default {default})")


def cmd_pretrain(args: argparse.Namespace) -> int:
    from .methods import method_class, methods

    if args.list_methods:
        try:
            for name, cls in sorted(methods().items()):
                data = " or ".join(cls.data)
                batch = (f"batch {cls.default_batch} (lr scaled with the batch)" if cls.default_batch
                         else "the data's batch")
                print(f"{name}: {cls.description} (trains on {data} data; default model "
                      f"{cls.default_model or 'none'}, {cls.default_optimizer} at lr {cls.default_lr:g}, {batch}, "
                      f"weight decay {cls.default_weight_decay:g}, warm-up {cls.default_warmup:g} epochs)")
        except RuntimeError as e:
            return _usage("pretrain", str(e))
        return EXIT_OK
    missing = [f"--{k}" for k in ("method", "data", "out") if getattr(args, k) is None]
    if missing:
        return _usage("pretrain", f"missing {', '.join(missing)}")
    from .data import infer_task

    try:
        cls = method_class(args.method)
        options = {k.removeprefix("method_"): v for k, v in vars(args).items() if k.startswith("method_") and v is not None}
        task = infer_task(args.data, allowed=cls.data)
        config = _config_from_args(args, task, args.model or cls.default_model, _arch(args), args.method, options,
                                   defaults=cls)
    except (ValueError, RuntimeError) as e:
        return _usage("pretrain", str(e))
    return _fit(args, "pretrain", config)


def _add_run_and_data(p) -> None:
    """RUN, --data, --split and --device: what evaluate and attention both read."""
    p.add_argument("run", metavar="RUN", help="run folder made by spare3d train or pretrain")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset (or split) folder (required)")
    p.add_argument("--split", type=_file_name, default="test", metavar="NAME", help="split folder name (default test)")
    p.add_argument("--device", type=_device_name, default="auto", metavar="DEV",
                   help="auto (CUDA if present), cpu, cuda or cuda:N (default auto)")


def add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="accuracy of a trained run on a split, with a 95%% confidence interval",
        description=(
            "Evaluate RUN's best checkpoint on DATA/<split> (packed, our SPARE3D layout, or the original "
            "SPARE3D release; DATA may also be a split folder itself). Prints accuracy, its 95% Wilson "
            "interval and the chance level; writes RUN/eval/<name>.json and per-question predictions "
            "RUN/eval/<name>.predictions.jsonl."
        ),
    )
    _add_run_and_data(p)
    p.add_argument("--name", type=_file_name, metavar="NAME",
                   help="name of the result files in RUN/eval, a plain file name (default <data folder>-<split>)")
    p.set_defaults(handler=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_run

    try:
        e = evaluate_run(args.run, args.data, args.split, args.device, args.name)
    except (ValueError, RuntimeError) as err:
        return _usage("evaluate", str(err))
    lo, hi = e.ci95
    print(
        f"{e.task} {e.model} on {e.data}: accuracy {100 * e.accuracy:.1f}% "
        f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}, {e.correct}/{e.questions}), chance {100 * e.chance:.0f}%",
    )
    return EXIT_OK


def add_probe(sub) -> None:
    p = sub.add_parser(
        "probe",
        help="what a pretrained drawing encoder's frozen features know: kNN and linear probes",
        description=(
            "Encode every drawing of DATA/train and DATA/<split> with RUN's pretrained encoder (a SimCLR, MoCo, "
            "CLSA or DisCo run; or, with --random MODEL, that encoder at random initialisation, the baseline) "
            "and score what its frozen features tell: on pose data, the pose of each isometric and its "
            "elevation (seen from above, from below or, for poses 17-20, level) by kNN and by a linear "
            "classifier; on I2P, T2I or P2I questions, the answers by a linear classifier (fitted on "
            "the train split with scikit-learn). Prints each accuracy with its 95%% Wilson interval and "
            "chance; writes RUN/probe/<name>.json."
        ),
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="run folder made by spare3d pretrain (or --random)")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder with a train split (required)")
    p.add_argument("--split", type=_file_name, default="test", metavar="NAME",
                   help="split to score, a plain name (default test; val when there is no test split)")
    p.add_argument("--random", metavar="NAME", help="probe the encoder NAME (e.g. resnet18-embed) at random initialisation instead of a run (default: none, RUN is probed)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of --random and of the linear fits (default 0)")
    p.add_argument("--bn", choices=("data", "saved"), default="data",
                   help="batch-norm statistics: data (those of up to 4,096 drawings of the train split, for every "
                        "encoder) or saved (as the run or the initialisation has them) (default data)")
    p.add_argument("--name", type=_file_name, metavar="NAME", help="name of the result file in RUN/probe (default <data folder>-<split>)")
    p.add_argument("--device", type=_device_name, default="auto", metavar="DEV",
                   help="auto (CUDA if present), cpu, cuda or cuda:N (default auto)")
    p.set_defaults(handler=cmd_probe)


def cmd_probe(args: argparse.Namespace) -> int:
    if (args.run is None) == (args.random is None):
        return _usage("probe", "give a RUN or --random MODEL (one of them)")
    from pathlib import Path

    from .probe import probe

    split = args.split
    if split == "test" and not (Path(args.data) / "test").is_dir() and (Path(args.data) / "val").is_dir():
        split = "val"
        print(f"spare3d probe: note: {args.data} has no test split; scoring val, which chose best.pt of any run "
              "pretrained on these data", file=sys.stderr)
    try:
        results = probe(args.run, args.data, split, args.device, args.random, args.seed, args.name, args.bn)
    except (ValueError, RuntimeError) as err:
        return _usage("probe", str(err))
    for r in results:
        lo, hi = r.ci95
        print(f"{r.task} by {r.protocol} probe of {r.encoder} on {r.data}: accuracy {100 * r.accuracy:.1f}% "
              f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}, {r.correct}/{r.n}), chance {100 * r.chance:.1f}%")
    return EXIT_OK


def add_attention(sub) -> None:
    p = sub.add_parser(
        "attention",
        help="attention maps of a trained model on test questions, as PNG figures",
        description=(
            "For the first N questions of DATA/<split>, draw where each encoder stage of RUN's best checkpoint "
            "responds: the mean squared activation of the stage, upsampled and laid over the drawing it read, "
            "stages side by side, a row per drawing (or stacked drawings) an encoder read. Writes "
            "OUT/<question id>.png. Works for every model of the project, supervised or pretrained."
        ),
    )
    _add_run_and_data(p)
    p.add_argument("--questions", type=_positive_int, default=4, metavar="N", help="questions to draw (default 4)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (required)")
    p.set_defaults(handler=cmd_attention)


def cmd_attention(args: argparse.Namespace) -> int:
    from .attention import attention_run

    try:
        written = attention_run(args.run, args.data, args.out, args.split, args.questions, args.device)
    except (ValueError, RuntimeError) as e:
        return _usage("attention", str(e))
    print(f"{plural(len(written), 'figure')} -> {os.path.abspath(args.out)}")
    return EXIT_OK


def add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="generate small T2I/I2P/P2I sets, train baselines, evaluate, write a report",
        description=(
            "The end-to-end demo: generate small SPARE3D-CSG T2I, I2P and P2I sets, train a ResNet-18 early-fusion "
            "baseline on each, evaluate on the test split and write OUT/report.md (table: accuracy, 95% CI, chance) "
            "and OUT/examples.png. Plans: cpu (at most 15 minutes on 2 cores), gpu (larger), ci (seconds); "
            "auto picks gpu when CUDA is present. Re-running resumes: finished stages are skipped."
        ),
    )
    p.add_argument("--out", default="demo", metavar="DIR", help="output folder (default demo)")
    p.add_argument("--plan", choices=("auto", "cpu", "gpu", "ci"), default="auto", help="default auto")
    p.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                   help="generation processes (default: all cores)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="default 0")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    try:
        report = run_demo(args.out, args.plan, args.workers, args.seed, not args.quiet)
    except ValueError as e:  # another plan's or seed's data or runs in --out, bad data
        return _usage("demo", f"{e} (use another --out for another plan or seed)")
    print(f"report: {report} (figure: {report.parent / 'examples.png'})")
    return EXIT_OK
