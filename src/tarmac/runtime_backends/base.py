"""The runtime backend interface: make a code state live, and say which one is live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tarmac.bundles.limits import BundleLimits
from tarmac.bundles.manifest import BundleManifest
from tarmac.deploys.code_state import CodeState


@dataclass(frozen=True)
class LiveSpec:
    """The code state a runtime backend makes live for one Deployment, and its deploy."""

    deploy_id: str
    seq: int
    code: CodeState

    def to_json(self) -> dict[str, Any]:
        return {"deploy_id": self.deploy_id, "seq": self.seq, **self.code.as_dict()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveSpec:
        return cls(
            deploy_id=str(data["deploy_id"]), seq=int(data["seq"]), code=CodeState.from_json(data)
        )


class RuntimeBackend(Protocol):
    """Makes code live. Must be idempotent: recovery re-applies the recorded live state."""

    def prepare(self, bundle_sha256: str | None) -> None:
        """Slow, idempotent work done before the Deployment is locked (unpacking)."""

    def is_prepared(self, bundle_sha256: str | None) -> bool:
        """Whether ``prepare`` has nothing left to do: making it live will not be slow."""

    def unpack_upload(
        self, bundle_sha256: str, path: Path, *, limits: BundleLimits
    ) -> BundleManifest | None:
        """Check an upload while unpacking it, if this backend keeps local copies.

        Its manifest; None if the backend keeps no copies or has this one already (the
        caller then inspects the upload itself). ``InvalidBundle`` if it is not valid.
        """

    def unpacked_bundle(self, bundle_sha256: str) -> Path | None:
        """A local, complete, read-only unpacked copy of the bundle, or None if none is kept."""

    def make_live(self, *, release_name: str, spec: LiveSpec) -> None:
        """Switch the Deployment to ``spec``; on error the previous state stays live."""

    def live_spec(self, *, release_name: str) -> LiveSpec | None:
        """The state that is live now, or None if nothing was ever made live."""
