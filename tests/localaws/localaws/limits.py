"""Limits AWS enforces on what a request carries, answered with the error AWS answers.

moto 5.2.5 lets these through (or, for Route 53, localaws's own change-batch handling
bypasses the check moto has). Each check is a pre-hook put in front of every other hook
of its operation (so before `route53_ext`'s change batches and `cloudwatch_cbor`'s
translation): a request within the limits passes through untouched, one over a limit is
answered in the service's own protocol and nothing of it is applied.

* Route 53 `ChangeResourceRecordSets`: a `Value` over 4,000 characters (`InvalidInput`,
  the XML schema's `cvc-maxLength-valid` for type `RData`); more than 1,000
  `ResourceRecord` elements or 32,000 characters of values in a request (UPSERT counted
  twice); a TXT/SPF character-string over 255 characters (`InvalidChangeBatch`,
  `CharacterStringTooLong`).
* SSM `PutParameter`: a Standard value over 4 KB, an Advanced (or Intelligent-Tiering)
  value over 8 KB (`ValidationException`).
* SNS `Publish`: a `Subject` of 100 characters or more, or with a line break or control
  character; a message whose body plus attributes exceed the topic's `MaximumMessageSize`
  (256 KiB unless set) (`InvalidParameter`).
* CloudWatch `PutMetricData`: more than 1,000 metrics, 30 dimensions, 150 values/counts,
  over-long names and values, non-ASCII dimensions, values outside ±2^360
  (`InvalidParameterValue`); a request over 1 MB (`413 RequestEntityTooLarge`).
* EventBridge `PutEvents`: entries whose total size (AWS's calculation) is over 256 KB
  (`ValidationException`); more than 10 entries is moto's own check.
* EventBridge Scheduler: schedule and group names over 64 characters or outside
  `[0-9a-zA-Z-_.]+` (`ValidationException`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from werkzeug.wrappers import Response

from localaws.awsreq import AwsCall
from localaws.errors import error_response

Hook = Callable[[AwsCall], "Response | None"]


def _first(app, service: str, operation: str, hook: Hook) -> None:
    """Registers `hook` ahead of every hook already registered for the operation."""
    app.pre[(service, operation)].insert(0, hook)


# -- Route 53 ------------------------------------------------------------------------------
R53_VALUE_MAX = 4000            # API_ResourceRecord: Value, maximum length 4000
R53_CHARACTER_STRING_MAX = 255  # ResourceRecordTypes: TXT, a single string up to 255 characters
R53_RECORDS_MAX = 1000          # DNSLimitations: ResourceRecord elements per request
R53_CHARACTERS_MAX = 32000      # DNSLimitations: characters in all Value elements per request
_STRING_TYPES = ("TXT", "SPF")


def character_strings(value: str) -> list[int]:
    """Octet lengths of the character-strings of TXT-style data: quoted strings, or
    unquoted words; a backslash escape (`\\"`, `\\\\`, `\\DDD`) is one octet."""
    lengths: list[int] = []
    i, n = 0, len(value)
    while i < n:
        if value[i].isspace():
            i += 1
            continue
        quoted = value[i] == '"'
        i += 1 if quoted else 0
        octets = 0
        while i < n:
            c = value[i]
            if quoted and c == '"':
                i += 1
                break
            if not quoted and c.isspace():
                break
            if c == "\\":
                i += 4 if value[i + 1:i + 4].isdigit() else 2
            else:
                i += 1
            octets += 1 if c == "\\" else len(c.encode("utf-8"))
        lengths.append(octets)
    return lengths


def _r53_values(change: dict[str, Any]) -> list[str]:
    rrset = change.get("ResourceRecordSet") or {}
    out = []
    for r in rrset.get("ResourceRecords") or []:
        out.append(r.get("Value", "") if isinstance(r, dict) else str(r))
    return out


def change_resource_record_sets(call: AwsCall) -> Response | None:
    changes = (call.params().get("ChangeBatch") or {}).get("Changes") or []
    for change in changes:
        for value in _r53_values(change):
            if len(value) > R53_VALUE_MAX:
                return error_response(
                    call, "InvalidInput",
                    f"Invalid XML ; cvc-maxLength-valid: Value '{value}' with length = "
                    f"'{len(value)}' is not facet-valid with respect to maxLength "
                    f"'{R53_VALUE_MAX}' for type 'RData'.", 400)
    records = characters = 0
    for change in changes:
        weight = 2 if change.get("Action") == "UPSERT" else 1
        values = _r53_values(change)
        records += weight * len(values)
        characters += weight * sum(len(v) for v in values)
    if records > R53_RECORDS_MAX:
        return _invalid_change_batch(call, [f"Number of records limit of {R53_RECORDS_MAX} exceeded."])
    if characters > R53_CHARACTERS_MAX:
        return _invalid_change_batch(call, [f"RDATA character limit of {R53_CHARACTERS_MAX} exceeded."])
    problems = []
    for change in changes:
        if (change.get("ResourceRecordSet") or {}).get("Type") not in _STRING_TYPES:
            continue
        for value in _r53_values(change):
            if any(n > R53_CHARACTER_STRING_MAX for n in character_strings(value)):
                problems.append("Invalid Resource Record: FATAL problem: CharacterStringTooLong "
                                f"(Value is too long) encountered with '{value}'")
    return _invalid_change_batch(call, problems) if problems else None


def _invalid_change_batch(call: AwsCall, messages: list[str]) -> Response:
    from localaws.route53_ext import invalid_change_batch

    return invalid_change_batch(call, messages)


# -- SSM -----------------------------------------------------------------------------------
SSM_STANDARD_MAX = 4096  # Standard parameters: value up to 4 KB
SSM_ADVANCED_MAX = 8192  # Advanced parameters: value up to 8 KB
_ADVANCED_TIER_DOC = ("https://docs.aws.amazon.com/systems-manager/latest/userguide/"
                      "parameter-store-advanced-parameters.html")


def _ssm_tier(call: AwsCall, name: str, requested: str | None) -> str:
    """The tier the value is stored in: the request's, else the parameter's current one,
    else the Region's default tier (Standard unless changed)."""
    if requested:
        return requested
    try:
        from moto.ssm.models import ssm_backends

        backend = ssm_backends[call.account][call.region]
        current = backend.get_parameter(name) if name else None
        if current is not None and current.tier:
            return current.tier
        return getattr(backend, "default_parameter_tier", None) or "Standard"
    except Exception:
        return "Standard"


def put_parameter(call: AwsCall) -> Response | None:
    p = call.params()
    value = p.get("Value")
    if not isinstance(value, str):
        return None
    size = len(value.encode("utf-8"))
    tier = _ssm_tier(call, p.get("Name") or "", p.get("Tier"))
    if tier == "Standard" and size > SSM_STANDARD_MAX:
        return error_response(
            call, "ValidationException",
            f"Standard tier parameters support a maximum parameter value of {SSM_STANDARD_MAX} "
            "characters. To create a larger parameter value, upgrade the parameter to use the "
            f"advanced-parameter tier. For more information, see {_ADVANCED_TIER_DOC}", 400)
    if tier != "Standard" and size > SSM_ADVANCED_MAX:
        return error_response(
            call, "ValidationException",
            f"Advanced tier parameters support a maximum parameter value of {SSM_ADVANCED_MAX} "
            f"characters. For more information, see {_ADVANCED_TIER_DOC}", 400)
    return None


# -- SNS -----------------------------------------------------------------------------------
SNS_SUBJECT_MAX = 100              # "less than 100 characters long"
SNS_DEFAULT_MESSAGE_MAX = 262144   # 256 KiB unless the topic's MaximumMessageSize says otherwise
_LINE_BREAK_OR_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _attribute_bytes(raw: Any) -> int:
    """Name, data type and value of every message attribute, in bytes."""
    if isinstance(raw, list):  # [{"Name": …, "Value": {…}}], as some parsers give a map
        raw = {a.get("Name"): a.get("Value") for a in raw if isinstance(a, dict)}
    total = 0
    for name, attr in (raw or {}).items():
        attr = attr or {}
        total += len(str(name).encode("utf-8"))
        total += len(str(attr.get("DataType") or "").encode("utf-8"))
        string = attr.get("StringValue")
        binary = attr.get("BinaryValue")
        if string is not None:
            total += len(str(string).encode("utf-8"))
        if binary is not None:
            total += len(binary) if isinstance(binary, (bytes, bytearray)) else len(str(binary))
    return total


def _topic_message_max(call: AwsCall, arn: str | None) -> int:
    if not arn:
        return SNS_DEFAULT_MESSAGE_MAX
    try:
        from moto.sns.models import sns_backends

        topic = sns_backends[call.account][call.region].get_topic(arn)
    except Exception:
        return SNS_DEFAULT_MESSAGE_MAX
    for attr in ("MaximumMessageSize", "maximum_message_size"):
        value = getattr(topic, attr, None)
        if value not in (None, ""):
            try:
                return int(value)
            except (TypeError, ValueError):
                pass
    return SNS_DEFAULT_MESSAGE_MAX


def publish(call: AwsCall) -> Response | None:
    p = call.params()
    subject = p.get("Subject")
    if subject is not None and (len(subject) >= SNS_SUBJECT_MAX
                                or _LINE_BREAK_OR_CONTROL.search(subject)):
        return error_response(call, "InvalidParameter", "Invalid parameter: Subject", 400)
    if p.get("PhoneNumber"):
        return None  # SMS has its own limits (moto checks 1,600)
    message = p.get("Message")
    if not isinstance(message, str):
        return None
    size = len(message.encode("utf-8")) + _attribute_bytes(p.get("MessageAttributes"))
    if size > _topic_message_max(call, p.get("TopicArn") or p.get("TargetArn")):
        return error_response(call, "InvalidParameter", "Invalid parameter: Message too long", 400)
    return None


# -- CloudWatch ----------------------------------------------------------------------------
CW_METRICS_MAX = 1000          # MetricData plus EntityMetricData per call
CW_DIMENSIONS_MAX = 30
CW_VALUES_MAX = 150
CW_NAME_MAX = 255              # Namespace, MetricName, Dimension Name
CW_DIMENSION_VALUE_MAX = 1024
CW_REQUEST_MAX = 1048576       # 1 MB per HTTP POST request
CW_VALUE_LIMIT = 2.0 ** 360


def _cw_length(path: str, value: Any, maximum: int) -> list[str]:
    if isinstance(value, str) and len(value) > maximum:
        return [f"The parameter {path} must be shorter than {maximum + 1} characters."]
    return []


def _cw_ascii(path: str, value: Any) -> list[str]:
    if isinstance(value, str) and not value.isascii():
        return [f"The value for parameter {path} contains non-ASCII characters."]
    return []


def _cw_number(path: str, value: Any) -> list[str]:
    if isinstance(value, (int, float)) and not math.isnan(value) and (
            math.isinf(value) or abs(value) > CW_VALUE_LIMIT):
        return [f"The value {value} for parameter {path} is invalid."]
    return []


def _cw_datum(prefix: str, datum: dict[str, Any]) -> list[str]:
    problems = _cw_length(f"{prefix}.MetricName", datum.get("MetricName"), CW_NAME_MAX)
    dims = datum.get("Dimensions") or []
    if len(dims) > CW_DIMENSIONS_MAX:
        problems.append(f"The collection {prefix}.Dimensions must not have a size greater "
                        f"than {CW_DIMENSIONS_MAX}.")
    for j, dim in enumerate(dims, 1):
        at = f"{prefix}.Dimensions.member.{j}"
        problems += _cw_ascii(f"{at}.Name", dim.get("Name"))
        problems += _cw_length(f"{at}.Name", dim.get("Name"), CW_NAME_MAX)
        problems += _cw_ascii(f"{at}.Value", dim.get("Value"))
        problems += _cw_length(f"{at}.Value", dim.get("Value"), CW_DIMENSION_VALUE_MAX)
    for field in ("Values", "Counts"):
        if len(datum.get(field) or []) > CW_VALUES_MAX:
            problems.append(f"The collection {prefix}.{field} must not have a size greater "
                            f"than {CW_VALUES_MAX}.")
    problems += _cw_number(f"{prefix}.Value", datum.get("Value"))
    for value in datum.get("Values") or []:
        problems += _cw_number(f"{prefix}.Values", value)
    return problems


def put_metric_data(call: AwsCall) -> Response | None:
    wire = call.environ.get("localaws.wire_length", len(call.body))
    if wire > CW_REQUEST_MAX:
        return error_response(call, "RequestEntityTooLarge",
                              f"Request size {wire} exceeded {CW_REQUEST_MAX} bytes", 413)
    p = call.params()
    data = p.get("MetricData") or []
    entity_data = [d for e in p.get("EntityMetricData") or [] for d in e.get("MetricData") or []]
    problems = _cw_length("Namespace", p.get("Namespace"), CW_NAME_MAX)
    if len(data) + len(entity_data) > CW_METRICS_MAX:
        problems.insert(0, f"The collection MetricData must not have a size greater than "
                           f"{CW_METRICS_MAX}.")
    for i, datum in enumerate(data, 1):
        problems += _cw_datum(f"MetricData.member.{i}", datum)
    if not problems:
        return None
    return error_response(call, "InvalidParameterValue", "\n".join(problems), 400)


# -- EventBridge ---------------------------------------------------------------------------
EVENTS_ENTRIES_MAX = 10
EVENTS_TOTAL_MAX = 262144  # 256 KB


def entry_size(entry: dict[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge calculates it: Time counts 14 bytes;
    Source, DetailType, Detail and each Resources element their UTF-8 bytes."""
    size = 14 if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        value = entry.get(field)
        if isinstance(value, str):
            size += len(value.encode("utf-8"))
    for resource in entry.get("Resources") or []:
        if isinstance(resource, str):
            size += len(resource.encode("utf-8"))
    return size


def put_events(call: AwsCall) -> Response | None:
    entries = call.params().get("Entries") or []
    if len(entries) > EVENTS_ENTRIES_MAX:
        return None  # moto answers the modelled constraint
    if sum(entry_size(e) for e in entries if isinstance(e, dict)) > EVENTS_TOTAL_MAX:
        return error_response(call, "ValidationException",
                              "Total size of the entries in the request is over the limit.", 400)
    return None


# -- EventBridge Scheduler -----------------------------------------------------------------
SCHEDULER_NAME_MAX = 64
SCHEDULER_NAME_PATTERN = "[0-9a-zA-Z-_.]+"
_SCHEDULER_NAME_RE = re.compile(r"[0-9a-zA-Z\-_.]+")
# operation -> (parameter, member name in the message) to check
SCHEDULER_NAMES = {
    "CreateSchedule": (("Name", "name"), ("GroupName", "groupName")),
    "UpdateSchedule": (("Name", "name"), ("GroupName", "groupName")),
    "GetSchedule": (("Name", "name"), ("GroupName", "groupName")),
    "DeleteSchedule": (("Name", "name"), ("GroupName", "groupName")),
    "CreateScheduleGroup": (("Name", "name"),),
    "GetScheduleGroup": (("Name", "name"),),
    "DeleteScheduleGroup": (("Name", "name"),),
}


def _name_problems(member: str, value: str) -> list[str]:
    problems = []
    if len(value) > SCHEDULER_NAME_MAX:
        problems.append(f"Value '{value}' at '{member}' failed to satisfy constraint: Member "
                        f"must have length less than or equal to {SCHEDULER_NAME_MAX}")
    if value and not _SCHEDULER_NAME_RE.fullmatch(value):
        problems.append(f"Value '{value}' at '{member}' failed to satisfy constraint: Member "
                        f"must satisfy regular expression pattern: {SCHEDULER_NAME_PATTERN}")
    return problems


def scheduler_names(call: AwsCall) -> Response | None:
    params = call.params()
    problems: list[str] = []
    for param, member in SCHEDULER_NAMES.get(call.operation or "", ()):
        value = params.get(param)
        if value is None:
            value = call.uri_params.get(param)
        if isinstance(value, str):
            problems += _name_problems(member, value)
    if not problems:
        return None
    count = len(problems)
    head = f"{count} validation error{'s' if count > 1 else ''} detected: "
    return error_response(call, "ValidationException", head + "; ".join(problems), 400)


def register(app) -> None:
    _first(app, "route53", "ChangeResourceRecordSets", change_resource_record_sets)
    _first(app, "ssm", "PutParameter", put_parameter)
    _first(app, "sns", "Publish", publish)
    _first(app, "cloudwatch", "PutMetricData", put_metric_data)
    _first(app, "events", "PutEvents", put_events)
    for operation in SCHEDULER_NAMES:
        _first(app, "scheduler", operation, scheduler_names)
