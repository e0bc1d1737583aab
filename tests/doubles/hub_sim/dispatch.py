"""Request dispatch: sessions, transactions, multicall, faults, call log.

One request runs as the hub's ``application()`` does: the session is
validated (its update time committed), then the call runs in a second
transaction that is committed only if the call wrote something and
rolled back when it raised.  ``multiCall`` (and ``system.multicall``)
runs each inner call under a savepoint and answers ``[result]`` or a
fault dict per call.  Exceptions become XML-RPC faults: koji errors keep
their faultCode and message, anything else is faultCode 1 with
``"<class>: message"``.  Every call, inner multicall calls included, is
appended to the ``call_log`` table.
"""

from __future__ import annotations

import logging
import sys
import traceback

import koji
import koji.xmlrpcplus
from koji.xmlrpcplus import Fault

from . import db, registry, uploads
from .context import CallContext, HubOptions
from .sessions import Session, read_credentials

logger = logging.getLogger('hub_sim.dispatch')
MULTICALL_NAMES = ('multiCall', 'system.multicall')


class BadRequest(Exception):
    """The request could not be read: answered with HTTP 400."""


def fault_of(exc: BaseException) -> Fault:
    """The fault the hub sends for an exception raised by a call."""
    if isinstance(exc, Fault):
        return exc
    code = getattr(type(exc), 'faultCode', 1)
    if isinstance(exc, koji.GenericError):
        return Fault(code, str(exc))
    return Fault(code, '%s: %s' % (type(exc), exc))


class LogEntry:
    """One row of the call log, filled in while the call runs."""

    def __init__(self, method, args, kwargs, multicall=False):
        self.method = method
        self.args = list(args)
        self.kwargs = dict(kwargs)
        self.multicall = multicall
        self.session_id = None
        self.user_name = None
        self.fault = None

    def set_session(self, session) -> None:
        self.session_id = session.id
        if session.logged_in:
            self.user_name = session.user_data.get('name')


class Dispatcher:
    """Runs requests against one database file."""

    def __init__(self, db_path: str, opts: HubOptions):
        self.db_path = db_path
        self.opts = opts

    # entry points

    def handle_rpc(self, headers, query: str, body: bytes,
                   remote_ip: str, remote_user: str | None = None) -> str:
        """Answer an XML-RPC POST body with an XML-RPC response.

        ``remote_user`` is the principal the server verified (ssllogin).
        """
        if not body:
            raise BadRequest('Empty request')
        try:
            params, method = koji.xmlrpcplus.loads(body)
        except Exception as e:
            raise BadRequest('Invalid request: %s' % e)

        entries = []
        conn = db.connect(self.db_path)
        try:
            try:
                result = self._run(conn, headers, query, remote_ip, method,
                                   params, entries, remote_user)
                response = koji.xmlrpcplus.dumps((result,), methodresponse=1)
            except Exception as exc:
                fault = fault_of(exc)
                self._log_exception(method, exc)
                if entries and entries[0].fault is None:
                    entries[0].fault = fault
                response = koji.xmlrpcplus.dumps(fault)
            self._write_log(conn, entries)
        finally:
            conn.close()
        return response

    def handle_upload(self, headers, query: str, body: bytes,
                      remote_ip: str) -> str:
        """Answer a rawUpload POST (octet-stream body)."""
        entry = LogEntry('rawUpload', [], uploads.upload_args(query))
        entry.kwargs['size'] = len(body)
        conn = db.connect(self.db_path)
        try:
            try:
                def run(ctx):
                    return uploads.handle_upload(ctx, query, body)
                result = self._in_session(conn, headers, query, remote_ip,
                                          None, entry, run)
                response = koji.xmlrpcplus.dumps((result,), methodresponse=1)
            except Exception as exc:
                entry.fault = fault_of(exc)
                self._log_exception('rawUpload', exc)
                response = koji.xmlrpcplus.dumps(entry.fault)
            self._write_log(conn, [entry])
        finally:
            conn.close()
        return response

    # request steps

    def _run(self, conn, headers, query, remote_ip, method, params, entries,
             remote_user=None):
        if method in MULTICALL_NAMES:
            # the outer call is logged without its parameters: each inner
            # call gets its own entry, flagged as part of a multicall
            entry = LogEntry(method, [], {})
            entries.append(entry)

            def run_all(ctx):
                return self._multicall(ctx, params, entries)
            return self._in_session(conn, headers, query, remote_ip, method,
                                    entry, run_all)

        args, kwargs = koji.decode_args(*params)
        entry = LogEntry(method, args, kwargs)
        entries.append(entry)
        func = registry.get_handler(method)

        def run(ctx):
            return registry.call(func, ctx, args, kwargs)
        return self._in_session(conn, headers, query, remote_ip, method,
                                entry, run, remote_user)

    def _in_session(self, conn, headers, query, remote_ip, method, entry,
                    run, remote_user=None):
        """Validate the session, then run the call in its transaction."""
        creds = read_credentials(headers, query)
        with db.Transaction(conn):
            session = Session.load(conn, creds, method, remote_ip)
        if entry is not None:
            entry.set_session(session)
        session.check_lock(method)

        ctx = CallContext(conn, self.opts, session, method, remote_ip,
                          remote_user)
        conn.execute('BEGIN IMMEDIATE')
        try:
            session.store_callnum()
            mark = conn.total_changes
            result = run(ctx)
        except BaseException:
            conn.execute('ROLLBACK')
            raise
        if conn.total_changes > mark:
            conn.execute('COMMIT')
        else:
            conn.execute('ROLLBACK')
        return result

    def _multicall(self, ctx, params, entries):
        if len(params) != 1 or not isinstance(params[0], list):
            raise koji.ParameterError('multiCall takes one list of calls')
        results = []
        for call in params[0]:
            results.append(self._one_of_many(ctx, call, entries))
        return results

    def _one_of_many(self, ctx, call, entries):
        method = call.get('methodName')
        args, kwargs = koji.decode_args(*call.get('params', ()))
        entry = LogEntry(method, args, kwargs, multicall=True)
        entry.set_session(ctx.session)
        entries.append(entry)

        ctx.conn.execute('SAVEPOINT multicall_loop')
        try:
            if method in MULTICALL_NAMES:
                result = self._multicall(ctx, call.get('params', ()),
                                         entries)
            else:
                func = registry.get_handler(method)
                result = registry.call(func, ctx, args, kwargs)
        except Fault as fault:
            ctx.conn.execute('ROLLBACK TO multicall_loop')
            entry.fault = fault
            return {'faultCode': fault.faultCode,
                    'faultString': fault.faultString}
        except Exception as exc:
            ctx.conn.execute('ROLLBACK TO multicall_loop')
            entry.fault = fault_of(exc)
            self._log_exception(method, exc)
            return {'faultCode': getattr(type(exc), 'faultCode', 1),
                    'faultString': ', '.join(str(a) for a in exc.args),
                    'traceback': traceback.format_exception(*sys.exc_info())}
        finally:
            ctx.conn.execute('RELEASE multicall_loop')
        return [result]

    # bookkeeping

    @staticmethod
    def _log_exception(method, exc) -> None:
        if isinstance(exc, (koji.GenericError, Fault)):
            logger.debug('call %s raised %r', method, exc)
        else:
            logger.warning('call %s raised', method, exc_info=exc)

    @staticmethod
    def _write_log(conn, entries) -> None:
        if not entries:
            return
        with db.Transaction(conn):
            for e in entries:
                params = koji.xmlrpcplus.dumps((e.args, e.kwargs))
                code = e.fault.faultCode if e.fault else None
                text = e.fault.faultString if e.fault else None
                conn.execute(
                    'INSERT INTO call_log (ts, session_id, user_name, method,'
                    ' params, multicall, fault_code, fault_string)'
                    ' VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
                    (db.now(), e.session_id, e.user_name, e.method, params,
                     1 if e.multicall else 0, code, text))

