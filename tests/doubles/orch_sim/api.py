"""orch's V2 routes as the simulator answers them.

Same paths, validation order, messages, status codes and error JSON as
orch (``services/orch/app/v2``); the caller is the container whose IP
the request comes from.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid as uuidlib
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import unquote

from .replies import Reply, html_reply, json_reply
from .store import Store

logger = logging.getLogger("orch_sim")

API = "/api/v2"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                     re.IGNORECASE)
FILE_SUFFIX = {"cert": ".crt", "key": ".key", "principal": ".keytab", "worker": ".keytab"}
CA_DIR = "/mnt/data/ca"
CERTS_DIR = "/mnt/data/certs"


class OrchApi:
    """The V2 routes with orch's validation order, messages and shapes."""

    def __init__(self, store: Store, ca_pem: bytes, auto_register: bool,
                 request_ids: bool) -> None:
        self.store = store
        self.ca_pem = ca_pem
        self.auto_register = auto_register
        self.request_ids = request_ids
        # set by OrchSimulator.use_kerberos: scaled worker keytabs in a realm
        self.worker_keytabs: Optional[Any] = None
        self.routes: List[Tuple[str, "re.Pattern[str]", Any]] = [
            ("POST", re.compile(r"^%s/resource/([^/]+)$" % API), self.checkout),
            ("DELETE", re.compile(r"^%s/resource/([^/]+)$" % API), self.release),
            ("GET", re.compile(r"^%s/resource/([^/]+)/status$" % API), self.resource_status),
            ("GET", re.compile(r"^%s/resource/([^/]+)/validate$" % API), self.validate),
            ("GET", re.compile(r"^%s/status/health$" % API), self.health),
            ("GET", re.compile(r"^%s/status/mappings$" % API), self.mappings),
            ("GET", re.compile(r"^%s/status/([^/]+)$" % API), self.plain_status),
            ("GET", re.compile(r"^%s/ca/certificate$" % API), self.ca_certificate),
            ("GET", re.compile(r"^%s/ca/info$" % API), self.ca_info),
            ("GET", re.compile(r"^%s/ca/status$" % API), self.ca_status),
        ]

    def route(self, method: str, path: str, ip: str) -> Reply:
        """Answer one request as orch would."""
        path = unquote(path)
        allowed = []
        for verb, pattern, action in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            if verb != method:
                allowed.append(verb)
                continue
            try:
                return action(ip, *match.groups())
            except Exception as exc:  # orch wraps every route the same way
                logger.debug("orch-sim: %s %s failed: %s", method, path, exc)
                return self.error(500, "INTERNAL_ERROR", "Unexpected error")
        if allowed:
            return html_reply(405, "Method Not Allowed",
                              "The method is not allowed for the requested URL.",
                              {"Allow": ", ".join(sorted(set(allowed + ["OPTIONS"])))})
        return html_reply(404, "Not Found", "The requested URL was not found on the server.")

    # -- orch's error bodies -------------------------------------------------------

    def error(self, status: int, code: str, message: str,
              details: Optional[Dict[str, Any]] = None) -> Reply:
        """``{"error": {code, message, details}, request_id, timestamp}``."""
        request_id = uuidlib.uuid4().hex if self.request_ids else None
        return json_reply(status, {
            "error": {"code": code, "message": message, "details": details or {}},
            "request_id": request_id,
            "timestamp": None,
        })

    def bad_uuid(self, uuid: str) -> Reply:
        return self.error(400, "VALIDATION_ERROR", "Invalid UUID format",
                          {"field": "uuid", "value": uuid})

    def not_found(self, uuid: str) -> Reply:
        return self.error(404, "RESOURCE_NOT_FOUND", "resource not found",
                          {"resource_type": "resource", "identifier": uuid})

    def not_identified(self) -> Reply:
        return self.error(500, "CONTAINER_CLIENT_ERROR",
                          "Container client operation failed: identification",
                          {"operation": "identification",
                           "details": "Unable to identify requesting container"})

    # -- containers --------------------------------------------------------------

    def caller(self, ip: str) -> Optional[Dict[str, Any]]:
        """The running container at ``ip``, registering loopback callers."""
        found = self.store.container(ip)
        if found is None and self.auto_register and is_loopback(ip):
            found = self.store.put_container(ip, None, True)
        if found is None or not found["running"]:
            return None
        return found

    def container_info(self, container_id: str) -> Optional[Dict[str, Any]]:
        found = self.store.one("SELECT * FROM containers WHERE id = ?", (container_id,))
        if found is None:
            return None
        return {"id": found["id"], "name": found["name"],
                "status": "running" if found["running"] else "exited", "labels": {},
                "networks": {"orch-sim": {"IPAddress": found["ip"]}}}

    def sweep(self) -> int:
        """Release every hold of a container that is not running."""
        swept = 0
        with self.store.lock:
            for held in self.store.holdings():
                if not held["running"]:
                    swept += self.store.drop(held["uuid"], held["container_id"], "sweep")
        return swept

    # -- resources ---------------------------------------------------------------

    def checkout(self, ip: str, uuid: str) -> Reply:
        if not UUID_RE.match(uuid):
            return self.bad_uuid(uuid)
        with self.store.lock:
            who = self.caller(ip)
            if who is None:
                return self.not_identified()
            resource = self.store.resource(uuid)
            if resource is None:
                return self.not_found(uuid)
            if resource["type"] == "worker" and self.worker_keytabs is not None:
                return self.checkout_worker(uuid, resource, who)
            held = self.store.holder(uuid)
            if held is not None:
                if held["running"]:
                    return self.error(409, "RESOURCE_ALREADY_CHECKED_OUT",
                                      "Resource is already checked out to another container",
                                      {"uuid": uuid, "container_id": "unknown"})
                self.store.drop(uuid, held["container_id"], "reclaim")
            if not self.store.take(uuid, who):
                return self.error(500, "INTERNAL_ERROR",
                                  "Checkout failed: Failed to checkout resource in database")
        name = resource["name"] + FILE_SUFFIX.get(resource["type"], "")
        content_type = {"cert": "application/x-x509-ca-cert"}.get(
            resource["type"], "application/octet-stream")
        return Reply(200, bytes(resource["content"]), content_type, attachment=name)

    def checkout_worker(self, uuid: str, resource: Dict[str, Any],
                        who: Dict[str, Any]) -> Reply:
        """A scaled worker keytab: one instance per container (see worker_keytabs)."""
        if self.store.held_by(uuid, who["id"]) or not self.store.take(
                uuid, who, per_container=True):
            return self.error(409, "RESOURCE_ALREADY_CHECKED_OUT",
                              "Resource is already checked out to another container",
                              {"uuid": uuid, "container_id": "unknown"})
        try:
            content = self.worker_keytabs.provision(resource["name"], who)
        except Exception as exc:
            logger.warning("orch-sim: worker keytab for %s failed: %s", who["name"], exc)
            self.store.drop(uuid, who["id"], "release-forced")
            return self.error(500, "INTERNAL_ERROR", "Checkout failed: Failed to create resource")
        return Reply(200, content, "application/octet-stream",
                     attachment=resource["name"] + FILE_SUFFIX["worker"])

    def release(self, ip: str, uuid: str) -> Reply:
        if not UUID_RE.match(uuid):
            return self.bad_uuid(uuid)
        with self.store.lock:
            who = self.caller(ip)
            if who is None:
                known = self.store.container(ip)
                self.store.note("release-refused", uuid, known["name"] if known else ip, ip)
                return self.not_identified()
            if not self.store.drop(uuid, who["id"], "release"):
                self.store.note("release-refused", uuid, who["name"], ip)
                return self.error(400, "VALIDATION_ERROR",
                                  "Resource not checked out to this container",
                                  {"field": "resource", "value": uuid})
        return json_reply(200, {"message": "Resource released successfully", "uuid": uuid,
                                "released_at": None})

    def status_object(self, uuid: str) -> Optional[Dict[str, Any]]:
        resource = self.store.resource(uuid)
        if resource is None:
            return None
        held = self.store.holder(uuid)
        status: Dict[str, Any] = {
            "uuid": uuid,
            "resource_type": resource["type"],
            "actual_resource_name": resource["name"],
            "description": resource["description"],
            "checked_out": held is not None,
            "container_id": held["container_id"] if held else None,
            "container_ip": held["container_ip"] if held else None,
            "checked_out_at": held["checked_out_at"] if held else None,
            "scale_index": None,
        }
        if held is not None:
            status["container_info"] = self.container_info(held["container_id"])
            status["container_running"] = bool(held["running"])
        return status

    def resource_status(self, ip: str, uuid: str) -> Reply:
        if not UUID_RE.match(uuid):
            return self.bad_uuid(uuid)
        status = self.status_object(uuid)
        if status is None:
            return self.not_found(uuid)
        return json_reply(200, {"status": status, "requested_at": None})

    def plain_status(self, ip: str, uuid: str) -> Reply:
        status = self.status_object(uuid)
        if status is None:
            return json_reply(404, {"error": "Resource not found"})
        return json_reply(200, status)

    def validate(self, ip: str, uuid: str) -> Reply:
        if not UUID_RE.match(uuid):
            return self.bad_uuid(uuid)
        can, why = self.access(ip, uuid)
        return json_reply(200, {"can_access": can, "error": None if can else why,
                                "validated_at": None})

    def access(self, ip: str, uuid: str) -> Tuple[bool, Optional[str]]:
        with self.store.lock:
            if self.store.resource(uuid) is None:
                return False, "Resource not found"
            held = self.store.holder(uuid)
            if held is None:
                return True, None
            who = self.caller(ip)
            if who is None:
                return False, "Unable to identify requesting container"
            if held["container_id"] == who["id"]:
                return True, None
            if held["running"]:
                return False, "Resource checked out to another container"
            return True, None

    # -- service and CA ----------------------------------------------------------

    def mapping_list(self) -> List[Dict[str, Any]]:
        return [{"uuid": row["uuid"], "resource_type": row["type"],
                 "actual_resource_name": row["name"], "description": row["description"]}
                for row in self.store.query(
                    "SELECT uuid, type, name, description FROM resources "
                    "ORDER BY created, rowid")]

    def health(self, ip: str) -> Reply:
        cleaned = self.sweep()
        return json_reply(200, {
            "status": "healthy", "service": "orch-service", "version": "2.0.0",
            "database": "connected", "container_client": "connected",
            "mappings_loaded": len(self.mapping_list()), "containers_cleaned": cleaned})

    def mappings(self, ip: str) -> Reply:
        return json_reply(200, {"mappings": self.mapping_list()})

    def ca_certificate(self, ip: str) -> Reply:
        return Reply(200, self.ca_pem, "application/x-x509-ca-cert", attachment="ca.crt")

    def ca_info(self, ip: str) -> Reply:
        return json_reply(200, {"ca_info": {
            "exists": True, "cert_path": CA_DIR + "/ca.crt", "key_path": CA_DIR + "/ca.key",
            "cert_info": "Certificate:\n    (orch simulator CA, %d bytes of PEM)\n"
                         % len(self.ca_pem)}, "requested_at": None})

    def ca_status(self, ip: str) -> Reply:
        return json_reply(200, {"ca_exists": True, "ca_directory": CA_DIR,
                                "certificates_directory": CERTS_DIR, "status": "available",
                                "checked_at": None})


def is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False
