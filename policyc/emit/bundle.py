"""The bundle backend: one self-verifying JSON file with parameters, IR, schemas and example cases."""
from __future__ import annotations

from .. import __version__
from ..compiler import Compilation
from ..runtime.bundle import BUNDLE_FORMAT, content_hash
from .schemas import decision_schema, request_schema


def build_bundle(c: Compilation) -> dict:
    manifest = c.sources.manifest.data
    cases = c.cases  # relative inputs already resolved (check/cases.py), with `defined_at`
    if not cases:  # a Compilation put together without its cases
        cases = [dict(case, locality=str(case["locality"]), defined_at=str(doc.span(("cases", i))))
                 for doc in c.sources.case_files for i, case in enumerate(doc.data["cases"])]
    bundle = {
        "manifest": {"format": BUNDLE_FORMAT, "id": manifest["id"], "title": manifest["title"],
                     "version": manifest["version"], "compiler": f"policyc {__version__}",
                     "source_digest": c.sources.digest},
        "jurisdictions": [j.to_json() for j in c.sources.jurisdictions],
        "articles": {cit: art.heading for cit, art in c.articles.by_citation.items()},
        "parameters": {pid: p.to_json() for pid, p in sorted(c.params.items())},
        "ir": c.module.to_json(),
        "schemas": {"request": request_schema(c.module, manifest["id"]),
                    "decision": decision_schema(c.module, manifest["id"])},
        "cases": cases,
        "exceptions": [e.to_json() for e in c.exceptions],
        "events": c.events,
        "funding": c.funding,
    }
    bundle["manifest"]["sha256"] = content_hash(bundle)
    return bundle
