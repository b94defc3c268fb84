"""make_entry: a decision with its request (masked) and its bundle, as one decision-log entry."""
from __future__ import annotations

import datetime as _dt
import hashlib

from ...runtime import jsonio
from .errors import DecisionLogError
from .exact import RawJSON
from .masking import mask_of
from .scrubbing import Scrubber, has_identifier
from .times import time_text


def _canonical(request) -> str:
    return jsonio.dumps(request, indent=None, sort_keys=True)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_request_sha256(request) -> str:
    """sha256 of the request's canonical JSON (jsonio, sorted keys, compact): the same request, however it was
    spelled on the wire (key order, spacing, 1200.00 or 1200), has the same hash."""
    return _sha256(_canonical(request))


def _bundle_summary(bundle) -> dict:
    """{id, version, sha256, signer} from a loaded bundle (its manifest) or from such a summary itself."""
    if not isinstance(bundle, dict):
        raise DecisionLogError("L0005", "决策日志条目缺少规则包信息")
    man = bundle.get("manifest") if isinstance(bundle.get("manifest"), dict) else bundle
    signer = bundle.get("signer", man.get("signer"))
    if signer is None and isinstance(bundle.get("signature"), dict):
        sig = bundle["signature"]
        signer = sig.get("signer", sig.get("key_id"))
    return {"id": man.get("id"), "version": man.get("version"), "sha256": man.get("sha256"), "signer": signer}


def _decision_head(text: str) -> dict:
    """The decision's JSON text parsed for its summary fields. The service's text ends with the long trace
    (Evaluator.evaluate_json): parse what comes before it when that is a whole object, the whole text otherwise."""
    try:
        cut = text.rfind(',"trace":[')
        if cut > 0 and text.rstrip().endswith("]}"):
            try:
                head = jsonio.loads(text[:cut] + "}")
                if isinstance(head, dict):
                    return head
            except ValueError:
                pass
        return jsonio.loads(text)
    except (ValueError, RecursionError) as err:
        raise DecisionLogError("L0005", f"决定不是有效的 JSON：{err}") from None


def make_entry(*, decision_id: str, request: dict, decision, bundle: dict, mask=None,
               time: _dt.datetime | None = None, scrub_identifiers: bool = True) -> dict:
    """One decision-log entry. `decision` is the decision dict, or the JSON text the service sent (kept as it is);
    `bundle` is the loaded bundle or {id, version, sha256, signer}; `mask` is a list of path patterns (None: the
    defaults, []: none) or a Mask; `time` defaults to now. `request_sha256` is computed over the unmasked request."""
    if not isinstance(decision_id, str) or not decision_id or len(decision_id) > 100:
        raise DecisionLogError("L0005", "决策编号应为不超过 100 个字符的文字")
    if isinstance(decision, str):
        stored_decision = RawJSON(decision)
        decision = _decision_head(decision)
    else:
        stored_decision = decision
    if not isinstance(decision, dict):
        raise DecisionLogError("L0005", "决定应为 JSON 对象")
    loc = decision.get("locality")
    programs = decision.get("programs") if isinstance(decision.get("programs"), dict) else {}
    eligible = {pid: res["eligible"] for pid, res in programs.items()
                if isinstance(res, dict) and "eligible" in res and (res["eligible"] is None or
                                                                    isinstance(res["eligible"], bool))}
    if not isinstance(request, dict):
        raise DecisionLogError("L0005", "请求应为 JSON 对象")
    try:
        canonical = _canonical(request)
    except (TypeError, ValueError) as err:
        raise DecisionLogError("L0005", f"请求无法写成 JSON：{err}") from None
    masked = mask_of(mask).apply(request, canonical)
    if scrub_identifiers and has_identifier(canonical):
        # the decision can hold only the identifiers its request held: walk it only when the request has some
        scrub = Scrubber()
        masked = scrub.walk(masked)
        if scrub.tokens:
            whole = jsonio.loads(stored_decision) if isinstance(stored_decision, RawJSON) else stored_decision
            stored_decision = scrub.walk(whole)
    return {
        "decision_id": decision_id,
        "time": time_text(time or _dt.datetime.now(_dt.timezone.utc)),
        "bundle": _bundle_summary(bundle),
        "locality": loc.get("code") if isinstance(loc, dict) else loc,
        "date": decision.get("date") if isinstance(decision.get("date"), str) else None,
        "programs": sorted(programs),
        "eligible": eligible,
        "request_sha256": _sha256(canonical),
        "request": masked,
        "decision": stored_decision,
    }
