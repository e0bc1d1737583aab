"""The ``[kojid]`` options stock kojid accepts, and its rules for them.

Stock kojid quits at start-up on a section other than ``[kojid]``, on a
key it does not know, and on an integer or boolean that does not parse;
``server`` and ``topurl`` must be set.  :func:`check` applies the same
rules, so that a kojid.conf written by this project never makes kojid
quit, and the kojid runner used in tests reads kojid.conf the same way.
The table follows kojid of koji 1.34 to 1.36.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping

__all__ = ("DEFAULTS", "INTEGERS", "BOOLEANS", "KojidConfigError", "check", "parse")

#: every plain option and its default (``None``: unset)
DEFAULTS: Dict[str, Any] = {
    "sleeptime": 15, "maxjobs": 10, "minspace": 8192,
    "buildroot_basic_cleanup_delay": 120, "buildroot_final_cleanup_delay": 86400,
    "literal_task_arches": "", "admin_emails": None, "log_level": None,
    "topdir": "/mnt/koji", "topurl": None, "workdir": "/var/tmp/koji",
    "chroot_tmpdir": "/chroot_tmpdir", "pluginpath": "/usr/lib/koji-builder-plugins",
    "mockdir": "/var/lib/mock", "mockuser": "kojibuilder", "packager": "Koji",
    "vendor": "Koji", "distribution": "Koji", "mockhost": "koji-linux-gnu",
    "smtphost": "example.com", "smtp_user": None, "smtp_pass": None,
    "from_addr": "Koji Build System <buildsys@example.com>",
    "krb_principal": None, "host_principal_format": "compile/%s@EXAMPLE.COM",
    "keytab": "/etc/kojid/kojid.keytab", "ccache": "/var/tmp/kojid.ccache",
    "server": None, "user": None, "password": None,
    "retry_interval": 60, "max_retries": 120, "offline_retry": True,
    "offline_retry_interval": 120, "log_timestamps": False, "timeout": None,
    "no_ssl_verify": False, "use_fast_upload": True, "use_createrepo_c": True,
    "createrepo_skip_stat": True, "createrepo_update": True,
    "distrepo_skip_stat": False, "copy_old_repodata": False,
    "mock_bootstrap_image": False, "pkgurl": None, "allowed_scms": "",
    "allowed_scms_use_config": True, "allowed_scms_use_policy": False,
    "scm_credentials_dir": None, "support_rpm_source_layout": True,
    "yum_proxy": None, "maven_repo_ignore": "*.md5 *.sha1 maven-metadata*.xml",
    "failed_buildroot_lifetime": 4 * 3600, "rpmbuild_timeout": 24 * 3600,
    "oz_install_timeout": 0, "xz_options": "-z6T0", "task_avail_delay": 300,
    "cert": None, "serverca": None, "allow_noverifyssl": False,
    "allow_password_in_scm_url": False,
}

INTEGERS = frozenset((
    "sleeptime", "maxjobs", "minspace", "retry_interval", "max_retries",
    "offline_retry_interval", "failed_buildroot_lifetime", "timeout",
    "rpmbuild_timeout", "oz_install_timeout", "task_avail_delay",
    "buildroot_basic_cleanup_delay", "buildroot_final_cleanup_delay",
))

BOOLEANS = frozenset((
    "offline_retry", "use_createrepo_c", "createrepo_skip_stat", "createrepo_update",
    "use_fast_upload", "support_rpm_source_layout", "build_arch_can_fail",
    "no_ssl_verify", "log_timestamps", "allow_noverifyssl", "allowed_scms_use_config",
    "allowed_scms_use_policy", "allow_password_in_scm_url", "distrepo_skip_stat",
    "copy_old_repodata",
))

_TRUE = ("1", "yes", "true", "on")
_FALSE = ("0", "no", "false", "off")


class KojidConfigError(ValueError):
    """A value stock kojid would refuse; the text is what kojid would say."""


def _boolean(name: str, text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise KojidConfigError("value for %s option must be a boolean, not %r" % (name, text))


def parse(values: Mapping[str, str]) -> Dict[str, Any]:
    """Turn the raw ``[kojid]`` items into kojid's option values.

    :raises KojidConfigError: on any key or value kojid would quit over
    """
    options = dict(DEFAULTS)
    for name, text in values.items():
        if name in INTEGERS:
            try:
                options[name] = int(text)
            except ValueError:
                raise KojidConfigError(
                    "value for %s option must be a valid integer" % name) from None
        elif name in BOOLEANS:
            options[name] = _boolean(name, text)
        elif name in ("plugin", "plugins"):
            options["plugin"] = text.split()
        elif name in DEFAULTS:
            options[name] = text
        elif name.upper().startswith("RLIMIT_"):
            options[name.upper()] = text
        else:
            raise KojidConfigError("unknown config option: %s" % name)
    return options


def check(sections: Mapping[str, Mapping[str, str]]) -> Dict[str, Any]:
    """Check a whole kojid.conf (section -> items) as kojid would.

    :return: the parsed options
    :raises KojidConfigError: naming what kojid would quit over
    """
    for name in sections:
        if name != "kojid":
            raise KojidConfigError("invalid section found in config file: %s" % name)
    options = parse(sections.get("kojid", {}))
    for required in ("server", "topurl"):
        if not options.get(required):
            raise KojidConfigError("the %s option is required" % required)
    return options
