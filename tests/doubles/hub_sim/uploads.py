"""File uploads and task output under ``<topdir>/work``.

``handle_upload`` serves the raw POST (application/octet-stream) that
ClientSession.fastUpload sends as ``rawUpload``; ``uploadFile`` is the
old base64 path uploadWrapper falls back to; ``checkUpload`` answers the
size/checksum check.  Uploads below ``tasks/`` are only accepted from
the host holding that task open, as in kojihub.get_upload_path.  Only
the DEFAULT volume exists.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import stat as statmod
from urllib.parse import parse_qs

import koji
import koji.util

from .host_calls import Host
from .tasks import Task
from .values import convert_value


def _check_volume(volume) -> None:
    if volume is not None and volume != 'DEFAULT':
        raise koji.GenericError('No such entry in table volume: %s' % volume)


def get_verify_class(verify):
    """Checksum constructor for md5/adler32/sha256, None for no check."""
    if verify == 'md5':
        return hashlib.md5
    if verify == 'adler32':
        return koji.util.adler32_constructor
    if verify == 'sha256':
        return hashlib.sha256
    if verify:
        raise koji.GenericError('Unsupported verify type: %s' % verify)
    return None


def get_upload_path(ctx, reldir, name, create=False, volume=None) -> str:
    """Absolute path of an upload, checked the way the hub does."""
    orig_reldir, orig_name = reldir, name
    head, name = os.path.split(name)
    if head or name.startswith('.'):
        raise koji.GenericError('Invalid upload filename: %s' % orig_name)
    reldir = os.path.normpath(reldir)
    if not reldir or reldir.startswith('..'):
        raise koji.GenericError('Invalid upload directory: %s' % orig_reldir)
    _check_volume(volume)

    parts = reldir.split('/')
    check_user = True
    if create and parts[0] == 'tasks':
        if len(parts) < 3:
            raise koji.GenericError('Invalid task upload directory: %s'
                                    % orig_reldir)
        try:
            task_id = int(parts[2])
        except ValueError:
            raise koji.GenericError('Invalid task upload directory: %s'
                                    % orig_reldir)
        host = Host(ctx)
        host.verify()
        Task(ctx, task_id).assertHost(host.id)
        check_user = False

    udir = os.path.join(ctx.workdir(), reldir)
    if create:
        koji.ensuredir(udir)
        if check_user:
            _check_upload_owner(ctx, udir, orig_reldir)
    return os.path.join(udir, name)


def _check_upload_owner(ctx, udir, orig_reldir) -> None:
    u_fn = os.path.join(udir, '.user')
    if os.path.exists(u_fn):
        with open(u_fn, 'rt') as fo:
            user_id = int(fo.read())
        if ctx.session.user_id != user_id:
            raise koji.GenericError('Invalid upload directory, not owner: %s'
                                    % orig_reldir)
    else:
        with open(u_fn, 'wt') as fo:
            fo.write(str(ctx.session.user_id))


def upload_args(query: str) -> dict:
    """The rawUpload parameters of a query string (for the call log)."""
    args = parse_qs(query or '', strict_parsing=bool(query))
    keys = ('filename', 'filepath', 'fileverify', 'offset', 'overwrite',
            'volume')
    return {k: args[k][0] for k in keys if k in args}


def handle_upload(ctx, query: str, body: bytes) -> dict:
    """Write one rawUpload chunk; answer size, offset and checksum."""
    if not ctx.session.logged_in:
        raise koji.ActionNotAllowed('you must be logged-in to upload a file')
    args = parse_qs(query or '', strict_parsing=True)
    name = args['filename'][0]
    path = args.get('filepath', ('',))[0]
    verify = args.get('fileverify', ('',))[0]
    overwrite = args.get('overwrite', ('',))[0]
    offset = int(args.get('offset', ('0',))[0])
    volume = args.get('volume', ('DEFAULT',))[0]

    fn = get_upload_path(ctx, path, name, create=True, volume=volume)
    try:
        st = os.lstat(fn)
    except FileNotFoundError:
        st = None
    if st:
        if statmod.S_ISLNK(st.st_mode):
            raise koji.GenericError('destination is a symlink: %s' % fn)
        if not statmod.S_ISREG(st.st_mode):
            raise koji.GenericError('destination not a file: %s' % fn)
        if offset == 0 and not overwrite:
            raise koji.GenericError('upload path exists: %s' % fn)

    sum_cls = get_verify_class(verify)
    fd = os.open(fn, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except IOError as e:
            raise koji.LockError(e)
        if offset == -1:
            offset = os.lseek(fd, 0, 2)
        elif overwrite:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, 0)
        else:
            os.lseek(fd, offset, 0)
        os.write(fd, body)
        if not overwrite:
            flen = os.lseek(fd, 0, 2)
            expected = offset + len(body)
            if flen != expected:
                raise koji.GenericError(
                    'Incorrect upload length for %s - Expected %s, actual %s'
                    % (fn, expected, flen))
    finally:
        os.close(fd)

    ret = {'size': len(body), 'fileverify': verify, 'offset': offset}
    if sum_cls:
        ret['hexdigest'] = sum_cls(body).hexdigest()
    return ret


def _write_chunk(fd, contents, offset, size, verify, digest, sum_cls):
    if offset == 0 or (offset == -1 and size == len(contents)):
        os.ftruncate(fd, 0)
    if offset == -1:
        os.lseek(fd, 0, 2)
    else:
        os.lseek(fd, offset, 0)
    os.write(fd, contents)
    if offset != -1:
        return True
    if size is not None:
        os.ftruncate(fd, size)
    if verify is None:
        return True
    chksum = sum_cls()
    os.lseek(fd, 0, 0)
    while True:
        block = os.read(fd, 819200)
        if not block:
            break
        chksum.update(block)
    return digest == chksum.hexdigest()


def uploadFile(ctx, path, name, size, md5sum, offset, data, volume=None,
               checksum=None):
    """Old-style chunk upload with base64 data; False on a bad chunk."""
    ctx.session.assertLogin()
    contents = base64.b64decode(data)
    offset = koji.decode_int(offset)
    size = koji.decode_int(size)
    if checksum is None and md5sum is not None:
        checksum = md5sum
    if isinstance(checksum, str):
        verify, digest = 'md5', checksum
    elif checksum is None:
        verify, digest = None, None
    else:
        verify, digest = checksum
    sum_cls = get_verify_class(verify)
    if offset != -1:
        if size is not None and size != len(contents):
            return False
        if verify is not None and digest != sum_cls(contents).hexdigest():
            return False

    fn = get_upload_path(ctx, path, name, create=True, volume=volume)
    try:
        st = os.lstat(fn)
    except FileNotFoundError:
        pass
    else:
        if not statmod.S_ISREG(st.st_mode):
            raise koji.GenericError('destination not a file: %s' % fn)
        if offset == 0 and not fn.endswith('.log'):
            raise koji.GenericError('file already exists: %s' % fn)
    fd = os.open(fn, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        return _write_chunk(fd, contents, offset, size, verify, digest,
                            sum_cls)
    finally:
        os.close(fd)


def checkUpload(ctx, path, name, verify=None, tail=None, volume=None):
    """Size, mtime (and checksum) of an uploaded file, or None."""
    fn = get_upload_path(ctx, path, name, volume=volume)
    try:
        fd = os.open(fn, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not statmod.S_ISREG(st.st_mode):
            raise koji.GenericError('Not a regular file: %s' % fn)
        data = {'size': st.st_size, 'mtime': st.st_mtime}
        if verify:
            chksum = get_verify_class(verify)()
            if tail is not None:
                if tail < 0:
                    raise koji.GenericError('Invalid tail value: %r' % tail)
                os.lseek(fd, max(st.st_size - tail, 0), 0)
            length = 0
            chunk = os.read(fd, 8192)
            while chunk:
                length += len(chunk)
                chksum.update(chunk)
                chunk = os.read(fd, 8192)
            data['sumlength'] = length
            data['hexdigest'] = chksum.hexdigest()
        return data
    finally:
        os.close(fd)


def _task_dir(ctx, task_id) -> str:
    return os.path.join(ctx.workdir(), koji.pathinfo.taskrelpath(task_id))


def downloadTaskOutput(ctx, taskID, fileName, offset=0, size=-1,
                       volume=None):
    """Base64 content (or a slice) of a file a task uploaded."""
    size = convert_value(size, cast=int)
    _check_volume(volume or None)
    if '..' in fileName:
        raise koji.GenericError('Invalid file name: %s' % fileName)
    path = os.path.normpath(os.path.join(_task_dir(ctx, taskID), fileName))
    if not os.path.isfile(path):
        raise koji.GenericError('no file "%s" output by task %i'
                                % (fileName, taskID))
    with open(path, 'rb') as f:
        if isinstance(offset, str):
            offset = int(offset)
        if offset is not None and offset > 0:
            f.seek(offset, 0)
        elif offset is not None and offset < 0:
            f.seek(offset, 2)
        contents = f.read(size)
    return koji.util.base64encode(contents)


def listTaskOutput(ctx, taskID, stat=False, all_volumes=False, strict=False):
    """Files below the task's work directory (optionally with stats)."""
    if strict and Task(ctx, taskID).getInfo(strict=False) is None:
        raise koji.GenericError("Task doesn't exist")
    result = {} if (stat or all_volumes) else []
    task_dir = _task_dir(ctx, taskID)
    if not os.path.isdir(task_dir):
        return result
    for path, _dirs, files in os.walk(task_dir):
        for filename in sorted(files):
            relpath = path[len(task_dir) + 1:]
            relname = os.path.join(relpath, filename)
            if stat:
                st = os.stat(os.path.join(path, filename))
                entry = {'st_size': str(st.st_size), 'st_atime': st.st_atime,
                         'st_mtime': st.st_mtime, 'st_ctime': st.st_ctime}
                if all_volumes:
                    result.setdefault(relname, {})['DEFAULT'] = entry
                else:
                    result[relname] = entry
            elif all_volumes:
                result.setdefault(relname, []).append('DEFAULT')
            else:
                result.append(relname)
    return result


EXPORTS = {
    'uploadFile': uploadFile,
    'checkUpload': checkUpload,
    'downloadTaskOutput': downloadTaskOutput,
    'listTaskOutput': listTaskOutput,
}
