"""Where a job's results live: a local directory, or a prefix in an object store (``s3://``,
``gs://``) through PyArrow's filesystems, so a job on a cluster writes where every node and the
user can read.

Local files are replaced atomically (temp file, fsync, rename); an object-store PUT is atomic by
itself. Custom S3 endpoints go in the URI, PyArrow style:
``s3://bucket/runs?endpoint_override=minio.local:9000&scheme=http``; credentials come from the
usual AWS/GCP environment and files, never from the spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tune_jobs.results.files import replace_atomically

URI_SCHEMES = ("s3", "gs")


def is_uri(location: str) -> bool:
    return "://" in location


def join_location(base: str, name: str) -> str:
    """``base``/``name`` for a path or a URI (a URI's query string stays at the end)."""
    if not is_uri(base):
        return str(Path(base).expanduser().resolve() / name)
    head, sep, query = base.partition("?")
    return f"{head.rstrip('/')}/{name}{sep}{query}"


class ResultsStore:
    def __init__(self, location: str) -> None:
        self.location = location
        self.local = not is_uri(location)
        if self.local:
            self.filesystem: pafs.FileSystem = pafs.LocalFileSystem()
            self.path = str(Path(location).expanduser().resolve())
        else:
            self.filesystem, self.path = pafs.FileSystem.from_uri(location)
            self.path = self.path.rstrip("/")

    def __str__(self) -> str:
        return self.path if self.local else self.location

    def _at(self, name: str) -> str:
        return f"{self.path}/{name}"

    def exists(self, name: str) -> bool:
        return self.filesystem.get_file_info(self._at(name)).type != pafs.FileType.NotFound

    def is_dir(self, name: str) -> bool:
        return self.filesystem.get_file_info(self._at(name)).type == pafs.FileType.Directory

    def list(self, name: str) -> list[str]:
        """The names of the files directly in the directory ``name`` (empty when it does not exist)."""
        if not self.is_dir(name):
            return []
        selector = pafs.FileSelector(self._at(name), recursive=False)
        return [info.base_name for info in self.filesystem.get_file_info(selector) if info.type == pafs.FileType.File]

    def make(self) -> None:
        self.filesystem.create_dir(self.path, recursive=True)

    def remove(self, name: str) -> None:
        if self.is_dir(name):
            self.filesystem.delete_dir(self._at(name))
        elif self.exists(name):
            self.filesystem.delete_file(self._at(name))

    def read_table(self, name: str) -> pa.Table:
        return pq.read_table(self._at(name), filesystem=self.filesystem)

    def write_table(self, name: str, table: pa.Table) -> None:
        if self.local:
            replace_atomically(Path(self._at(name)), lambda temp: pq.write_table(table, temp))
        else:
            pq.write_table(table, self._at(name), filesystem=self.filesystem)

    def read_json(self, name: str) -> Any:
        with self.filesystem.open_input_stream(self._at(name)) as stream:
            return json.loads(stream.read().decode())

    def write_json(self, name: str, data: Any) -> None:
        text = json.dumps(data, indent=2, default=str) + "\n"
        if self.local:
            replace_atomically(Path(self._at(name)), lambda temp: temp.write_text(text))
        else:
            with self.filesystem.open_output_stream(self._at(name)) as stream:
                stream.write(text.encode())

    def ray_path(self, name: str) -> str:
        """``name`` as Ray's ``storage_path`` wants it next to ``storage_filesystem``."""
        return self._at(name)
