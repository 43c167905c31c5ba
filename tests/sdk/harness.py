"""Plumbing shared by the SDK harnesses (vpc_lab.py, old_sdk.py): exit
codes, the environment they read, and no proxy (the daemon is local).
Import it before any SDK: the SDKs read the proxy variables themselves."""
import os
import sys

for _v in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_v, None)

EXIT_SDK_ERROR = 1
EXIT_MISMATCH = 3

LAB_VPC_CIDR = "10.0.0.0/16"
LAB_IMAGE_ID = "ubuntu_22_04_x64_20G_alibase_20240101.vhd"
LAB_INSTANCE_TYPE = "ecs.g7.large"
PAGE_SIZE = 50

PROG = os.path.splitext(os.path.basename(sys.argv[0]))[0]


class Mismatch(Exception):
    """A response parsed fine but did not contain what we expected."""


def env(name, default=None):
    val = os.environ.get(name, default)
    if val is None or val == "":
        print(f"{PROG}: environment variable {name} is required", file=sys.stderr)
        sys.exit(2)
    return val


def region():
    return os.environ.get("VPC_REGION_ID") or "cn-hangzhou"


def log(msg):
    print(f"{PROG}: {msg}", file=sys.stderr)


def expect(cond, msg):
    if not cond:
        raise Mismatch(msg)
