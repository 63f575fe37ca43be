"""Limits on what a request carries, answered with the error AWS answers (localaws/limits.py)."""

import json
import secrets
import time
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from conftest import SHARED


def _error(exc_info):
    resp = exc_info.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


# -- Route 53 ------------------------------------------------------------------------------
def _zone(r53, name="limits.example.com"):
    return r53.create_hosted_zone(Name=name, CallerReference=str(time.time()))["HostedZone"]["Id"]


def _change(action, name, values, rtype="TXT"):
    return {"Action": action, "ResourceRecordSet": {
        "Name": name, "Type": rtype, "TTL": 60, "ResourceRecords": [{"Value": v} for v in values]}}


def _names(r53, zone):
    return {r["Name"] for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]}


def _strings(count, length=250):
    """A TXT value of `count` quoted strings of `length` characters each."""
    return " ".join(f'"{chr(97 + i % 26) * length}"' for i in range(count))


def test_route53_value_over_4000_characters_is_invalid_input(aws):
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    value = _strings(16)  # 16 * 252 + 15 = 4047 characters, every string under 255
    with pytest.raises(ClientError) as exc:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            _change("CREATE", "ok.limits.example.com.", ['"fine"']),
            _change("CREATE", "big.limits.example.com.", [value])]})
    code, status, message = _error(exc)
    assert (code, status) == ("InvalidInput", 400)
    assert message == (f"Invalid XML ; cvc-maxLength-valid: Value '{value}' with length = "
                       f"'{len(value)}' is not facet-valid with respect to maxLength '4000' "
                       "for type 'RData'.")
    assert "ok.limits.example.com." not in _names(r53, zone)  # nothing of the batch applied
    exact = _strings(15) + ' "' + "z" * (4000 - len(_strings(15)) - 3) + '"'
    assert len(exact) == 4000
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        _change("CREATE", "big.limits.example.com.", [exact])]})
    assert "big.limits.example.com." in _names(r53, zone)


@pytest.mark.parametrize("rtype", ["TXT", "SPF"])
def test_route53_character_string_over_255_is_refused_and_nothing_applied(aws, rtype):
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    long_string = '"' + "a" * 256 + '"'
    with pytest.raises(ClientError) as exc:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            _change("CREATE", "ok.limits.example.com.", ['"fine"'], rtype),
            _change("CREATE", "long.limits.example.com.", ['"short" ' + long_string], rtype)]})
    code, status, message = _error(exc)
    assert (code, status) == ("InvalidChangeBatch", 400)
    assert message == ("[Invalid Resource Record: FATAL problem: CharacterStringTooLong (Value is "
                       f"too long) encountered with '\"short\" {long_string}']")
    assert not {"ok.limits.example.com.", "long.limits.example.com."} & _names(r53, zone)
    # 255 characters, and escapes counted as the one character they stand for, pass
    fits = ['"' + "a" * 255 + '"', '"' + "b" * 253 + '\\"\\101"', " ".join(['"' + "c" * 255 + '"'] * 3)]
    for i, value in enumerate(fits):
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            _change("CREATE", f"fits{i}.limits.example.com.", [value], rtype)]})
    # an unquoted word is one string too
    with pytest.raises(ClientError) as exc:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            _change("UPSERT", "word.limits.example.com.", ["x" * 256], rtype)]})
    assert _error(exc)[0] == "InvalidChangeBatch"


def test_route53_only_txt_and_spf_values_are_character_strings(aws):
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    name = "c" * 60 + "." + "d" * 60 + "." + "e" * 60 + "." + "f" * 60 + ".limits.example.com."
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        _change("CREATE", "alias.limits.example.com.", [name], "CNAME")]})
    assert "alias.limits.example.com." in _names(r53, zone)


def test_route53_request_maximums(aws):
    r53 = aws("route53", region="us-east-1")
    zone = _zone(r53)
    ips = [f"10.0.{i // 250}.{i % 250}" for i in range(1002)]
    # 1,000 ResourceRecord elements per request
    with pytest.raises(ClientError) as exc:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            _change("CREATE", f"r{k}.limits.example.com.", ips[k * 334:(k + 1) * 334], "A")
            for k in range(3)]})
    assert _error(exc) == ("InvalidChangeBatch", 400, "[Number of records limit of 1000 exceeded.]")
    # UPSERT counts twice: 2 * 334 + 334 > 1000
    with pytest.raises(ClientError) as exc:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            _change("UPSERT", "r0.limits.example.com.", ips[:334], "A"),
            _change("CREATE", "r1.limits.example.com.", ips[334:668], "A")]})
    assert _error(exc)[2] == "[Number of records limit of 1000 exceeded.]"
    # 32,000 characters of values per request
    with pytest.raises(ClientError) as exc:
        r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
            _change("CREATE", f"t{k}.limits.example.com.", [_strings(15)]) for k in range(9)]})
    assert _error(exc) == ("InvalidChangeBatch", 400, "[RDATA character limit of 32000 exceeded.]")
    assert not any(n.startswith(("r", "t")) for n in _names(r53, zone) if n != "limits.example.com.")
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        _change("CREATE", f"r{k}.limits.example.com.", ips[k * 250:(k + 1) * 250], "A")
        for k in range(4)]})


# -- SSM -----------------------------------------------------------------------------------
STANDARD_MESSAGE = ("Standard tier parameters support a maximum parameter value of 4096 characters. "
                    "To create a larger parameter value, upgrade the parameter to use the "
                    "advanced-parameter tier. For more information, see "
                    "https://docs.aws.amazon.com/systems-manager/latest/userguide/"
                    "parameter-store-advanced-parameters.html")


def test_ssm_standard_value_over_4kb_is_refused(aws):
    ssm = aws("ssm")
    ssm.put_parameter(Name="/limits/std", Value="x" * 4096, Type="String")
    with pytest.raises(ClientError) as exc:
        ssm.put_parameter(Name="/limits/std", Value="y" * 4097, Type="String", Overwrite=True)
    assert _error(exc) == ("ValidationException", 400, STANDARD_MESSAGE)
    assert ssm.get_parameter(Name="/limits/std")["Parameter"]["Value"] == "x" * 4096
    # bytes, not characters: 2,049 two-byte characters are 4,098 bytes
    with pytest.raises(ClientError) as exc:
        ssm.put_parameter(Name="/limits/utf8", Value="é" * 2049, Type="String", Tier="Standard")
    assert _error(exc)[0] == "ValidationException"


def test_ssm_advanced_value_over_8kb_is_refused(aws):
    ssm = aws("ssm")
    ssm.put_parameter(Name="/limits/adv", Value="x" * 8192, Type="String", Tier="Advanced")
    with pytest.raises(ClientError) as exc:
        ssm.put_parameter(Name="/limits/adv2", Value="x" * 8193, Type="String", Tier="Advanced")
    code, status, message = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("Advanced tier parameters support a maximum parameter value of 8192")
    # an existing Advanced parameter stays Advanced when the tier is not sent
    ssm.put_parameter(Name="/limits/adv", Value="z" * 6000, Type="String", Overwrite=True)
    # Intelligent-Tiering stores a value over 4 KB as an advanced parameter
    ssm.put_parameter(Name="/limits/it", Value="x" * 6000, Type="String", Tier="Intelligent-Tiering")
    with pytest.raises(ClientError):
        ssm.put_parameter(Name="/limits/it2", Value="x" * 9000, Type="String",
                          Tier="Intelligent-Tiering")


# -- SNS -----------------------------------------------------------------------------------
def test_sns_subject_limits(aws, adm):
    sns = aws("sns")
    topic = sns.create_topic(Name="limits")["TopicArn"]
    sns.publish(TopicArn=topic, Subject="s" * 99, Message="ok")
    for subject in ("s" * 100, "line\nbreak", "carriage\rreturn", "bell\x07", "tab\there"):
        with pytest.raises(ClientError) as exc:
            sns.publish(TopicArn=topic, Subject=subject, Message="m")
        assert _error(exc) == ("InvalidParameter", 400, "Invalid parameter: Subject"), subject
    sns.publish(TopicArn=topic, Subject="Überwachung: Région évacuée", Message="UTF-8 is fine")
    _, listed = adm("GET", "/sns/messages?topicArn=" + topic)
    assert [m["subject"] for m in listed["messages"]] == ["s" * 99, "Überwachung: Région évacuée"]


def test_sns_message_size_counts_bytes_and_attributes(aws):
    sns = aws("sns")
    topic = sns.create_topic(Name="limits-size")["TopicArn"]
    sns.publish(TopicArn=topic, Message="x" * 262144)
    for kwargs in ({"Message": "x" * 262145},
                   {"Message": "é" * 131073},  # 262,146 bytes
                   {"Message": "x" * 262100, "MessageAttributes": {
                       "origin": {"DataType": "String", "StringValue": "y" * 40}}}):
        with pytest.raises(ClientError) as exc:
            sns.publish(TopicArn=topic, **kwargs)
        assert _error(exc) == ("InvalidParameter", 400, "Invalid parameter: Message too long")
    # the topic's MaximumMessageSize is the limit when it is set
    sns.set_topic_attributes(TopicArn=topic, AttributeName="MaximumMessageSize", AttributeValue="1024")
    sns.publish(TopicArn=topic, Message="x" * 1024)
    with pytest.raises(ClientError):
        sns.publish(TopicArn=topic, Message="x" * 1025)


# -- CloudWatch ----------------------------------------------------------------------------
def _datum(name="Latency", dims=1, values=None, dim_value="v", **extra):
    d = {"MetricName": name, "Dimensions": [{"Name": f"D{i}", "Value": dim_value} for i in range(dims)]}
    d.update({"Values": values} if values is not None else {"Value": 1.0})
    d.update(extra)
    return d


def test_cloudwatch_metric_data_collections(aws):
    cw = aws("cloudwatch")
    # within every limit (this body is over 10 KiB: the SDK gzips it, the world inflates it)
    cw.put_metric_data(Namespace="Limits", MetricData=[_datum(f"M{i}") for i in range(1000)])
    cw.put_metric_data(Namespace="Limits", MetricData=[
        _datum("Wide", dims=30, values=[float(v) for v in range(150)], Counts=[1.0] * 150)])
    assert len(cw.list_metrics(Namespace="Limits", MetricName="M999")["Metrics"]) == 1
    cases = [
        ([_datum(f"M{i}") for i in range(1001)],
         "The collection MetricData must not have a size greater than 1000."),
        ([_datum(), _datum(dims=31)],
         "The collection MetricData.member.2.Dimensions must not have a size greater than 30."),
        ([_datum(values=[1.0] * 151)],
         "The collection MetricData.member.1.Values must not have a size greater than 150."),
        ([_datum(values=[1.0], Counts=[1.0] * 151)],
         "The collection MetricData.member.1.Counts must not have a size greater than 150."),
    ]
    for data, message in cases:
        with pytest.raises(ClientError) as exc:
            cw.put_metric_data(Namespace="Limits", MetricData=data)
        code, status, text = _error(exc)
        assert (code, status) == ("InvalidParameterValue", 400)
        assert text == message


def test_cloudwatch_names_and_values(aws):
    cw = aws("cloudwatch")
    cw.put_metric_data(Namespace="N" * 255, MetricData=[
        _datum("M" * 255, dim_value="v" * 1024, Value=2.0 ** 359)])
    cases = [
        ("Limits", [_datum("M" * 256)],
         "The parameter MetricData.member.1.MetricName must be shorter than 256 characters."),
        ("N" * 256, [_datum()], "The parameter Namespace must be shorter than 256 characters."),
        ("Limits", [_datum(dim_value="v" * 1025)],
         "The parameter MetricData.member.1.Dimensions.member.1.Value must be shorter than 1025 characters."),
        ("Limits", [_datum(dim_value="eu-zentral-ä")],
         "The value for parameter MetricData.member.1.Dimensions.member.1.Value contains non-ASCII characters."),
        ("Limits", [_datum(Value=1e109)],
         "The value 1e+109 for parameter MetricData.member.1.Value is invalid."),
    ]
    for namespace, data, message in cases:
        with pytest.raises(ClientError) as exc:
            cw.put_metric_data(Namespace=namespace, MetricData=data)
        assert _error(exc) == ("InvalidParameterValue", 400, message)
    # several problems: every one is named, one per line
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="Limits", MetricData=[_datum("M" * 256, dims=31)])
    assert _error(exc)[2].split("\n") == [
        "The parameter MetricData.member.1.MetricName must be shorter than 256 characters.",
        "The collection MetricData.member.1.Dimensions must not have a size greater than 30."]


def test_cloudwatch_request_over_1_mb_is_too_large(aws):
    cw = aws("cloudwatch", disable_request_compression=True)
    data = [_datum(f"M{i}", dims=2, dim_value=secrets.token_hex(500)) for i in range(600)]
    with pytest.raises(ClientError) as exc:
        cw.put_metric_data(Namespace="Limits", MetricData=data)
    code, status, message = _error(exc)
    assert (code, status) == ("RequestEntityTooLarge", 413)
    assert message.startswith("Request size ") and message.endswith(" exceeded 1048576 bytes")
    # gzip'd, the same data is under the limit: the size that counts is the one sent
    aws("cloudwatch").put_metric_data(Namespace="Limits", MetricData=[
        _datum(f"M{i}", dims=2, dim_value="v" * 1000) for i in range(600)])


# -- EventBridge ---------------------------------------------------------------------------
def _entry(detail_bytes, source="limits", detail_type="Test", **extra):
    detail = json.dumps({"pad": "p" * (detail_bytes - len('{"pad": ""}'))})
    assert len(detail) == detail_bytes
    return {"Source": source, "DetailType": detail_type, "Detail": detail, **extra}


def test_eventbridge_total_entry_size(aws, adm):
    events = aws("events")
    overhead = len("limits") + len("Test")
    events.put_events(Entries=[_entry(262144 - overhead)])
    too_big = [
        [_entry(262144 - overhead + 1)],
        [_entry(262144 - overhead, Time=datetime.now(timezone.utc))],  # Time counts 14 bytes
        [_entry(262144 - overhead - 10, Resources=["arn:aws:s3:::bucket"])],
        [_entry(140000), _entry(140000)],  # the total of the request's entries
    ]
    for entries in too_big:
        with pytest.raises(ClientError) as exc:
            events.put_events(Entries=entries)
        assert _error(exc) == ("ValidationException", 400,
                               "Total size of the entries in the request is over the limit.")
    _, put = adm("GET", "/events/put-events?source=limits")
    assert len(put["events"]) == 1  # only the entry within the limit was put


def test_eventbridge_more_than_10_entries(aws):
    events = aws("events")
    with pytest.raises(ClientError) as exc:
        events.put_events(Entries=[_entry(20) for _ in range(11)])
    code, status, message = _error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "Member must have length less than or equal to 10" in message


# -- EventBridge Scheduler -----------------------------------------------------------------
def _schedule(scheduler, name, group=None):
    kwargs = {"GroupName": group} if group else {}
    return scheduler.create_schedule(
        Name=name, ScheduleExpression="at(2099-01-01T00:00:00)", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": f"arn:aws:lambda:eu-central-1:{SHARED}:function:fn",
                "RoleArn": f"arn:aws:iam::{SHARED}:role/scheduler"}, **kwargs)


def test_scheduler_names(aws):
    scheduler = aws("scheduler")
    _schedule(scheduler, "n" * 64)
    _schedule(scheduler, "end-drill_2026.03.01")
    cases = [
        ("n" * 65, None, "1 validation error detected: Value '" + "n" * 65 + "' at 'name' failed to "
         "satisfy constraint: Member must have length less than or equal to 64"),
        ("end drill", None, "1 validation error detected: Value 'end drill' at 'name' failed to "
         "satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+"),
        ("ok", "g" * 65, "1 validation error detected: Value '" + "g" * 65 + "' at 'groupName' "
         "failed to satisfy constraint: Member must have length less than or equal to 64"),
        ("bad:name", "bad/group", "2 validation errors detected: Value 'bad:name' at 'name' failed "
         "to satisfy constraint: Member must satisfy regular expression pattern: [0-9a-zA-Z-_.]+; "
         "Value 'bad/group' at 'groupName' failed to satisfy constraint: Member must satisfy "
         "regular expression pattern: [0-9a-zA-Z-_.]+"),
    ]
    for name, group, message in cases:
        with pytest.raises(ClientError) as exc:
            _schedule(scheduler, name, group)
        assert _error(exc) == ("ValidationException", 400, message)
    with pytest.raises(ClientError) as exc:
        scheduler.delete_schedule(Name="n" * 64, GroupName="g" * 65)
    assert _error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule_group(Name="g" * 65)
    assert _error(exc)[0] == "ValidationException"
    names = [s["Name"] for s in scheduler.list_schedules()["Schedules"]]
    assert sorted(names) == sorted(["n" * 64, "end-drill_2026.03.01"])
