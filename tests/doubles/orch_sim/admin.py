"""The orch simulator's own admin paths under ``/_sim/`` (real orch has none).

They let a demo drive a simulator from another process and are never
faulted.  :class:`AdminSurface` is mixed into :class:`OrchSimulator`.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, Dict, Optional

from .replies import Reply, json_reply

if TYPE_CHECKING:
    from .api import OrchApi

SIM = "/_sim"


class AdminSurface:
    """The ``/_sim/`` routes of :class:`OrchSimulator`."""

    _api: OrchApi

    def _admin(self, method: str, path: str, body: bytes) -> Reply:
        """Answer a ``/_sim/`` request; these are never faulted."""
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError:
            return json_reply(400, {"error": "the body is not JSON"})
        try:
            return self._admin_route(method, path[len(SIM):].rstrip("/"), data)
        except (KeyError, TypeError, ValueError) as exc:
            return json_reply(400, {"error": "bad simulator request: %s" % exc})

    def _admin_route(self, method: str, what: str, data: Any) -> Reply:
        if what == "/faults" and method == "POST":
            params = dict(data)
            self.set_fault(params.pop("kind"), **params)
            return json_reply(200, {"faults": self.faults()})
        if what == "/faults" and method == "DELETE":
            self.clear_faults()
            return json_reply(200, {"faults": self.faults()})
        if what == "/faults" and method == "GET":
            return json_reply(200, {"faults": self.faults()})
        if what == "/holders" and method == "GET":
            return json_reply(200, {"holders": self.holders()})
        if what == "/history" and method == "GET":
            return json_reply(200, {"history": self.history()})
        if what == "/requests" and method == "GET":
            return json_reply(200, {"requests": self.requests()})
        if what == "/resources" and method == "POST":
            items = data if isinstance(data, list) else [data]
            for item in items:
                self.add_resource(**resource_from_json(item))
            return json_reply(200, {"mappings": self._api.mapping_list()})
        if what == "/containers" and method == "POST":
            record = self.add_container(data["ip"], data.get("name"),
                                        bool(data.get("running", True)))
            return json_reply(200, {"container": record})
        if what == "/sweep" and method == "POST":
            return json_reply(200, {"swept": self.sweep()})
        if what == "/release" and method == "POST":
            return json_reply(200, {"released": self.force_release(str(data["uuid"]))})
        return json_reply(404, {"error": "no simulator path %s %s%s" % (method, SIM, what)})


def resource_from_json(item: Dict[str, Any]) -> Dict[str, Any]:
    """Keyword arguments for :meth:`OrchSimulator.add_resource` from JSON.

    :param item: ``{"uuid", "name", "type"?, "description"?, "content"?
        (text) or "content_b64"?}``
    :returns: the keyword arguments
    :raises KeyError: when ``uuid`` or ``name`` is missing
    """
    content: Optional[bytes] = None
    if item.get("content_b64") is not None:
        content = base64.b64decode(item["content_b64"])
    elif item.get("content") is not None:
        content = str(item["content"]).encode()
    return {"uuid": str(item["uuid"]), "name": str(item["name"]), "content": content,
            "type": str(item.get("type", "file")), "description": item.get("description")}
