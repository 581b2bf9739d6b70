"""`spare3d train` and `spare3d evaluate`: torch loads inside the commands, and neither
needs OpenCascade, trimesh or pyrender (GPU boxes often have torch and little else)."""

from __future__ import annotations

import argparse
import os

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

TASKS = ("t2i", "i2p", "p2i")


class _Renamed(argparse.Action):
    """An option that was renamed: using it is a one-line error naming the new one."""

    def __init__(self, option_strings, dest, new: str = "", why: str = "", **kw) -> None:
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kw)
        self.new, self.why = new, why

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser.error(f"{option_string} is now {self.new} ({self.why})")


def add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a SPARE3D baseline on a generated (or original) dataset",
        description=(
            "Train MODEL on DATA/train (packed or SPARE3D layout), validating on DATA/val, writing "
            "RUN/last.pt (every epoch, atomically), RUN/best.pt (best validation accuracy), "
            "RUN/metrics.jsonl, RUN/config.json and TensorBoard logs. CUDA is used when present (bf16 "
            "autocast, channels_last). Kill it at any time and continue with --resume."
        ),
    )
    p.add_argument("--list-models", action="store_true", help="print the model names (for --task, if given) and exit")
    p.add_argument("--task", choices=TASKS, help="task of the dataset (default: the one its dataset.json names)")
    p.add_argument("--model", metavar="NAME",
                   help="<backbone>-<fusion>, e.g. vgg16-early, resnet18-late (required; see --list-models)")
    p.add_argument("--data", metavar="DIR", help="dataset folder holding train/ (and val/) splits (required)")
    p.add_argument("--out", metavar="RUN", help="run folder (required)")
    p.add_argument("--epochs", type=_positive_int, metavar="N", help="epochs (default 50, as SPARE3D; with --resume, the run's own)")
    p.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help="questions per batch (default SPARE3D's: 8 for t2i, 70 for i2p/p2i)")
    p.add_argument("--lr", type=_positive_float, default=2e-5, metavar="X", help="peak learning rate (default 2e-5, as SPARE3D)")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd"), default="adam", help="default adam")
    p.add_argument("--weight-decay", type=_non_negative_float, default=0.0, metavar="X", help="default 0")
    p.add_argument("--warmup", type=_non_negative_float, default=0.0, metavar="X",
                   help="epochs of linear warm-up (default 0)")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine", help="after warm-up (default cosine)")
    p.add_argument("--clip", type=_non_negative_float, default=0.0, metavar="X",
                   help="clip the gradient norm to this (default 0: off)")
    p.add_argument("--channels", type=int, choices=(1, 3), default=3, help="3: RGB (hidden lines red), 1: grayscale (default 3)")
    p.add_argument("--resolution", type=_int_at_least(16, 1024, " pixels"), metavar="N",
                   help="resize drawings to this side on the device, 16-1024 (default: as stored)")
    p.add_argument("--shift", type=_number(0, 0.5, high_open=True), default=0.0, metavar="X",
                   help="augmentation: random shift of each question, a fraction of the side in [0, 0.5) (default 0)")
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
    p.add_argument("--weights", metavar="FILE", help="local ImageNet state dict for the backbone (default none; nothing is downloaded)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out where it stopped")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .models import model_names

    if args.list_models:
        try:
            print("\n".join(model_names(args.task)))
        except RuntimeError as e:
            return _usage("train", str(e))
        return EXIT_OK
    missing = [f"--{k}" for k in ("model", "data", "out") if getattr(args, k) is None]
    if missing:
        return _usage("train", f"missing {', '.join(missing)}")
    from .data import infer_task
    from .train import TrainConfig, Trainer, saved_epochs

    try:
        task = args.task or infer_task(args.data)
        epochs = args.epochs or (args.resume and saved_epochs(args.out)) or 50
        config = TrainConfig(
            task=task, model=args.model, data=args.data, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
            optimizer=args.optimizer, weight_decay=args.weight_decay, warmup=args.warmup, schedule=args.schedule,
            clip=args.clip, channels=args.channels, resolution=args.resolution, shift=args.shift, device=args.device,
            compile=args.compile, seed=args.seed, workers=args.loader_threads, weights=args.weights,
            data_on_device=args.data_on_device,
        )  # fmt: skip
        trainer = Trainer(config, args.out, resume=args.resume, progress=not args.quiet)
    except (ValueError, RuntimeError) as e:
        return _usage("train", str(e))
    history = trainer.fit()
    last = history[-1] if history else {}
    summary = ", ".join(f"{k} {last[k]:.4f}" for k in ("train_loss", "val_accuracy") if k in last)
    print(f"{args.out}: {plural(trainer.epoch, 'epoch')} on {trainer.device.type}" + (f" ({summary})" if summary else ""))
    return EXIT_OK


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
    p.add_argument("run", metavar="RUN", help="run folder made by spare3d train")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset (or split) folder (required)")
    p.add_argument("--split", type=_file_name, default="test", metavar="NAME", help="split folder name (default test)")
    p.add_argument("--device", type=_device_name, default="auto", metavar="DEV",
                   help="auto (CUDA if present), cpu, cuda or cuda:N (default auto)")
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
