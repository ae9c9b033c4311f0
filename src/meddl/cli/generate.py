"""`meddl generate`: continue a prompt with a trained language model."""

from __future__ import annotations

import argparse
from pathlib import Path

from meddl.cli.common import Subparsers


def cmd_generate(args: argparse.Namespace) -> None:
    from meddl.api import generate

    print(generate(args.checkpoint, args.prompt, max_tokens=args.max_tokens, temperature=args.temperature,
                   top_k=args.top_k, seed=args.seed))


def register(commands: Subparsers) -> None:
    generate = commands.add_parser("generate", help="continue a prompt with a trained language model")
    generate.add_argument("checkpoint", type=Path, help="a language-model checkpoint (e.g. from meddl train pubmedqa-lm)")
    generate.add_argument("--prompt", required=True, help="text to continue")
    generate.add_argument("--max-tokens", type=int, default=100, help="tokens to sample (default 100)")
    generate.add_argument("--temperature", type=float, default=1.0,
                          help="below 1: safer, more repetitive text; above 1: more varied (default 1.0)")
    generate.add_argument("--top-k", type=int, help="sample only among the K most likely tokens (default: all)")
    generate.add_argument("--seed", type=int, default=0, help="the same seed gives the same text (default 0)")
    generate.set_defaults(run=cmd_generate)
