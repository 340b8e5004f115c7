"""The Python baseline of `make bench`: the custom resource teams write today.

crhelper + boto3, run by awslambdaric (the official Python runtime interface client), doing what
the Rust create floor does: CreateArchiveRule, ApplyArchiveRule, one response PUT. No validation,
no count, no waiting. boto3 finds the emulator through AWS_ENDPOINT_URL_ACCESSANALYZER.
"""

import http.client

import boto3
import crhelper.utils
from crhelper import CfnResource


def _plain_http_connection(host, context=None):
    # crhelper always speaks HTTPS to the ResponseURL (S3 on Lambda). The bench's receiver is plain
    # HTTP on loopback for every contestant, the Rust ones included, so TLS is left out for all.
    del context
    return http.client.HTTPConnection(host)


crhelper.utils.HTTPSConnection = _plain_http_connection

# Built at init, as both Rust binaries do, and as the crhelper docs recommend.
helper = CfnResource(json_logging=False, log_level="INFO", boto_level="CRITICAL", sleep_on_delete=0)
access_analyzer = boto3.client("accessanalyzer")


@helper.create
def create(event, _context):
    properties = event["ResourceProperties"]
    analyzer_name = properties["AnalyzerName"]
    rule_name = properties["RuleName"]
    # CloudFormation's PascalCase operators (Eq) to the API's camelCase (eq).
    filter_ = {
        key: {op[:1].lower() + op[1:]: value for op, value in criterion.items()}
        for key, criterion in properties["Filter"].items()
    }
    access_analyzer.create_archive_rule(
        analyzerName=analyzer_name,
        ruleName=rule_name,
        filter=filter_,
        clientToken=event["RequestId"] + "-create",
    )
    region, account = event["StackId"].split(":")[3:5]
    analyzer_arn = f"arn:aws:access-analyzer:{region}:{account}:analyzer/{analyzer_name}"
    access_analyzer.apply_archive_rule(
        analyzerArn=analyzer_arn,
        ruleName=rule_name,
        clientToken=event["RequestId"] + "-apply",
    )
    return f"{analyzer_arn}/archive-rule/{rule_name}"


def handler(event, context):
    helper(event, context)
