"""Serve the web example on 127.0.0.1 only, with the standard library alone:

    npm ci --ignore-scripts --prefix examples/web   # onnxruntime-web, as the lockfile pins it
    python examples/web/serve.py                    # then open http://127.0.0.1:8000/

Three things are served, nothing else: the page's own files (this folder, not its
node_modules), onnxruntime-web's dist folder as /ort/, and the pretrained generator
files (mmzoo/pretrained/names-*.gen.onnx, or --models DIR) as /models/, listed in
/models.json. `--port 0` picks a free port; the first line on stdout is the URL.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
ORT_DIST = HERE / "node_modules" / "onnxruntime-web" / "dist"
PRETRAINED = HERE.parent.parent / "mmzoo" / "pretrained"
PAGE_FILES = ("index.html", "app.mjs", "uniforms.mjs", "style.css")
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".wasm": "application/wasm",  # what WebAssembly.instantiateStreaming insists on
    ".onnx": "application/octet-stream",
    ".map": "application/json",
}


def models(folder: Path) -> list[dict[str, str]]:
    """The pretrained generator files, for the page's model picker."""
    files = sorted(folder.glob("names-*.gen.onnx"))
    return [{"model": p.name[len("names-") : -len(".gen.onnx")], "file": f"models/{p.name}"} for p in files]


class Handler(BaseHTTPRequestHandler):
    """GET and HEAD of a fixed set of files; a name is looked up, never joined to a path."""

    server_version = "mmzoo-web"

    def __init__(self, *args: object, models_dir: Path, quiet: bool, **kwargs: object) -> None:
        self.models_dir = models_dir
        self.quiet = quiet
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        if path == "/models.json":
            return self._send(json.dumps(models(self.models_dir)).encode(), ".json", body)
        file = self._lookup(path)
        if file is None:
            return self.send_error(HTTPStatus.NOT_FOUND)
        self._send(file.read_bytes(), file.suffix, body)

    def _lookup(self, path: str) -> Path | None:
        folder, _, name = path.rpartition("/")
        if "/" in name or "\\" in name or name.startswith("."):
            return None
        if folder == "" and (name or "index.html") in PAGE_FILES:
            file = HERE / (name or "index.html")
        elif folder == "/ort" and name.startswith("ort"):
            file = ORT_DIST / name
        elif folder == "/models" and name.startswith("names-") and name.endswith(".gen.onnx"):
            file = self.models_dir / name
        else:
            return None
        return file if file.is_file() else None

    def _send(self, data: bytes, suffix: str, body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", TYPES.get(suffix, "application/octet-stream"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        if not self.quiet:
            super().log_message(format, *args)


def main() -> int:
    parser = argparse.ArgumentParser(description="Serve the mmzoo web example on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free one")
    parser.add_argument("--models", type=Path, default=PRETRAINED, help="folder of names-*.gen.onnx files")
    parser.add_argument("--quiet", action="store_true", help="no line per request on stderr")
    args = parser.parse_args()
    if not (ORT_DIST / "ort.wasm.min.mjs").is_file():
        print(
            f"serve.py: {ORT_DIST} is missing: run `npm ci --ignore-scripts --prefix examples/web` first",
            file=sys.stderr,
        )
        return 2
    if not models(args.models):
        print(f"serve.py: no names-*.gen.onnx in {args.models}", file=sys.stderr)
        return 2
    handler = partial(Handler, models_dir=args.models.resolve(), quiet=args.quiet)
    with ThreadingHTTPServer(("127.0.0.1", args.port), handler) as httpd:
        print(f"http://127.0.0.1:{httpd.server_address[1]}/", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
