"""Look inside a network while it trains (makemore part 3): activation, gradient
and update statistics, the flags that say what is wrong, and variants side by side.

One room per job: capture.py (hooks), init.py (surgery: --init, --no-bn),
observer.py (watches the Trainer's loop), stats.py (summaries), flags.py,
run.py (diagnose()), report.py (text), compare.py (--compare), plots.py and
compare_plots.py (figures, matplotlib only); bigram.py, learnings.py and
bigram_plots.py measure docs/learnings.md's claims (the count model, the neural
bigram against it, BatchNorm's coupling).
"""

from mmzoo.engine.diagnose.flags import SATURATED_FRACTION, find_flags
from mmzoo.engine.diagnose.init import INIT_MODES, apply_init, find_head, remove_batchnorm
from mmzoo.engine.diagnose.report import describe_run, format_report
from mmzoo.engine.diagnose.run import Surgery, diagnose
from mmzoo.engine.diagnose.stats import SATURATION, Diagnosis

__all__ = [
    "INIT_MODES",
    "SATURATED_FRACTION",
    "SATURATION",
    "Diagnosis",
    "Surgery",
    "apply_init",
    "describe_run",
    "diagnose",
    "find_flags",
    "find_head",
    "format_report",
    "remove_batchnorm",
]
