"""Real plugin distributions for the loader's tests, made in a temporary folder.

Each is what `pip install --target DIR` leaves behind, less the files mmzoo
never reads: a module, and a `NAME-VERSION.dist-info` with METADATA and
entry_points.txt. Put DIR on PYTHONPATH and the installed `mmzoo` command finds
them through importlib.metadata exactly as it finds a pip-installed plugin,
without the seconds a pip build takes per distribution.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

# dist name -> (entry point name, module source). The entry point names are short
# so that `mmzoo plugins`'s table never folds them.
GOOD = {
    # Its entry point is called `mlp`, like a built-in one: entry point names are
    # unique only within a distribution, and that must not stop it loading.
    "mmzoo-good": (
        "mlp",
        '''
        from dataclasses import dataclass
        from pathlib import Path

        import typer

        from mmzoo import DatasetSpec, ModelSpec, Recipe, hookimpl

        mmzoo_plugin_api = 1


        @dataclass(frozen=True)
        class TinyConfig:
            n_embd: int = 4


        def build(config, vocab_size):
            import torch.nn as nn
            from mmzoo.models.blocks import WindowModel

            class Tiny(WindowModel):
                context_length = 2

                def __init__(self):
                    super().__init__()
                    self.wte = nn.Embedding(vocab_size, config.n_embd)
                    self.head = nn.Linear(2 * config.n_embd, vocab_size)

                def next_logits(self, ctx):
                    return self.head(self.wte(ctx).flatten(1))

            return Tiny()


        @hookimpl
        def register_models(register):
            register(ModelSpec(name="tiny", summary="a two-character window", config=TinyConfig, build=build,
                               recipe=Recipe(steps=50, batch_size=32, lr=1e-2, eval_every=25)))


        @hookimpl
        def register_datasets(register):
            register(DatasetSpec(name="vowels", summary="made-up vowel words",
                                 load=lambda: Path(__file__).with_name("mmzoo_good_vowels.txt")))


        @hookimpl
        def register_commands(app):
            @app.command("hello")
            def hello(name: str = typer.Option("world", "--name")) -> None:
                """Greet, to show that plugins add subcommands."""
                print(f"hello {name} from mmzoo-good")
        ''',
    ),
}

BROKEN = {
    "mmzoo-boom": ("boom", 'raise RuntimeError("libfoo.so not found")\n'),
    "mmzoo-exit": ("exit", "import sys\nsys.exit(3)\n"),
    "mmzoo-hookfail": (
        "hookfail",
        """
        from dataclasses import dataclass
        from mmzoo import ModelSpec, hookimpl

        @dataclass(frozen=True)
        class C:
            n: int = 1

        @hookimpl
        def register_models(register):
            register(ModelSpec(name="half", summary="registered before the hook failed", config=C,
                               build=lambda c, v: None))
            raise ValueError("model server unreachable")
        """,
    ),
    "mmzoo-dup": (
        "dup",
        """
        from dataclasses import dataclass
        from mmzoo import ModelSpec, hookimpl

        @dataclass(frozen=True)
        class C:
            n: int = 1

        @hookimpl
        def register_models(register):
            register(ModelSpec(name="mlp", summary="a second mlp", config=C, build=lambda c, v: None))
            register(ModelSpec(name="dup-ok", summary="its other model", config=C, build=lambda c, v: None))
        """,
    ),
    "mmzoo-malformed": (
        "malformed",
        """
        from mmzoo import ModelSpec, hookimpl

        @hookimpl
        def register_models(register):
            register(ModelSpec(name="nodataclass", summary="config is a dict", config=dict, build=print))
        """,
    ),
    "mmzoo-future": (
        "future",
        """
        from dataclasses import dataclass
        from mmzoo import ModelSpec, hookimpl

        mmzoo_plugin_api = 99

        @dataclass(frozen=True)
        class C:
            n: int = 1

        @hookimpl
        def register_models(register):
            register(ModelSpec(name="from-the-future", summary="", config=C, build=lambda c, v: None))
        """,
    ),
    "mmzoo-misspelt": (
        "misspelt",
        """
        from mmzoo import hookimpl

        @hookimpl
        def register_model(register):
            pass
        """,
    ),
    "mmzoo-badcmd": (
        "badcmd",
        """
        from mmzoo import hookimpl

        @hookimpl
        def register_commands(app):
            @app.command("train")
            def train() -> None:
                print("hijacked")
        """,
    ),
}

# What each broken plugin's first error must say.
EXPECTED_ERRORS = {
    "boom": "import failed: RuntimeError: libfoo.so not found",
    "exit": "import failed: SystemExit: 3",
    "hookfail": "register_models raised ValueError: model server unreachable",
    "dup": "'mlp' is already registered by mmzoo",
    "malformed": "register_models: malformed model 'nodataclass': config must be a dataclass type",
    "future": "needs mmzoo plugin API 99",
    "misspelt": "unknown hook register_model (did you mean register_models?)",
    "badcmd": "command name already in use: train",
}

VOWEL_WORDS = [a + b + c + d for a in "bdk" for b in "aeiou" for c in "lmn" for d in "aeiou"]


def write_dist(site: Path, dist: str, ep_name: str, source: str, version: str = "0.1") -> None:
    module = dist.replace("-", "_")
    (site / f"{module}.py").write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[mmzoo]\n{ep_name} = {module}\n", encoding="utf-8")


def build_site(site: Path, broken: bool) -> Path:
    """The good distribution, and with `broken` every broken one too."""
    site.mkdir(parents=True, exist_ok=True)
    dists = {**GOOD, **(BROKEN if broken else {})}
    for dist, (ep_name, source) in dists.items():
        write_dist(site, dist, ep_name, source)
    (site / "mmzoo_good_vowels.txt").write_text("\n".join(VOWEL_WORDS) + "\n", encoding="utf-8")
    return site


def mmzoo(
    *args: str, site: Path | None, cwd: Path, load: str | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """The installed `mmzoo` command, with `site` on PYTHONPATH and MMZOO_LOAD_PLUGINS
    set to `load` (unset when None, whatever the calling shell has)."""
    env = {k: v for k, v in os.environ.items() if k != "MMZOO_LOAD_PLUGINS"}
    env["COLUMNS"] = "200"
    env["OMP_NUM_THREADS"] = "1"  # tiny models: on a busy machine, torch's extra threads only add waiting
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH", "")]))
    if load is not None:
        env["MMZOO_LOAD_PLUGINS"] = load
    exe = Path(sys.executable).parent / "mmzoo"
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
