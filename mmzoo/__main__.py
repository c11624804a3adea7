"""`python -m mmzoo`, the same as the `mmzoo` command."""

from mmzoo.entry import entry

entry()
