"""The example app of ../app.ts, in Python: every construct of the library in one stack.

`make cdk-python-synth` installs the package jsii-pacmak builds into a fresh venv, synthesizes this
app and checks that its template is the TypeScript app's.

    cdk deploy -c bootstrapZip=../../../target/lambda/bootstrap/bootstrap.zip
    cdk deploy -c codeBucketPrefix=acme-aar-code -c codeKey=applied-archive-rule/bootstrap-<hash>.zip
"""

import os

from aws_cdk import App, CfnOutput, Duration, Stack
from aws_cdk import aws_accessanalyzer as accessanalyzer

from applied_archive_rule_cdk import (
    AnalyzerRef,
    AppliedArchiveRule,
    ApplyArchiveRules,
    ArchiveRuleProvider,
    AutoApply,
    Criterion,
    ProviderCode,
)

app = App()
stack = Stack(
    app,
    "AppliedArchiveRuleExample",
    description="Access Analyzer archive rules that also archive the findings that already exist",
)


def provider_code() -> ProviderCode:
    """A copy already in <prefix>-<region> buckets, or the zip `make package` builds."""
    prefix = app.node.try_get_context("codeBucketPrefix")
    key = app.node.try_get_context("codeKey")
    if prefix is not None and key is not None:
        return ProviderCode.from_regional_bucket(prefix, key)
    here = os.path.dirname(os.path.abspath(__file__))
    default_zip = os.path.join(here, "..", "..", "..", "target", "lambda", "bootstrap", "bootstrap.zip")
    zip_path = app.node.try_get_context("bootstrapZip") or default_zip
    if not os.path.exists(zip_path):
        raise SystemExit(
            f"no provider code at {zip_path}: run `make package`, or pass -c bootstrapZip=PATH, "
            "or -c codeBucketPrefix=PREFIX -c codeKey=KEY"
        )
    return ProviderCode.from_asset(zip_path)


provider = ArchiveRuleProvider.of(stack, code=provider_code())

analyzer = accessanalyzer.CfnAnalyzer(
    stack,
    "AccountAnalyzer",
    analyzer_name="account-analyzer",
    type="ACCOUNT",
    # A rule declared natively, inline: it archives new findings only, until ApplyArchiveRules runs.
    archive_rules=[
        accessanalyzer.CfnAnalyzer.ArchiveRuleProperty(
            rule_name="internal-kms-keys",
            filter=[
                accessanalyzer.CfnAnalyzer.FilterProperty(property="resourceType", eq=["AWS::KMS::Key"]),
                accessanalyzer.CfnAnalyzer.FilterProperty(property="isPublic", eq=["false"]),
            ],
        )
    ],
)

# Create the rule and archive the matching findings that already exist, in one stack operation.
vendor_roles = AppliedArchiveRule(
    stack,
    "IgnoreVendorRoles",
    analyzer=AnalyzerRef.from_cfn_analyzer(analyzer),
    rule_name="vendor-audit-roles",
    filter={
        "resourceType": Criterion.eq(["AWS::IAM::Role"]),
        "principal.AWS": Criterion.eq(["arn:aws:iam::444455556666:root"]),
    },
    archive_timeout=Duration.minutes(2),
    max_findings_to_archive=50,
    revision="1",
)

AppliedArchiveRule(
    stack,
    "IgnorePrivateReportBuckets",
    analyzer=AnalyzerRef.from_cfn_analyzer(analyzer),
    rule_name="private-report-buckets",
    filter={
        "resourceType": Criterion.eq(["AWS::S3::Bucket"]),
        "resource": Criterion.contains(["reports"]),
        "isPublic": Criterion.of(eq=["false"], exists=True),
    },
    adopt_existing=True,
    apply_to_existing_findings=True,
)

# A rule declared with the L1 type, applied (with the inline one) by ApplyArchiveRules.
native_rule = accessanalyzer.CfnArchiveRule(
    stack,
    "PartnerQueues",
    analyzer_name="account-analyzer",
    rule_name="partner-queues",
    filter={
        "resourceType": accessanalyzer.CfnArchiveRule.FilterItemsProperty(eq=["AWS::SQS::Queue"]),
        "principal.AWS": accessanalyzer.CfnArchiveRule.FilterItemsProperty(neq=["*"]),
    },
)
native_rule.node.add_dependency(analyzer)
applied = ApplyArchiveRules(
    stack,
    "ApplyNativeRules",
    analyzer=AnalyzerRef.from_cfn_analyzer(analyzer),
    rules=[native_rule],
    rule_names=["internal-kms-keys"],
    archive_timeout=Duration.seconds(90),
    max_findings_to_archive=200,
)

# Rules made by any other tool are applied as they are created or changed, by the pipeline roles.
AutoApply(
    stack,
    "AutoApply",
    provider=provider,
    principals=["arn:aws:iam::*:role/security-pipeline-*"],
    max_findings=200,
    keep_failed_events=True,
)

CfnOutput(stack, "VendorRolesArchived", value=vendor_roles.archived_findings)
CfnOutput(stack, "VendorRolesVerified", value=vendor_roles.verified)
CfnOutput(stack, "NativeRulesArchived", value=applied.archived_findings)
CfnOutput(stack, "ServiceToken", value=provider.service_token)

app.synth()
