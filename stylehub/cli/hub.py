"""`stylehub push`, `pull`, `list` and `deploy`: the Hugging Face Hub."""
from __future__ import annotations

from pathlib import Path

from ..errors import SettingsError
from .common import print_json, report


def add_parsers(subparsers) -> None:
    push = subparsers.add_parser("push", help="publish a model folder to the Hugging Face Hub (card included)",
                                 description="Write or refresh MODEL_DIR's model card (README.md with sample grid, "
                                             "settings, loss curve, scores, sources), then upload the weights, "
                                             "config, card and images to the model repo in one commit.")
    push.add_argument("model", type=Path, metavar="MODEL_DIR")
    push.add_argument("--repo", required=True, metavar="USER/NAME", help="model repo (created if needed)")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--license", help="the card's licence id (default: the card's, else config.json's, else mit)")
    push.add_argument("--examples", type=Path, default=Path("examples/content"), metavar="DIR",
                      help="photos (.jpg) for the card's sample grid (default: %(default)s, as in a StyleHub "
                           "checkout; no such folder: no grid)")
    push.add_argument("--json", action="store_true")
    push.set_defaults(run=_push)
    pull = subparsers.add_parser("pull", help="download a published model into the Hugging Face cache")
    pull.add_argument("repo", metavar="USER/NAME")
    pull.add_argument("--revision", help="branch, tag or commit (default main)")
    pull.add_argument("--json", action="store_true")
    pull.set_defaults(run=_pull)
    found = subparsers.add_parser("list", help="find StyleHub styles published on the Hugging Face Hub")
    found.add_argument("--author", help="only this user's or organisation's")
    found.add_argument("--limit", type=int, default=50, help="at most this many (default %(default)s)")
    found.add_argument("--json", action="store_true")
    found.set_defaults(run=_list)
    deploy = subparsers.add_parser("deploy", help="create or update a Gradio Space running the app")
    deploy.add_argument("--space", required=True, metavar="USER/NAME", help="the Space (created if needed)")
    deploy.add_argument("--private", action="store_true", help="create the Space private")
    deploy.add_argument("--root", type=Path, default=Path("."), metavar="CHECKOUT",
                        help="the StyleHub checkout whose app is deployed (default: the current folder)")
    deploy.add_argument("--json", action="store_true")
    deploy.set_defaults(run=_deploy)


def _push(args) -> int:
    from .. import hub

    url = hub.push(args.model, args.repo, private=args.private, license=args.license, examples=args.examples)
    return report(args.json, {"model": str(args.model), "repo": args.repo, "url": url},
                  f"published {args.model} to {url}")


def _pull(args) -> int:
    from .. import hub

    folder = hub.pull(args.repo, args.revision)
    return report(args.json, {"repo": args.repo, "revision": args.revision, "folder": str(folder)}, folder)


def _list(args) -> int:
    from .. import hub

    styles = hub.search_styles(author=args.author, limit=args.limit)
    if args.json:
        print_json(styles)
    elif not styles:
        print("no StyleHub styles on the Hub" + (f" by {args.author}" if args.author else ""))
    else:
        width = max(len(s["repo"]) for s in styles)
        print(f"{'repo':<{width}}  {'likes':>6}  {'downloads':>9}  last modified")
        for s in styles:
            print(f"{s['repo']:<{width}}  {s['likes']:>6}  {s['downloads']:>9}  {(s['last_modified'] or '-')[:10]}")
    return 0


def _deploy(args) -> int:
    root = args.root.resolve()
    url = _checkout_deploy(root).deploy(args.space, private=args.private, root=root)
    return report(args.json, {"space": args.space, "url": url}, f"deployed the app to {url}")


def _checkout_deploy(root: Path):
    """The deploy module of the checkout `root` (deploy.py, beside app.py): the app, not this package, knows the
    files it needs, so each checkout deploys with its own list."""
    import importlib.util

    path = root / "deploy.py"
    if not path.is_file():
        raise SettingsError(f"{root}: not a StyleHub checkout (deploy.py is missing); run deploy from one, or name "
                            f"one with --root")
    spec = importlib.util.spec_from_file_location("stylehub_checkout_deploy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
