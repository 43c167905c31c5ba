"""Checks every answer the official SDKs receive against their response models.

`install()` wraps the Tea OpenAPI client's `call_api`: each successful answer
body is walked against `<Action>ResponseBody` of the product's SDK models
(alibabacloud_vpc20160428, alibabacloud_ecs20140526,
alibabacloud_nlb20220430, alibabacloud_privatelink20200415, alibabacloud_pvtz20180101). Every field answered
must exist in the model, with the model's type (str, int, bool, float, a list
of them, or a nested model); a mismatch raises `ConformanceError` naming the
field path, so the harness run (and the Rust test driving it) fails.
"""
import importlib
import inspect
import re

PACKAGES = {
    "2016-04-28": "alibabacloud_vpc20160428",
    "2014-05-26": "alibabacloud_ecs20140526",
    "2022-04-30": "alibabacloud_nlb20220430",
    "2020-04-15": "alibabacloud_privatelink20200415",
    "2018-01-01": "alibabacloud_pvtz20180101",
}

_BLOCK = re.compile(r"if m\.get\('([^']+)'\) is not None:(.*?)(?=if m\.get\(|return self)", re.S)
_ATTR = re.compile(r"self\.(\w+)")
_fields_cache = {}


class ConformanceError(AssertionError):
    pass


def fields(cls):
    """{JSON key: annotation string} of a Tea model class."""
    if cls in _fields_cache:
        return _fields_cache[cls]
    src = inspect.getsource(cls.from_map)
    params = inspect.signature(cls.__init__).parameters
    out = {}
    for key, block in _BLOCK.findall(src):
        attrs = _ATTR.findall(block)
        if not attrs:
            continue
        ann = params[attrs[0]].annotation if attrs[0] in params else "Any"
        out[key] = ann if isinstance(ann, str) else getattr(ann, "__name__", "Any")
    _fields_cache[cls] = out
    return out


def check_value(models, ann, value, path, errors):
    ann = ann.strip()
    if value is None or ann in ("Any", "object"):
        return
    if ann.startswith("List[") and ann.endswith("]"):
        if not isinstance(value, list):
            errors.append(f"{path}: {type(value).__name__} where the SDK has a list ({ann})")
            return
        for i, v in enumerate(value):
            check_value(models, ann[5:-1], v, f"{path}[{i}]", errors)
        return
    if ann.startswith("Dict[") or ann == "dict":
        if not isinstance(value, dict):
            errors.append(f"{path}: {type(value).__name__} where the SDK has a map")
        return
    if ann.startswith("main_models."):
        cls = getattr(models, ann.split(".", 1)[1])
        check_object(models, cls, value, path, errors)
        return
    expected = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float)}.get(ann)
    if expected is None:
        return
    if isinstance(value, bool) and ann != "bool" or not isinstance(value, expected):
        errors.append(f"{path}: {type(value).__name__} {value!r} where the SDK model has {ann}")


def check_object(models, cls, obj, path, errors):
    if not isinstance(obj, dict):
        errors.append(f"{path}: {type(obj).__name__} where the SDK has an object ({cls.__name__})")
        return
    known = fields(cls)
    for key, value in obj.items():
        if key not in known:
            errors.append(f"{path}.{key}: not in the SDK model {cls.__name__}")
            continue
        check_value(models, known[key], value, f"{path}.{key}", errors)


def check(action, version, body):
    package = PACKAGES.get(version)
    if package is None or not isinstance(body, dict):
        return
    models = importlib.import_module(package + ".models")
    cls = getattr(models, action + "ResponseBody", None)
    if cls is None:
        raise ConformanceError(f"{action} ({version}): the SDK has no response model")
    errors = []
    check_object(models, cls, body, action, errors)
    if errors:
        raise ConformanceError(f"{action} ({version}) answer does not match the SDK model:\n  " + "\n  ".join(errors))


def install():
    from alibabacloud_tea_openapi.client import Client

    if getattr(Client.call_api, "_conformance", False):
        return
    original = Client.call_api

    def call_api(self, params, request, runtime):
        result = original(self, params, request, runtime)
        check(params.action, params.version, result.get("body") if isinstance(result, dict) else None)
        return result

    call_api._conformance = True
    Client.call_api = call_api
